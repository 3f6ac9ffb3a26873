from django.urls import path

from . import views

app_name = "public"

urlpatterns = [
    path("", views.home, name="home"),
    path("chat/", views.chat, name="chat"),
    path("chat/transcript/", views.chat_transcript, name="chat_transcript"),
    path("chat/end/", views.chat_end, name="chat_end"),
    path("exit/", views.quick_exit, name="exit"),
    path("figures/", views.public_figures, name="figures"),
    path("p/<slug:slug>/", views.info_page, name="page"),
]
