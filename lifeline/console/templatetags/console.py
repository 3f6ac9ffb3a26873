"""Small display helpers for the console."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def waited(value: timedelta | None) -> str:
    """How long someone has waited, short: "4 min", "2 h 05 min"."""
    if value is None:
        return "—"
    minutes = max(0, int(value.total_seconds() // 60))
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}
