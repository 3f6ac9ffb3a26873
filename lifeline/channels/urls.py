from django.urls import path

from . import views

app_name = "channels"

urlpatterns = [
    path("telegram/webhook/<str:secret>/", views.telegram_webhook, name="telegram_webhook"),
]
