"""No one-person takeover (issue #10, item 3): staff changes that grant access to personal data
or take over an account wait for a second supervisor; nobody chooses another person's
password; an account one person had a hand in never approves that person's operation."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.errors import TwoPersonRuleViolation
from lifeline.cases.models import Case, OperationStatus
from lifeline.core import staff as staff_services
from lifeline.core.models import EnrolmentLink, Role, StaffChangeRequest, User
from tests.factories import (
    Staff,
    advance,
    create_case,
    create_user,
    login_verified,
    request_operation,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "my own long passphrase 7"
LINK = re.compile(r'id="enrolment-link">http://testserver/console/enrol/#([A-Za-z0-9_-]+)<')


@pytest.fixture
def staff() -> Staff:
    return Staff()


def console(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    return client


def decide(client: Client, change: StaffChangeRequest, action: str) -> str:
    """POST a decision from the console; the page it lands on (with its messages)."""
    response = client.post(
        reverse("console:staff_change", args=[change.pk]), {"action": action}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def show_link(client: Client, change: StaffChangeRequest) -> str:
    """The requester's one look at the enrolment link: the token in it."""
    response = client.post(reverse("console:staff_change", args=[change.pk]), {"action": "link"})
    assert response.status_code == 200
    match = LINK.search(response.content.decode())
    assert match is not None, response.content.decode()
    return match.group(1)


