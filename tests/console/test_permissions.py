"""Record- and field-level permissions, enforced in selectors and services, not only views."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.errors import ActorNotAllowed
from lifeline.cases.selectors import FIELD_POLICY, case_get_for, case_read, cases_visible_to
from lifeline.core.models import Role
from tests.factories import CHECKLIST, Staff, advance, create_case, create_user, login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Staff:
    return Staff()


def test_record_level_visibility(staff: Staff) -> None:
    mine = create_case()
    advance(mine, "applied", staff)  # assigned to staff.operator
    other_operator = create_user(Role.OPERATOR)
    in_operation = create_case()
    advance(in_operation, "operation", staff)
    assert set(cases_visible_to(staff.supervisor)) == {mine, in_operation}
    assert set(cases_visible_to(staff.operator)) == {mine, in_operation}
    assert not cases_visible_to(other_operator).exists()
    # Waiting applications only: the one he verified has moved on to an operation since.
    assert set(cases_visible_to(staff.verifier)) == {mine}
    assert set(cases_visible_to(staff.liaison)) == {in_operation}
    assert not cases_visible_to(staff.press).exists()
    assert not cases_visible_to(staff.admin).exists()
    other_verifier = create_user(Role.VERIFIER)
    assert set(cases_visible_to(other_verifier)) == {mine}  # only waiting applications


def test_services_refuse_cases_the_actor_does_not_handle(staff: Staff) -> None:
    case = create_case()
    advance(case, "verified", staff)
    stranger = create_user(Role.OPERATOR)
    with pytest.raises(ActorNotAllowed, match="not one of the cases you handle"):
        workflow.case_mark_ready(case=case, actor=stranger, service_number=case.service_number)
    with pytest.raises(ActorNotAllowed):
        workflow.case_add_note(case=case, actor=stranger, text="hello")
    with pytest.raises(ActorNotAllowed):
        workflow.case_withdraw(case=case, actor=stranger, reason="x")
    workflow.case_assign(case=case, actor=staff.supervisor, assignee=stranger)
    workflow.case_mark_ready(case=case, actor=stranger, service_number=case.service_number)


def test_only_supervisors_assign(staff: Staff) -> None:
    case = create_case()
    with pytest.raises(ActorNotAllowed):
        workflow.case_assign(case=case, actor=staff.operator, assignee=staff.operator)
    from lifeline.cases.errors import MissingRequirement

    with pytest.raises(MissingRequirement):
        workflow.case_assign(case=case, actor=staff.supervisor, assignee=staff.press)


def test_field_level_policy_matches_the_architecture() -> None:
    assert FIELD_POLICY[Role.PRESS] == ()
    assert FIELD_POLICY[Role.ADMIN] == ()
    assert set(FIELD_POLICY[Role.LIAISON]) == {
        "full_name",
        "meeting_point",
        "meeting_time",
        "signal",
    }
    assert "service_number" in FIELD_POLICY[Role.VERIFIER]
    assert "meeting_point" not in FIELD_POLICY[Role.VERIFIER]


def test_liaison_receives_only_name_and_meeting_details(staff: Staff) -> None:
    case = create_case(full_name="Имя Связного", service_number="СВ-111222", unit="в/ч 999")
    advance(case, "operation", staff)
    view = case_read(actor=staff.liaison, case=case_get_for(actor=staff.liaison, case_id=case.pk))
    assert view.personal == {"full_name": "Имя Связного"}
    assert view.operation is not None
    assert view.operation["meeting_point"] == "test point"
    client = Client()
    login_verified(client, staff.liaison)
    page = client.get(reverse("console:case_detail", args=[case.pk])).content.decode()
    assert "Имя Связного" in page
    assert "test point" in page
    assert "СВ-111222" not in page
    assert "в/ч 999" not in page


@pytest.mark.parametrize("role", [Role.PRESS, Role.ADMIN])
def test_press_and_admin_never_receive_personal_fields(staff: Staff, role: str) -> None:
    case = create_case(full_name="Секретное Имя")
    user = staff.press if role == Role.PRESS else staff.admin
    with pytest.raises(PermissionDenied):
        case_get_for(actor=user, case_id=case.pk)
    # Even handed a case object directly, the read gives no personal field.
    view = case_read(actor=user, case=case)
    assert view.personal == {}
    assert view.shown_fields == ()
    client = Client()
    login_verified(client, user)
    for url in [
        reverse("console:home"),
        reverse("console:case_detail", args=[case.pk]),
        reverse("console:case_list"),
        reverse("console:audit_list"),
        reverse("console:staff_list"),
    ]:
        assert "Секретное" not in client.get(url).content.decode()


def test_reads_are_audited_with_field_names_only(staff: Staff) -> None:
    case = create_case(full_name="Читаемое Имя")
    advance(case, "applied", staff)
    client = Client()
    login_verified(client, staff.operator)
    assert client.get(reverse("console:case_detail", args=[case.pk])).status_code == 200
    entry = AuditEntry.objects.filter(action="case.read", object_id=str(case.pk)).get()
    assert entry.actor == staff.operator
    assert "full_name" in entry.fields
    assert "service_number" in entry.fields
    assert "Читаемое" not in str(list(AuditEntry.objects.values_list()))


def test_transitions_and_staff_changes_are_audited(staff: Staff) -> None:
    case = create_case()
    advance(case, "applied", staff)
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    assert AuditEntry.objects.filter(
        action="case.verified", actor=staff.verifier, object_id=str(case.pk), fields=["status"]
    ).exists()


def test_staff_management_through_the_console(staff: Staff) -> None:
    from lifeline.core.models import StaffChangeRequest, User

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.supervisor)
    form = client.get(reverse("console:staff_create")).content.decode()
    assert 'type="password"' not in form  # the creator never chooses a password
    response = client.post(
        reverse("console:staff_create"), {"username": "newop", "role": "operator"}
    )
    assert response.status_code == 302
    # An operator sees personal data: a request, no account yet.
    assert not User.objects.filter(username="newop").exists()
    change = StaffChangeRequest.objects.get(username="newop")
    assert change.status == "pending"
    assert "newop" in client.get(reverse("console:staff_list")).content.decode()
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(other, staff.supervisor2)
    other.post(reverse("console:staff_change", args=[change.pk]), {"action": "approve"})
    new = User.objects.get(username="newop")
    assert new.role == "operator"
    assert not new.has_usable_password()
    url = reverse("console:staff_detail", args=[new.pk])
    client.post(url, {"action": "set_role", "role": "press"})  # removes access: at once
    client.post(url, {"action": "disable"})
    new.refresh_from_db()
    assert new.role == "press"
    assert not new.is_active
    actions = set(AuditEntry.objects.filter(object_id=str(new.pk)).values_list("action", flat=True))
    assert {"staff.created", "staff.role_changed", "staff.disabled"} <= actions
    # Nobody changes their own account.
    own = client.post(
        reverse("console:staff_detail", args=[staff.supervisor.pk]),
        {"action": "disable"},
        follow=True,
    )
    staff.supervisor.refresh_from_db()
    assert staff.supervisor.is_active
    assert "another supervisor" in own.content.decode()
    # A taken username is refused with a clear message, nothing asked for.
    bad = client.post(
        reverse("console:staff_create"), {"username": staff.operator.username, "role": "operator"}
    )
    assert bad.status_code == 200
    assert "taken" in bad.content.decode()
    assert StaffChangeRequest.objects.count() == 1


def test_operator_creates_an_application_in_the_console(staff: Staff) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.operator)
    empty = client.post(
        reverse("console:case_create"),
        {
            "mobilisation_status": "unknown",
            "group_size": 1,
            "phone_situation": "unknown",
            "requester_relation": "self",
            "language": "ru",
        },
    )
    assert "at least the full name or the service number" in empty.content.decode()
    bad_date = client.post(
        reverse("console:case_create"),
        {
            "full_name": "Новый Человек",
            "birth_date": "31.02.1990",
            "mobilisation_status": "unknown",
            "group_size": 1,
            "phone_situation": "unknown",
            "requester_relation": "self",
            "language": "ru",
        },
    )
    assert bad_date.status_code == 200
    assert "valid date" in bad_date.content.decode()
    created = client.post(
        reverse("console:case_create"),
        {
            "full_name": "Новый Человек",
            "birth_date": "12.03.1995",
            "service_number": "НЧ-1",
            "mobilisation_status": "mobilised",
            "group_size": 2,
            "phone_situation": "second_phone",
            "requester_relation": "self",
            "language": "ru",
        },
        follow=True,
    )
    page = created.content.decode()
    assert "Новый Человек" in page
    assert "12.03.1995" in page
    from lifeline.cases.models import Case

    case = Case.objects.get()
    assert case.assignee == staff.operator
    assert case.channel == "console"
