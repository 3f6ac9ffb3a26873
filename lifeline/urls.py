"""Two trust boundaries, two URL spaces: the anonymous public side and the staff console."""

from django.urls import include, path
from django.views.i18n import set_language

from lifeline.phone import views as phone_views

urlpatterns = [
    path("console/", include("lifeline.console.urls")),
    path("", include("lifeline.channels.urls")),
    path("cti/events/", phone_views.events, name="cti_events"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("lifeline.public.urls")),
]
