from django.apps import AppConfig


class PhoneConfig(AppConfig):
    name = "lifeline.phone"
    label = "phone"
