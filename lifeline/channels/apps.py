from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "lifeline.channels"
    label = "channels"

    def ready(self) -> None:
        from lifeline.conversations import delivery

        from . import inbox

        # Telegram sends replies itself; the web chat shows the stored messages.
        delivery.register("telegram", inbox.enqueue_replies)
