from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "lifeline.contacts"
    label = "contacts"
