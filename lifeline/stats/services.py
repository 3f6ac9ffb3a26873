"""Recording statistics events."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from .models import StatEvent


def stat_record(
    *,
    kind: str,
    channel: str = "",
    language: str = "",
    at: datetime | None = None,
    value: int | None = None,
) -> StatEvent:
    """Record one event. Only categorical values are accepted; the time is cut to the hour."""
    hour = (at or timezone.now()).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return StatEvent.objects.create(
        kind=kind, channel=channel, language=language, hour=hour, value=value
    )