def enrol(token: str, password: str = NEW_PASSWORD) -> Client:
    """The new person opens the link and sets his password, as a browser would."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.get(reverse("console:enrol")).status_code == 200
    step = client.post(reverse("console:enrol"), {"token": token})
    assert step.status_code == 200
    assert 'name="new_password1"' in step.content.decode()
    done = client.post(
        reverse("console:enrol"),
        {"token": token, "new_password1": password, "new_password2": password},
    )
    assert done.status_code == 302, done.content.decode()
    assert done["Location"] == reverse("console:login")
    return client


def requested_account(requester: User, approver: User, username: str, role: str) -> User:
    """``requester`` asks for an account in the console, ``approver`` approves, the requester
    hands the link over, and its owner sets his password."""
    asking = console(requester)
    response = asking.post(reverse("console:staff_create"), {"username": username, "role": role})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:staff_list")
    change = StaffChangeRequest.objects.get(username=username, status="pending")
    decide(console(approver), change, "approve")
    enrol(show_link(asking, change))
    return User.objects.get(username=username)


# --- Creating accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR, Role.VERIFIER, Role.LIAISON])
def test_one_supervisor_cannot_create_an_account_that_sees_personal_data(
    staff: Staff, role: str
) -> None:
    client = console(staff.supervisor)
    response = client.post(reverse("console:staff_create"), {"username": "puppet", "role": role})
    assert response.status_code == 302
    assert not User.objects.filter(username="puppet").exists()
    change = StaffChangeRequest.objects.get(username="puppet")
    assert (change.kind, change.status, change.role) == ("create", "pending", role)
    # He cannot approve it himself, in the console or in the service.
    page = decide(client, change, "approve")
    assert "another supervisor must approve" in page
    with pytest.raises(PermissionDenied):
        staff_services.staff_request_approve(actor=staff.supervisor, change=change)
    # Nor can an administrator, an operator or anyone who is not a supervisor.
    for other in (staff.admin, staff.operator, staff.press):
        with pytest.raises(PermissionDenied):
            staff_services.staff_request_approve(actor=other, change=change)
    change.refresh_from_db()
    assert change.status == "pending"
    assert not User.objects.filter(username="puppet").exists()
    # Another supervisor approves: the account exists, without a usable password.
    page = decide(console(staff.supervisor2), change, "approve")
    assert "Approved." in page
    change.refresh_from_db()
    assert (change.status, change.decided_by) == ("approved", staff.supervisor2)
    puppet = User.objects.get(username="puppet")
    assert puppet.role == role
    assert not puppet.has_usable_password()
    assert change.target == puppet


def test_refused_and_cancelled_requests_change_nothing(staff: Staff) -> None:
    first = staff_services.staff_create(actor=staff.supervisor, username="one", role="operator")
    second = staff_services.staff_create(actor=staff.supervisor, username="two", role="operator")
    # A second request for the same username while one waits: refused.
    with pytest.raises(ValidationError):
        staff_services.staff_create(actor=staff.admin, username="ONE", role="verifier")
    assert "Refused." in decide(console(staff.supervisor2), first.change, "refuse")
    # Only the requester cancels.
    with pytest.raises(PermissionDenied):
        staff_services.staff_request_cancel(actor=staff.supervisor2, change=second.change)
    assert "Request cancelled." in decide(console(staff.supervisor), second.change, "cancel")
    assert not User.objects.filter(username__in=["one", "two"]).exists()
    statuses = dict(StaffChangeRequest.objects.values_list("username", "status"))
    assert statuses == {"one": "refused", "two": "cancelled"}
    # A decided request cannot be decided again.
    with pytest.raises(ValidationError):
        staff_services.staff_request_approve(actor=staff.supervisor2, change=first.change)


def test_admin_creates_press_and_admin_alone_but_not_a_supervisor(staff: Staff) -> None:
    client = console(staff.admin)
    response = client.post(
        reverse("console:staff_create"), {"username": "boss", "role": "supervisor"}
    )
    assert response.status_code == 302
    assert not User.objects.filter(username="boss").exists()
    change = StaffChangeRequest.objects.get(username="boss")
    assert change.status == "pending"
    # Another administrator cannot approve: only a supervisor.
    other_admin = create_user(Role.ADMIN)
    with pytest.raises(PermissionDenied):
        staff_services.staff_request_approve(actor=other_admin, change=change)
    # A press or admin account is made at once, with a one-time link shown to its creator.
    for username, role in (("writer", "press"), ("keeper", "admin")):
        page = client.post(reverse("console:staff_create"), {"username": username, "role": role})
        assert page.status_code == 200
        match = LINK.search(page.content.decode())
        assert match is not None
        user = User.objects.get(username=username)
        assert user.role == role
        assert not user.has_usable_password()
        assert StaffChangeRequest.objects.get(target=user).status == "direct"
    # Roles among press/admin change at once; towards personal data they wait.
    writer = User.objects.get(username="writer")
    assert staff_services.staff_set_role(actor=staff.admin, user=writer, role="admin") is None
    writer.refresh_from_db()
    assert writer.role == "admin"
    pending = staff_services.staff_set_role(actor=staff.admin, user=writer, role="operator")
    assert pending is not None
    writer.refresh_from_db()
    assert writer.role == "admin"


# --- Enrolment links -----------------------------------------------------------------------------


def test_enrolment_link_sets_the_new_persons_own_password_once(staff: Staff) -> None:
    asking = console(staff.supervisor)
    asking.post(reverse("console:staff_create"), {"username": "newbie", "role": "operator"})
    change = StaffChangeRequest.objects.get(username="newbie")
    approver = console(staff.supervisor2)
    decide(approver, change, "approve")
    # Before the link is shown, the requester's list offers it; the approver's does not.
    assert "Show the enrolment link" in asking.get(reverse("console:staff_list")).content.decode()
    assert (
        "Show the enrolment link"
        not in approver.get(reverse("console:staff_list")).content.decode()
    )
    with pytest.raises(PermissionDenied):
        staff_services.staff_issue_link(actor=staff.supervisor2, change=change)
    token = show_link(asking, change)
    # Shown once: asking again gives no link.
    again = asking.post(
        reverse("console:staff_change", args=[change.pk]), {"action": "link"}, follow=True
    )
    assert LINK.search(again.content.decode()) is None
    assert "shown once" in again.content.decode()
    # Only a hash is stored.
    link = EnrolmentLink.objects.get(user__username="newbie")
    assert token not in str(list(EnrolmentLink.objects.values_list()))
    assert token not in str(list(StaffChangeRequest.objects.values_list()))
    assert token not in str(list(AuditEntry.objects.values_list()))
    assert timedelta(hours=47, minutes=59) < link.expires_at - timezone.now() <= timedelta(hours=48)

    newcomer = Client(HTTP_ACCEPT_LANGUAGE="en")
    # Bad passwords: the validators answer, and the link stays valid.
    for first, second, message in [
        ("short one", "short one", "too short"),
        ("a long passphrase 1", "a long passphrase 2", "didn"),
    ]:
        page = newcomer.post(
            reverse("console:enrol"),
            {"token": token, "new_password1": first, "new_password2": second},
        )
        assert page.status_code == 200
        assert message in page.content.decode()
    enrol(token)
    user = User.objects.get(username="newbie")
    assert user.check_password(NEW_PASSWORD)
    link.refresh_from_db()
    assert link.used_at is not None
    assert AuditEntry.objects.filter(
        action="staff.enrolled", actor=user, fields=["password"]
    ).exists()
    # Used: 404 from now on, for the code step and the password step.
    assert newcomer.post(reverse("console:enrol"), {"token": token}).status_code == 404
    reuse = newcomer.post(
        reverse("console:enrol"),
        {
            "token": token,
            "new_password1": "another passphrase 99",
            "new_password2": "another passphrase 99",
        },
    )
    assert reuse.status_code == 404
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The requester never saw a password: none was ever in a page he got.
    for url in (reverse("console:staff_list"), reverse("console:staff_detail", args=[user.pk])):
        assert NEW_PASSWORD not in asking.get(url).content.decode()
    # First sign-in: the password, then the existing authenticator enrolment.
    signed = Client()
    response = signed.post(
        reverse("console:login"), {"username": "newbie", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert signed.get(reverse("console:home"))["Location"].startswith(reverse("console:otp_setup"))


@override_settings(LIFELINE_ENROLMENT_LINK_HOURS=2)
def test_enrolment_link_expires(staff: Staff) -> None:
    created = staff_services.staff_create(actor=staff.admin, username="late", role="press")
    assert created.token is not None
    link = EnrolmentLink.objects.get(user__username="late")
    assert timedelta(hours=1, minutes=59) < link.expires_at - timezone.now() <= timedelta(hours=2)
    client = Client()
    assert client.post(reverse("console:enrol"), {"token": created.token}).status_code == 200
    EnrolmentLink.objects.filter(pk=link.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.post(reverse("console:enrol"), {"token": created.token}).status_code == 404
    expired = client.post(
        reverse("console:enrol"),
        {"token": created.token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert expired.status_code == 404
    assert not User.objects.get(username="late").has_usable_password()


def test_unknown_tokens_are_404_and_no_token_reaches_a_log(
    staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client()
    for bogus in ["", "x", "A" * 43, "A" * 500]:
        assert client.post(reverse("console:enrol"), {"token": bogus}).status_code == 404
    created = staff_services.staff_create(actor=staff.admin, username="quiet", role="press")
    assert created.token is not None
    page = console(staff.admin).post(
        reverse("console:staff_create"), {"username": "quiet2", "role": "press"}
    )
    shown = LINK.search(page.content.decode())
    assert shown is not None
    for token in (created.token, shown.group(1)):
        enrol(token)
        assert client.post(reverse("console:enrol"), {"token": token}).status_code == 404
        logged = "\n".join(
            f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
            for record in caplog.records
        )
        assert token not in logged
    # The 404s were logged, by path only: the token travels in the POST body, not the URL.
    assert any("/console/enrol/" in record.getMessage() for record in caplog.records)


# --- Roles, passwords and authenticators of existing accounts ------------------------------------


def test_one_supervisor_cannot_promote_alone(staff: Staff) -> None:
    client = console(staff.supervisor)
    url = reverse("console:staff_detail", args=[staff.operator.pk])
    page = client.post(url, {"action": "set_role", "role": "supervisor"}, follow=True)
    assert "Another supervisor must approve" in page.content.decode()
    staff.operator.refresh_from_db()
    assert staff.operator.role == "operator"
    # From a press account, and sideways between roles that see different data, too.
    for user, role in ((staff.press, "liaison"), (staff.liaison, "verifier")):
        assert staff_services.staff_set_role(actor=staff.supervisor, user=user, role=role)
        user.refresh_from_db()
        assert user.role != role
    change = StaffChangeRequest.objects.get(target=staff.operator, kind="set_role")
    with pytest.raises(PermissionDenied):
        staff_services.staff_request_approve(actor=staff.supervisor, change=change)
    epoch = staff.operator.session_epoch
    decide(console(staff.supervisor2), change, "approve")
    staff.operator.refresh_from_db()
    assert staff.operator.role == "supervisor"
    assert staff.operator.session_epoch == epoch + 1
    # Demoting stays immediate: it removes access.
    assert (
        staff_services.staff_set_role(actor=staff.supervisor, user=staff.operator, role="operator")
        is None
    )
    staff.operator.refresh_from_db()
    assert staff.operator.role == "operator"


def test_enabling_an_account_that_sees_personal_data_waits_for_approval(staff: Staff) -> None:
    staff_services.staff_disable(actor=staff.supervisor, user=staff.verifier)
    change = staff_services.staff_enable(actor=staff.supervisor, user=staff.verifier)
    assert change is not None
    staff.verifier.refresh_from_db()
    assert not staff.verifier.is_active
    staff_services.staff_request_approve(actor=staff.supervisor2, change=change)
    staff.verifier.refresh_from_db()
    assert staff.verifier.is_active
    # A press account is enabled at once.
    staff_services.staff_disable(actor=staff.admin, user=staff.press)
    assert staff_services.staff_enable(actor=staff.admin, user=staff.press) is None
    staff.press.refresh_from_db()
    assert staff.press.is_active


def test_one_supervisor_cannot_reset_anothers_password_or_authenticator(staff: Staff) -> None:
    target = staff.supervisor2
    approver = create_user(Role.SUPERVISOR)
    target_client = console(target)
    device = TOTPDevice.objects.get(user=target)
    client = console(staff.supervisor)
    url = reverse("console:staff_detail", args=[target.pk])
    for action in ("reset_password", "reset_totp"):
        page = client.post(url, {"action": action}, follow=True).content.decode()
        assert "Another supervisor must approve" in page
    # Nothing happened yet: the password works, the device is there, the session lives.
    target.refresh_from_db()
    assert target.check_password("correct horse battery staple")
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert target_client.get(reverse("console:home")).status_code == 200
    # The target cannot decide requests about his own account; the requester cannot either.
    for change in StaffChangeRequest.objects.filter(target=target):
        with pytest.raises(PermissionDenied):
            staff_services.staff_request_approve(actor=target, change=change)
        with pytest.raises(PermissionDenied):
            staff_services.staff_request_approve(actor=staff.supervisor, change=change)
    approving = console(approver)
    password_change = StaffChangeRequest.objects.get(target=target, kind="reset_password")
    totp_change = StaffChangeRequest.objects.get(target=target, kind="reset_totp")
    decide(approving, password_change, "approve")
    target.refresh_from_db()
    assert not target.has_usable_password()
    assert target_client.get(reverse("console:home")).status_code == 302  # session ended
    decide(approving, totp_change, "approve")
    assert not TOTPDevice.objects.filter(user=target).exists()
    # The requester hands over the link; the owner sets a password of his own.
    enrol(show_link(client, password_change))
    target.refresh_from_db()
    assert target.check_password(NEW_PASSWORD)
    actions = list(
        AuditEntry.objects.filter(object_type="staff_change").values_list("action", "fields")
    )
    assert ("staff.change_requested", ["kind", "status"]) in actions
    assert ("staff.change_approved", ["kind", "status"]) in actions
    assert {"staff.password_reset", "staff.totp_reset", "staff.enrolment_link_issued"} <= set(
        AuditEntry.objects.filter(object_id=str(target.pk)).values_list("action", flat=True)
    )


def test_the_database_refuses_a_self_decided_request(staff: Staff) -> None:
    change = staff_services.staff_request_totp_reset(actor=staff.supervisor, user=staff.operator)
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffChangeRequest.objects.filter(pk=change.pk).update(
            decided_by=staff.supervisor, status="approved"
        )


def test_every_request_and_decision_is_audited_without_values(staff: Staff) -> None:
    made = staff_services.staff_create(actor=staff.supervisor, username="zeta", role="liaison")
    staff_services.staff_request_refuse(actor=staff.supervisor2, change=made.change)
    again = staff_services.staff_create(actor=staff.supervisor, username="zeta", role="liaison")
    staff_services.staff_request_approve(actor=staff.supervisor2, change=again.change)
    rows = list(
        AuditEntry.objects.filter(object_type="staff_change").values_list(
            "actor_id", "action", "object_id"
        )
    )
    assert rows == [
        (staff.supervisor.pk, "staff.change_requested", str(made.change.pk)),
        (staff.supervisor2.pk, "staff.change_refused", str(made.change.pk)),
        (staff.supervisor.pk, "staff.change_requested", str(again.change.pk)),
        (staff.supervisor2.pk, "staff.change_approved", str(again.change.pk)),
    ]
    assert "zeta" not in str(list(AuditEntry.objects.values_list()))


# --- Sockpuppets -------------------------------------------------------------------------------


def ready_case(staff: Staff) -> Case:
    case = create_case()
    advance(case, "ready", staff)
    return case


def test_sockpuppet_cannot_approve_its_sponsors_operation(staff: Staff) -> None:
    a, c = staff.supervisor, staff.supervisor2
    b = requested_account(a, c, "bee", "supervisor")
    operation = request_operation(ready_case(staff), a)
    with pytest.raises(TwoPersonRuleViolation) as refused:
        workflow.operation_approve(operation=operation, actor=b)
    assert "linked by a staff change" in str(refused.value)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.REQUESTED
    # The supervisor who only approved the account can approve the operation.
    workflow.operation_approve(operation=operation, actor=c)
    operation.refresh_from_db()
    assert (operation.status, operation.approved_by) == (OperationStatus.APPROVED, c)


def test_sponsor_cannot_approve_his_sockpuppets_operation(staff: Staff) -> None:
    a, c = staff.supervisor, staff.supervisor2
    b = requested_account(a, c, "bee", "supervisor")
    operation = request_operation(ready_case(staff), b)
    with pytest.raises(TwoPersonRuleViolation):
        workflow.operation_approve(operation=operation, actor=a)
    workflow.operation_approve(operation=operation, actor=c)


def test_sponsorship_is_transitive_and_covers_promotions_and_resets(staff: Staff) -> None:
    a, c = staff.supervisor, staff.supervisor2
    d = create_user(Role.SUPERVISOR)
    # A asks for supervisor B (C approves); B, possibly A's puppet, asks for E (D approves).
    b = requested_account(a, c, "bee", "supervisor")
    e = requested_account(b, d, "eve", "supervisor")
    assert staff_services.staff_sponsored_by(a) == {b.pk, e.pk}
    operation = request_operation(ready_case(staff), a)
    with pytest.raises(TwoPersonRuleViolation):
        workflow.operation_approve(operation=operation, actor=e)
    # A promotion or a reset asked for by A links the account to A too.
    promoted = staff.operator
    change = staff_services.staff_set_role(actor=a, user=promoted, role=Role.SUPERVISOR)
    assert change is not None
    staff_services.staff_request_approve(actor=c, change=change)
    reset = create_user(Role.SUPERVISOR)
    totp = staff_services.staff_request_totp_reset(actor=a, user=reset)
    staff_services.staff_request_approve(actor=d, change=totp)
    for account in (promoted, reset):
        account.refresh_from_db()
        with pytest.raises(TwoPersonRuleViolation):
            workflow.operation_approve(operation=operation, actor=account)
    # Refused or pending requests link nobody.
    bystander = create_user(Role.SUPERVISOR)
    staff_services.staff_request_refuse(
        actor=c, change=staff_services.staff_request_password_reset(actor=a, user=bystander)
    )
    staff_services.staff_request_totp_reset(actor=a, user=bystander)
    workflow.operation_approve(operation=operation, actor=bystander)


def test_sockpuppet_cannot_approve_its_sponsors_staff_requests(staff: Staff) -> None:
    a, c = staff.supervisor, staff.supervisor2
    b = requested_account(a, c, "bee", "supervisor")
    made = staff_services.staff_create(actor=a, username="third", role="supervisor")
    with pytest.raises(PermissionDenied):
        staff_services.staff_request_approve(actor=b, change=made.change)
    # The console does not offer B the buttons.
    page = console(b).get(reverse("console:staff_list")).content.decode()
    assert f'action="{reverse("console:staff_change", args=[made.change.pk])}"' in page
    assert 'value="approve"' not in page
    staff_services.staff_request_approve(actor=c, change=made.change)


def test_direct_creation_links_the_creator_too(staff: Staff) -> None:
    """An admin account A creates (and holds the link of) is A's: what it asks for is A's."""
    a, c = staff.supervisor, staff.supervisor2
    created = staff_services.staff_create(actor=a, username="helper", role="admin")
    helper = created.change.target
    assert helper is not None
    assert created.token is not None
    staff_services.staff_enrol(token=created.token, password=NEW_PASSWORD)
    helper.refresh_from_db()
    puppet = requested_account(helper, c, "puppet", "supervisor")
    assert puppet.pk in staff_services.staff_sponsored_by(a)
    operation = request_operation(ready_case(staff), a)
    with pytest.raises(TwoPersonRuleViolation):
        workflow.operation_approve(operation=operation, actor=puppet)
