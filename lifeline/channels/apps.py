from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "lifeline.channels"
    label = "channels"

    def ready(self) -> None:
        from lifeline.conversations import delivery

        from . import inbox

        # Telegram sends replies itself; the web chat shows the stored messages.
        delivery.register("telegram", inbox.enqueue_replies)
        # An erased person's queued replies, failed messages and waiting events go too.
        delivery.register_eraser(inbox.erase_contact)
