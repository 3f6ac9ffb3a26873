from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "lifeline.channels"
    label = "channels"

    def ready(self) -> None:
        # Each adapter registers its inbox handler on import.
        from . import telegram, webchat  # noqa: F401
