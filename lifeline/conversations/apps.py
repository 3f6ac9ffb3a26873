from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "lifeline.conversations"
    label = "conversations"
