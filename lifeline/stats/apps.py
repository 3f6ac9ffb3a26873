from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "lifeline.stats"
    label = "stats"
