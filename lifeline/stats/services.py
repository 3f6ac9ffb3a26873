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


#: Public pages whose visits are counted (anything else is not a page of ours).
COUNTED_PAGES = frozenset(
    {"home", "chat", "how", "guarantees", "front", "relatives", "safety", "faq"}
    | {"testimonies", "contacts", "figures"}
)


def visit_record(*, page: str, language: str, country: str = "") -> None:
    """One more visit to ``page`` today. ``country`` only from a trusted proxy header (two
    letters, else dropped). One UPDATE; the first visit of the day inserts the row."""
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from .models import PageVisit

    if page not in COUNTED_PAGES:
        return
    country = (
        country.upper() if len(country) == 2 and country.isascii() and country.isalpha() else ""
    )
    language = language[:2] if language in ("ru", "uk", "en") else ""
    day = timezone.now().astimezone(UTC).date()
    key = {"day": day, "page": page, "language": language, "country": country}
    if PageVisit.objects.filter(**key).update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            PageVisit.objects.create(**key, count=1)
    except IntegrityError:  # another request inserted it first
        PageVisit.objects.filter(**key).update(count=F("count") + 1)
