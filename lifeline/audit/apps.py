from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "lifeline.audit"
    label = "audit"
