"""Rebuild missing statistics events from the records they describe, then count them into the
rollups. For each kind, day and channel, the events the cases, contacts, calls and
exchanges imply are compared with the events counted (and waiting to be); only the difference
is added, so running it twice adds nothing. Use it after a restore, an upgrade that adds a kind,
or a bug that lost events. Nothing personal is read: times, channels, languages and statuses only.

    manage.py stats_backfill [--dry-run]
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from lifeline.cases.models import (
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Exchange,
    Operation,
)
from lifeline.contacts.models import Identity
from lifeline.conversations.models import Direction, Message
from lifeline.core.channels import Channel
from lifeline.phone.models import Call, CallStatus
from lifeline.stats import rollups
from lifeline.stats.models import StatEvent, StatRollup

Key = tuple[str, datetime, str, str]  # kind, hour, channel, language
DayKey = tuple[str, date, str]  # kind, day, channel
Source = tuple[str, datetime | None, str, str, int | None]  # ... and the event's value


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return max(int((later - earlier).total_seconds()), 0)


def implied() -> Iterator[Source]:
    """(kind, time, channel, language, value) of every event the records imply."""
    for status, previous, at, channel, language in (
        CaseEvent.objects.filter(kind__in=[CaseEventKind.CREATED, CaseEventKind.STATUS])
        .values_list("to_status", "from_status", "created_at", "case__channel", "case__language")
        .iterator()
    ):
        if not status:
            continue
        failed = previous == CaseStatus.OPERATION and status == CaseStatus.READY
        yield ("operation.failed" if failed else f"case.{status}", at, channel, language, None)
    for at, channel, language in Operation.objects.values_list(
        "requested_at", "case__channel", "case__language"
    ).iterator():
        yield "operation.requested", at, channel, language, None
    had: set[tuple[object, str]] = set()
    for event in (
        CaseEvent.objects.filter(kind=CaseEventKind.DISPOSITION)
        .select_related("case")
        .only("id", "case_id", "data", "created_at", "case__channel", "case__language")
        .order_by("created_at")
        .iterator(chunk_size=500)
    ):
        kind = str((event.data or {}).get("disposition") or "")  # (a kind, nothing personal)
        if kind and (event.case_id, kind) not in had:  # once per person and kind, as recorded
            had.add((event.case_id, kind))
            yield (
                f"disposition.{kind}",
                event.created_at,
                event.case.channel,
                event.case.language,
                None,
            )
    for at in Exchange.objects.values_list("created_at", flat=True).iterator():
        yield "exchange.recorded", at, "", "", None
    phones: dict[str, datetime] = {}  # a number's first contact: a call or its identity
    for at, channel, language, index in Identity.objects.values_list(
        "created_at", "channel", "contact__language", "address_index"
    ).iterator():
        if channel == Channel.PHONE:
            phones[index] = min(at, phones.get(index, at))
        else:
            yield "contact.new", at, channel, language, None
    for at, channel, language in (
        Message.objects.filter(direction=Direction.IN)
        .values_list("created_at", "conversation__channel", "conversation__language")
        .iterator()
    ):
        yield "message.in", at, channel, language, None
    for status, ringing, answered, ended, index in (
        Call.objects.filter(direction="in")
        .values_list("status", "ringing_at", "answered_at", "ended_at", "caller_index")
        .iterator()
    ):
        if status == CallStatus.REJECTED:
            yield "call.blocked", ringing, "phone", "", None
            continue
        if index:
            phones[index] = min(ringing, phones.get(index, ringing))
        yield "call.received", ringing, "phone", "", None
        if answered is not None:
            yield "call.answered", answered, "phone", "", _seconds(answered, ringing)
        if status == CallStatus.MISSED:
            yield "call.missed", ended or ringing, "phone", "", None
        elif status == CallStatus.ENDED and ended is not None:
            yield "call.ended", ended, "phone", "", _seconds(ended, answered)
    for at in phones.values():
        yield "contact.new", at, "phone", "", None


def missing(sources: Iterable[Source]) -> dict[Key, list[int | None]]:
    """For each key, the values of the events to add (as many as are missing). Compared per
    kind, day and channel with what is counted (the rollups, and the events not yet counted),
    so raw events deleted after counting are not counted twice; the language is left out of
    the comparison, since a person may change his language after the event was recorded. The
    added events take the hours and languages of the latest records of their day."""
    wanted: dict[DayKey, list[tuple[datetime, str, int | None]]] = defaultdict(list)
    for kind, at, channel, language, value in sources:
        if at is not None:
            hour = _hour(at)
            wanted[(kind, hour.date(), channel or "")].append((hour, language or "", value))
    kinds = {key[0] for key in wanted}
    have: Counter[DayKey] = Counter()
    for day, kind, channel, count in StatRollup.objects.filter(kind__in=kinds).values_list(
        "day", "kind", "channel", "count"
    ):
        have[(kind, day, channel)] += count
    for kind, hour, channel in StatEvent.objects.filter(kind__in=kinds, rolled=False).values_list(
        "kind", "hour", "channel"
    ):
        have[(kind, _hour(hour).date(), channel)] += 1
    out: dict[Key, list[int | None]] = defaultdict(list)
    for key, found in wanted.items():
        kind, _day, channel = key
        for hour, language, value in sorted(found, key=lambda f: f[0])[have[key] :]:
            out[(kind, hour, channel, language)].append(value)
    return out


class Command(BaseCommand):
    help = "Add the statistics events that the records imply and that are missing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        gaps = missing(implied())
        by_kind: Counter[str] = Counter()
        for key, values in gaps.items():
            by_kind[key[0]] += len(values)
        for kind in sorted(by_kind):
            self.stdout.write(f"{kind}: {by_kind[kind]} missing")
        if options["dry_run"]:
            self.stdout.write(f"{sum(by_kind.values())} events would be added (dry run)")
            return
        with transaction.atomic():
            StatEvent.objects.bulk_create(
                (
                    StatEvent(kind=kind, hour=hour, channel=channel, language=language, value=v)
                    for (kind, hour, channel, language), values in gaps.items()
                    for v in values
                ),
                batch_size=2000,
            )
        counted = rollups.rollup_all()
        self.stdout.write(
            f"{sum(by_kind.values())} events added; {counted} events counted into the rollups"
        )
