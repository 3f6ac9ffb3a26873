from django.urls import path

from . import views

app_name = "channels"

urlpatterns = [
    # A fixed path: the secret travels only in the X-Telegram-Bot-Api-Secret-Token header, so
    # it never reaches an access log, a ``django.request`` warning or a proxy's URL log.
    path("telegram/webhook/", views.telegram_webhook, name="telegram_webhook"),
]
