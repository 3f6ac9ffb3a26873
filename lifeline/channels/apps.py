from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "lifeline.channels"
    label = "channels"
