"""Operator figures, for supervisors: conversations handled, first response time, calls
answered and the time to answer them, per operator and for the team. Read from the message and
call rows of the period (times and the sender only; no text is decrypted)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Subquery

from lifeline.conversations.models import Direction, Message
from lifeline.core.models import User

from .models import Call, CallStatus


@dataclass
class OperatorFigures:
    name: str  # the operator's username; "" for the team's row
    conversations: int = 0
    first_responses: list[float] = field(default_factory=list)  # seconds
    calls_answered: int = 0
    answer_waits: list[float] = field(default_factory=list)  # seconds

    @property
    def first_response_median(self) -> float | None:
        return statistics.median(self.first_responses) if self.first_responses else None

    @property
    def answer_wait_mean(self) -> float | None:
        return statistics.fmean(self.answer_waits) if self.answer_waits else None


@dataclass(frozen=True)
class TeamFigures:
    operators: list[OperatorFigures]
    team: OperatorFigures
    calls_missed: int


def operator_figures(since: datetime, until: datetime) -> TeamFigures:
    """``since`` ≤ time < ``until``. A first response is an operator's first message in a
    conversation, timed from the first of the person's messages that nothing answered before
    it (or, when the bot answered them all, from the person's last message)."""
    rows: dict[int, OperatorFigures] = {}

    def row(user_id: int) -> OperatorFigures:
        return rows.setdefault(user_id, OperatorFigures(""))

    by_operator = Message.objects.filter(
        direction=Direction.OUT, sender__isnull=False, created_at__gte=since, created_at__lt=until
    )
    for sender_id, n in (
        by_operator.values_list("sender_id").annotate(n=Count("conversation", distinct=True))
    ).order_by():
        row(sender_id).conversations = n
    earlier_answer = Message.objects.filter(
        conversation=OuterRef("conversation"),
        direction=Direction.OUT,
        sender__isnull=False,
        created_at__lt=OuterRef("created_at"),
    )
    before = Message.objects.filter(
        conversation=OuterRef("conversation"), created_at__lt=OuterRef("created_at")
    )
    last_out = before.filter(direction=Direction.OUT).order_by("-created_at").values("created_at")
    inbound = before.filter(direction=Direction.IN)
    unanswered = (
        inbound.filter(created_at__gt=OuterRef("last_out"))
        .order_by("created_at")
        .values("created_at")
    )
    for sender_id, answered_at, replied_at, first_in, waiting_in, last_in in (
        by_operator.filter(~Exists(earlier_answer))
        .annotate(last_out=Subquery(last_out[:1]))
        .annotate(
            first_in=Subquery(inbound.order_by("created_at").values("created_at")[:1]),
            waiting_in=Subquery(unanswered[:1]),
            last_in=Subquery(inbound.order_by("-created_at").values("created_at")[:1]),
        )
        .values_list("sender_id", "created_at", "last_out", "first_in", "waiting_in", "last_in")
        .order_by()
    ):
        # Timed from the first of the person's messages nobody (not even the bot) answered;
        # when the bot answered the last one ("an operator will write to you"), from that one.
        asked_at = first_in if replied_at is None else (waiting_in or last_in)
        if asked_at is not None:
            row(sender_id).first_responses.append((answered_at - asked_at).total_seconds())
    for user_id, ringing_at, picked_up in Call.objects.filter(
        direction="in", answered_by__isnull=False, answered_at__gte=since, answered_at__lt=until
    ).values_list("answered_by_id", "ringing_at", "answered_at"):
        figures = row(user_id)
        figures.calls_answered += 1
        if picked_up is not None:
            figures.answer_waits.append(max((picked_up - ringing_at).total_seconds(), 0.0))
    names = dict(User.objects.filter(pk__in=rows).values_list("pk", "username"))
    for user_id, figures in rows.items():
        figures.name = names.get(user_id, "?")
    operators = sorted(rows.values(), key=lambda f: f.name)
    team = OperatorFigures(
        "",
        conversations=by_operator.values("conversation").distinct().count(),
        first_responses=[s for f in operators for s in f.first_responses],
        calls_answered=sum(f.calls_answered for f in operators),
        answer_waits=[s for f in operators for s in f.answer_waits],
    )
    missed = Call.objects.filter(
        direction="in", status=CallStatus.MISSED, ringing_at__gte=since, ringing_at__lt=until
    ).count()
    return TeamFigures(operators, team, missed)
