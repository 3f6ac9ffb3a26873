"""Scopes (issue #10): the verifier's window, where men in an operation are, and what the press
sees on the console home."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.models import CaseStatus
from lifeline.cases.selectors import case_get_for, case_read, cases_visible_to, fields_for
from lifeline.core.models import Role
from tests.factories import Staff, advance, create_case, create_user, login_verified

pytestmark = pytest.mark.django_db

WHERE = "Лесополоса у развилки"


@pytest.fixture
def staff() -> Staff:
    return Staff()


# --- Verifier ---------------------------------------------------------------------------------


def test_verifier_sees_waiting_applications_and_his_decisions_while_verified(
    staff: Staff,
) -> None:
    waiting = create_case()
    advance(waiting, "applied", staff)
    verified = create_case()
    advance(verified, "verified", staff)  # verified by staff.verifier
    ready = create_case()
    advance(ready, "ready", staff)
    in_operation = create_case()
    advance(in_operation, "operation", staff)
    rejected = create_case()
    advance(rejected, "rejected", staff)
    surrendered = create_case()
    advance(surrendered, "surrendered", staff)
    assert set(cases_visible_to(staff.verifier)) == {waiting, verified}
    other = create_user(Role.VERIFIER)
    assert set(cases_visible_to(other)) == {waiting}


def test_verifier_loses_the_case_when_it_moves_on(staff: Staff) -> None:
    case = create_case(location=WHERE)
    advance(case, "verified", staff)
    assert case_get_for(actor=staff.verifier, case_id=case.pk) == case
    workflow.case_mark_ready(case=case, actor=staff.operator, service_number=case.service_number)
    with pytest.raises(PermissionDenied):
        case_get_for(actor=staff.verifier, case_id=case.pk)
    client = Client()
    login_verified(client, staff.verifier)
    response = client.get(reverse("console:case_detail", args=[case.pk]))
    assert response.status_code == 403
    assert WHERE not in response.content.decode()
    listing = client.get(reverse("console:case_list")).content.decode()
    assert case.number not in listing


def test_verifier_cannot_open_a_case_in_operation(staff: Staff) -> None:
    case = create_case(location=WHERE)
    advance(case, "operation", staff)  # verified by staff.verifier earlier
    with pytest.raises(PermissionDenied):
        case_get_for(actor=staff.verifier, case_id=case.pk)
    client = Client()
    login_verified(client, staff.verifier)
    assert client.get(reverse("console:case_detail", args=[case.pk])).status_code == 403


# --- Location in operation --------------------------------------------------------------------


def test_location_in_operation_is_for_supervisors_and_the_liaison_only(staff: Staff) -> None:
    case = create_case(location=WHERE)
    advance(case, "ready", staff)
    # Before the operation the operator handling the case sees where he is.
    assert case_read(actor=staff.operator, case=case).personal["location"] == WHERE
    workflow.operation_approve(
        operation=workflow.operation_request(
            case=case,
            actor=staff.operator,
            meeting_point="point",
            meeting_time=_soon(),
            signal="signal",
            group_size=1,
        ),
        actor=staff.supervisor,
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.OPERATION
    operator_view = case_read(actor=staff.operator, case=case)
    assert "location" not in operator_view.personal
    assert operator_view.personal["full_name"] == case.full_name  # other fields stay
    assert operator_view.operation is not None
    assert operator_view.operation["meeting_point"] == "point"
    assert case_read(actor=staff.supervisor, case=case).personal["location"] == WHERE
    assert "location" not in fields_for(actor=staff.verifier, case=case)
    assert "location" not in case_read(actor=staff.liaison, case=case).personal
    # The audit names what was shown: no location for the operator's read.
    reads = AuditEntry.objects.filter(action="case.read", actor=staff.operator)
    assert "location" in reads.order_by("seq").first().fields  # type: ignore[union-attr]
    assert "location" not in reads.order_by("-seq").first().fields  # type: ignore[union-attr]


def test_operator_page_hides_location_in_operation(staff: Staff) -> None:
    case = create_case(location=WHERE)
    advance(case, "operation", staff)
    operator = Client()
    login_verified(operator, staff.operator)
    page = operator.get(reverse("console:case_detail", args=[case.pk])).content.decode()
    assert case.number in page
    assert WHERE not in page
    supervisor = Client()
    login_verified(supervisor, staff.supervisor)
    page = supervisor.get(reverse("console:case_detail", args=[case.pk])).content.decode()
    assert WHERE in page


def test_location_is_shown_again_when_the_operation_failed(staff: Staff) -> None:
    case = create_case(location=WHERE)
    operation = advance(case, "operation", staff)
    assert operation is not None
    workflow.operation_record_outcome(
        operation=operation, actor=staff.liaison, surrendered=False, note="did not come"
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.READY
    assert case_read(actor=staff.operator, case=case).personal["location"] == WHERE


# --- Press and the console home ---------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PRESS, Role.ADMIN])
def test_press_and_admin_see_no_live_counts(staff: Staff, role: str) -> None:
    for status in ("operation", "ready", "applied"):
        advance(create_case(), status, staff)
    client = Client()
    login_verified(client, staff.press if role == Role.PRESS else staff.admin)
    response = client.get(reverse("console:home"))
    assert response.status_code == 200
    assert response.context["rows"] == []
    page = response.content.decode()
    assert 'class="counts"' not in page
    for label in (CaseStatus.OPERATION.label, CaseStatus.READY.label, CaseStatus.APPLIED.label):
        assert str(label) not in page


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.OPERATOR, Role.VERIFIER, Role.LIAISON])
def test_case_roles_see_counts_per_status(staff: Staff, role: str) -> None:
    advance(create_case(), "operation", staff)
    client = Client()
    login_verified(client, getattr(staff, role))
    rows = dict(client.get(reverse("console:home")).context["rows"])
    assert rows[CaseStatus.OPERATION.label] == 1


def _soon() -> datetime:
    return timezone.now() + timedelta(hours=3)
