"""Vocabulary shared by several apps."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """How a person reached the hotline."""

    TELEGRAM = "telegram", _("Telegram")  # the chatbot
    WEB = "web", _("Web chat")  # the public website's chat
    PHONE = "phone", _("Phone")  # a call through the PBX
    CONSOLE = "console", _("Console")  # typed in by staff (e.g. from a letter)


class Language(models.TextChoices):
    """The three languages every page and message exists in."""

    RU = "ru", "Русский"
    UK = "uk", "Українська"
    EN = "en", "English"
