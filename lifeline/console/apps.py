from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "lifeline.console"
    label = "console"
