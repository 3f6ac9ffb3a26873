"""The case workflow: every allowed transition, every forbidden one, roles, two-person rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from lifeline.cases import workflow
from lifeline.cases.errors import (
    ActorNotAllowed,
    MissingRequirement,
    ReidentificationFailed,
    TransitionNotAllowed,
    TwoPersonRuleViolation,
)
from lifeline.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Disposition,
    Operation,
    OperationStatus,
)
from lifeline.core.models import Role, User
from lifeline.stats.models import StatEvent
from tests.factories import CHECKLIST, Staff, advance, create_case, request_operation

pytestmark = pytest.mark.django_db

ALL_STATUSES = [s.value for s in CaseStatus]


@pytest.fixture
def staff() -> Staff:
    return Staff()


def case_in(status: str, staff: Staff) -> tuple[Case, Operation | None]:
    case = create_case()
    operation = advance(case, status, staff)
    case.refresh_from_db()
    assert case.status == status
    return case, operation


def _operation_for(case: Case, staff: Staff, operation: Operation | None) -> Operation:
    """An approved operation to record an outcome on, even for a case in the wrong status."""
    if operation is not None and operation.status == OperationStatus.APPROVED:
        return operation
    return Operation.objects.create(
        case=case,
        requested_by=staff.supervisor,
        approved_by=staff.supervisor2,
        status=OperationStatus.APPROVED,
        meeting_point="p",
        signal="s",
        meeting_time=timezone.now(),
    )


def run_transition(
    name: str, case: Case, staff: Staff, operation: Operation | None, actor: User | None = None
) -> None:
    """Take transition ``name`` with valid arguments and an allowed actor (unless given)."""
    if name == "verify":
        workflow.case_verify(case=case, actor=actor or staff.verifier, checklist=CHECKLIST)
    elif name == "reject":
        workflow.case_reject(case=case, actor=actor or staff.verifier, reason="fake")
    elif name == "mark_ready":
        workflow.case_mark_ready(
            case=case, actor=actor or staff.operator, service_number=case.service_number
        )
    elif name == "start_operation":
        if case.status == CaseStatus.READY:
            op = request_operation(case, staff.supervisor)
        else:
            op = Operation.objects.create(
                case=case,
                requested_by=staff.supervisor,
                meeting_point="p",
                signal="s",
                meeting_time=timezone.now(),
            )
        workflow.operation_approve(operation=op, actor=actor or staff.supervisor2)
    elif name in ("record_surrender", "record_failure"):
        workflow.operation_record_outcome(
            operation=_operation_for(case, staff, operation),
            actor=actor or staff.liaison,
            surrendered=name == "record_surrender",
            note="outcome",
        )
    elif name == "withdraw":
        workflow.case_withdraw(case=case, actor=actor or staff.operator, reason="changed mind")
    elif name == "lose_contact":
        workflow.case_mark_lost_contact(case=case, actor=actor or staff.operator, reason="silent")
    else:  # pragma: no cover - the table and this helper must stay in step
        raise AssertionError(name)


ALLOWED = [
    (status, name)
    for name, t in workflow.TRANSITIONS.items()
    for status in ALL_STATUSES
    if status in t.sources
]
FORBIDDEN = [
    (status, name)
    for name, t in workflow.TRANSITIONS.items()
    for status in ALL_STATUSES
    if status not in t.sources
]


def test_the_table_matches_the_architecture() -> None:
    edges = {(s, t.target) for t in workflow.TRANSITIONS.values() for s in t.sources}
    open_ = {"applied", "verified", "ready", "operation"}
    expected = {
        ("applied", "verified"),
        ("applied", "rejected"),
        ("verified", "ready"),
        ("ready", "operation"),
        ("operation", "surrendered"),
        ("operation", "ready"),
        *((s, "withdrawn") for s in open_),
        *((s, "lost_contact") for s in open_),
    }
    assert edges == expected


@pytest.mark.parametrize(("status", "name"), ALLOWED)
def test_every_allowed_transition(staff: Staff, status: str, name: str) -> None:
    case, operation = case_in(status, staff)
    events_before = CaseEvent.objects.filter(case=case).count()
    target = workflow.TRANSITIONS[name].target
    # A failed operation is counted as such, not as another stage-2 contact.
    stat = "operation.failed" if name == "record_failure" else f"case.{target}"
    stats_before = StatEvent.objects.filter(kind=stat).count()
    run_transition(name, case, staff, operation)
    case.refresh_from_db()
    assert case.status == target
    last = CaseEvent.objects.filter(case=case, kind="status").order_by("created_at").last()
    assert last is not None
    assert (last.from_status, last.to_status) == (status, target)
    assert CaseEvent.objects.filter(case=case).count() > events_before
    assert StatEvent.objects.filter(kind=stat).count() == stats_before + 1


@pytest.mark.parametrize(("status", "name"), FORBIDDEN)
def test_every_forbidden_transition(staff: Staff, status: str, name: str) -> None:
    case, operation = case_in(status, staff)
    events_before = CaseEvent.objects.filter(case=case).count()
    with pytest.raises(TransitionNotAllowed) as info:
        run_transition(name, case, staff, operation)
    assert case.number in str(info.value) or "operation" in str(info.value).lower()
    case.refresh_from_db()
    assert case.status == status
    assert CaseEvent.objects.filter(case=case).count() == events_before


ROLE_CASES = [
    (name, role)
    for name, t in workflow.TRANSITIONS.items()
    for role in Role.values
    if role not in t.roles
]


@pytest.mark.parametrize(("name", "role"), ROLE_CASES)
def test_roles_that_may_not_take_a_step(staff: Staff, name: str, role: str) -> None:
    source = sorted(workflow.TRANSITIONS[name].sources)[0]
    case, operation = case_in(source, staff)
    actor: User = {
        Role.OPERATOR: staff.operator,
        Role.VERIFIER: staff.verifier,
        Role.SUPERVISOR: staff.supervisor2,
        Role.LIAISON: staff.liaison,
        Role.PRESS: staff.press,
        Role.ADMIN: staff.admin,
    }[Role(role)]
    with pytest.raises(ActorNotAllowed, match="Your role may not"):
        run_transition(name, case, staff, operation, actor=actor)
    case.refresh_from_db()
    assert case.status == source


def test_disabled_accounts_can_do_nothing(staff: Staff) -> None:
    case = create_case()
    staff.verifier.is_active = False
    with pytest.raises(ActorNotAllowed):
        workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)


def test_applied_to_operation_is_refused_with_a_clear_error(staff: Staff) -> None:
    case = create_case()
    with pytest.raises(TransitionNotAllowed) as info:
        request_operation(case, staff.supervisor)
    message = str(info.value)
    assert case.number in message
    assert "Applied" in message
    assert "Ready" in message
    # The generic path names what the case can do next.
    op = Operation.objects.create(
        case=case,
        requested_by=staff.supervisor,
        meeting_point="p",
        signal="s",
        meeting_time=timezone.now(),
    )
    with pytest.raises(
        TransitionNotAllowed,
        match=r"is Applied and cannot go to In operation\. From Applied it can go "
        r"to: .*Verified",
    ):
        workflow.operation_approve(operation=op, actor=staff.supervisor2)
    case.refresh_from_db()
    assert case.status == "applied"


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("ru", "в статусе «Заявка подана» и не может перейти в «Идёт операция»"),
        ("uk", "у статусі «Заявку подано» і не може перейти до «Триває операція»"),
    ],
)
def test_errors_speak_the_staff_members_language(staff: Staff, language: str, text: str) -> None:
    from django.utils import translation

    case = create_case()
    op = Operation.objects.create(
        case=case,
        requested_by=staff.supervisor,
        meeting_point="p",
        signal="s",
        meeting_time=timezone.now(),
    )
    with translation.override(language), pytest.raises(TransitionNotAllowed) as info:
        workflow.operation_approve(operation=op, actor=staff.supervisor2)
    assert text in str(info.value)


def test_approving_ones_own_operation_is_refused(staff: Staff) -> None:
    case, _ = case_in("ready", staff)
    operation = request_operation(case, staff.supervisor)
    with pytest.raises(TwoPersonRuleViolation, match="another supervisor must approve"):
        workflow.operation_approve(operation=operation, actor=staff.supervisor)
    case.refresh_from_db()
    operation.refresh_from_db()
    assert (case.status, operation.status) == ("ready", "requested")
    workflow.operation_approve(operation=operation, actor=staff.supervisor2)
    operation.refresh_from_db()
    assert operation.status == "approved"
    assert operation.approved_by == staff.supervisor2


def test_the_database_also_enforces_two_persons(staff: Staff) -> None:
    from django.db import IntegrityError, transaction

    case = create_case()
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(
            case=case,
            requested_by=staff.supervisor,
            approved_by=staff.supervisor,
            meeting_point="p",
            signal="s",
            meeting_time=timezone.now(),
        )


def test_operator_may_request_and_an_operation_cannot_be_doubled(staff: Staff) -> None:
    case, _ = case_in("ready", staff)
    request_operation(case, staff.operator)
    with pytest.raises(TransitionNotAllowed, match="already has an operation"):
        request_operation(case, staff.supervisor)


def test_failed_operation_returns_case_to_ready(staff: Staff) -> None:
    case, operation = case_in("operation", staff)
    assert operation is not None
    workflow.operation_record_outcome(
        operation=operation, actor=staff.liaison, surrendered=False, note="did not come"
    )
    case.refresh_from_db()
    operation.refresh_from_db()
    assert case.status == "ready"
    assert operation.status == "failed"
    # A new operation can then be requested.
    request_operation(case, staff.operator)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c, s: workflow.case_reject(case=c, actor=s.verifier, reason="  "), "reason"),
        (lambda c, s: workflow.case_withdraw(case=c, actor=s.operator, reason=""), "reason"),
        (
            lambda c, s: workflow.case_mark_lost_contact(case=c, actor=s.operator, reason=""),
            "reason",
        ),
        (
            lambda c, s: workflow.case_verify(
                case=c, actor=s.verifier, checklist={**CHECKLIST, "no_provocation_signs": False}
            ),
            "No sign of an ambush",
        ),
    ],
)
def test_steps_need_what_they_need(
    staff: Staff, call: Callable[[Case, Staff], Any], message: str
) -> None:
    case = create_case()
    with pytest.raises(MissingRequirement, match=message):
        call(case, staff)
    case.refresh_from_db()
    assert case.status == "applied"


def test_operation_request_needs_meeting_details(staff: Staff) -> None:
    case, _ = case_in("ready", staff)
    good: dict[str, Any] = {
        "meeting_point": "p",
        "meeting_time": timezone.now() + timedelta(hours=1),
        "signal": "s",
        "group_size": 2,
    }
    for field, bad in [
        ("meeting_point", " "),
        ("signal", ""),
        ("group_size", 0),
        ("meeting_time", timezone.now().replace(tzinfo=None)),
    ]:
        with pytest.raises(MissingRequirement):
            workflow.operation_request(case=case, actor=staff.operator, **{**good, field: bad})
    assert not Operation.objects.filter(case=case).exists()


def test_outcome_needs_a_note(staff: Staff) -> None:
    case, operation = case_in("operation", staff)
    assert operation is not None
    with pytest.raises(MissingRequirement):
        workflow.operation_record_outcome(
            operation=operation, actor=staff.liaison, surrendered=True, note=""
        )


def test_reidentification(staff: Staff) -> None:
    case, _ = case_in("verified", staff)
    workflow.case_set_codename(case=case, codename="тихий лес у реки")
    with pytest.raises(ReidentificationFailed):
        workflow.case_mark_ready(case=case, actor=staff.operator, codename="громкий лес")
    with pytest.raises(ReidentificationFailed):
        workflow.case_mark_ready(case=case, actor=staff.operator, service_number="ЯЯ-999999")
    with pytest.raises(MissingRequirement, match="Re-identify"):
        workflow.case_mark_ready(case=case, actor=staff.operator)
    workflow.case_mark_ready(case=case, actor=staff.operator, codename="  Тихий лес у реки ")
    case.refresh_from_db()
    assert case.status == "ready"
    event = CaseEvent.objects.filter(case=case, to_status="ready").get()
    assert event.data == {"reidentified_by": "codename"}


def test_service_number_reidentification_ignores_formatting(staff: Staff) -> None:
    case = create_case(service_number="АВ-123456")
    advance(case, "verified", staff)
    workflow.case_mark_ready(case=case, actor=staff.operator, service_number="ab 123456")
    case.refresh_from_db()
    assert case.status == "ready"


def test_create_needs_a_name_or_service_number() -> None:
    with pytest.raises(MissingRequirement, match="full name or the service number"):
        create_case(full_name="  ", service_number=None)
    case = create_case(full_name=None, service_number="XY-1")
    assert case.status == "applied"


def test_create_by_roles(staff: Staff) -> None:
    assert create_case(actor=staff.operator, via="").status == "applied"
    for actor in (staff.verifier, staff.liaison, staff.press, staff.admin):
        with pytest.raises(ActorNotAllowed):
            create_case(actor=actor)
    with pytest.raises(ActorNotAllowed):
        create_case(actor=None, via="")


def test_case_numbers_are_sequential_and_readable() -> None:
    a, b = create_case(), create_case()
    year = timezone.now().year
    assert a.number.startswith(f"L-{year}-")
    assert int(b.number.rsplit("-", 1)[1]) == int(a.number.rsplit("-", 1)[1]) + 1
    assert len(a.number) == len(f"L-{year}-000001")


def test_a_failure_mid_transition_leaves_nothing(staff: Staff, monkeypatch: Any) -> None:
    case = create_case()

    def boom(**kwargs: Any) -> None:
        raise RuntimeError("stats down")

    monkeypatch.setattr(workflow.events, "stat_record", boom)
    with pytest.raises(RuntimeError):
        workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    case.refresh_from_db()
    assert case.status == "applied"
    assert not CaseEvent.objects.filter(case=case, kind="status").exists()


def test_disposition_only_after_surrender(staff: Staff) -> None:
    case, _ = case_in("operation", staff)
    with pytest.raises(TransitionNotAllowed):
        workflow.case_set_disposition(case=case, actor=staff.supervisor, kind="asylum")
    done, _ = case_in("surrendered", staff)
    with pytest.raises(MissingRequirement, match="exchange"):
        workflow.case_set_disposition(case=done, actor=staff.supervisor, kind="exchanged")
    with pytest.raises(ActorNotAllowed):
        workflow.case_set_disposition(case=done, actor=staff.operator, kind="asylum")
    exchange = workflow.exchange_record(
        actor=staff.supervisor,
        date=timezone.now().date(),
        released_by_ukraine=10,
        released_by_russia=12,
    )
    workflow.case_set_disposition(case=done, actor=staff.supervisor, kind="awaiting_exchange")
    workflow.case_set_disposition(
        case=done, actor=staff.supervisor, kind="exchanged", exchange=exchange, note="home"
    )
    disposition = Disposition.objects.get(case=done)
    assert (disposition.kind, disposition.exchange, disposition.note) == (
        "exchanged",
        exchange,
        "home",
    )
    assert CaseEvent.objects.filter(case=done, kind="disposition").count() == 2
    # A note changed on the same disposition is not another person exchanged.
    workflow.case_set_disposition(
        case=done, actor=staff.supervisor, kind="exchanged", exchange=exchange, note="at home"
    )
    from lifeline.stats.models import StatEvent

    counted = StatEvent.objects.filter(kind__startswith="disposition.")
    assert sorted(counted.values_list("kind", flat=True)) == [
        "disposition.awaiting_exchange",
        "disposition.exchanged",
    ]
    assert CaseEvent.objects.filter(case=done, kind="disposition").count() == 3


def test_withdrawing_cancels_a_pending_operation(staff: Staff) -> None:
    case, _ = case_in("ready", staff)
    operation = request_operation(case, staff.operator)
    workflow.case_withdraw(case=case, actor=staff.supervisor, reason="changed his mind")
    operation.refresh_from_db()
    assert operation.status == "cancelled"


def test_stat_events_hold_no_link_to_people(staff: Staff) -> None:
    from lifeline.stats.models import StatEvent as Model
    from lifeline.stats.models import StatHourRollup, StatRollup

    names = {f.name for f in Model._meta.get_fields()}
    # "rolled" only says whether the worker counted it into the rollups.
    assert names == {"id", "kind", "channel", "language", "hour", "value", "rolled"}
    rollup = {f.name for f in StatRollup._meta.get_fields()}
    assert rollup == {
        "id", "day", "kind", "channel", "language", "count", "value_sum", "value_count"
    }  # fmt: skip
    from lifeline.stats.models import StatDayTotal

    assert {f.name for f in StatDayTotal._meta.get_fields()} == {
        "id", "day", "kind", "count", "value_sum", "value_count"
    }  # fmt: skip
    assert {f.name for f in StatHourRollup._meta.get_fields()} == {
        "id", "day", "kind", "hour", "count"
    }  # fmt: skip
    advance(create_case(), "surrendered", staff)
    hours = set(Model.objects.values_list("hour", flat=True))
    assert all(h.minute == 0 and h.second == 0 for h in hours)
