"""``create_*`` helpers: the smallest valid objects, going through the real services."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from lifeline.cases import workflow
from lifeline.cases.models import Case, Operation
from lifeline.core.channels import Channel
from lifeline.core.models import Role, User

_seq = itertools.count(1)

CHECKLIST = dict.fromkeys(workflow.VERIFICATION_CHECKLIST, True)


def create_user(role: str = Role.OPERATOR, **kwargs: Any) -> User:
    n = next(_seq)
    return User.objects.create_user(
        username=kwargs.pop("username", f"{role}{n}"),
        password=kwargs.pop("password", "correct horse battery staple"),
        role=role,
        **kwargs,
    )


def create_case(**kwargs: Any) -> Case:
    n = next(_seq)
    fields: dict[str, Any] = {
        "actor": None,
        "via": "test",
        "channel": Channel.TELEGRAM,
        "language": "ru",
        "full_name": f"Тест Тестович {n}",
        "birth_date": date(1990, 1, 1),
        "service_number": f"ТТ-{n:06d}",
    }
    fields.update(kwargs)
    return workflow.case_create(**fields)


class Staff:
    """One account per role, plus a second supervisor for the two-person rule."""

    def __init__(self) -> None:
        self.operator = create_user(Role.OPERATOR)
        self.verifier = create_user(Role.VERIFIER)
        self.supervisor = create_user(Role.SUPERVISOR)
        self.supervisor2 = create_user(Role.SUPERVISOR)
        self.liaison = create_user(Role.LIAISON)
        self.press = create_user(Role.PRESS)
        self.admin = create_user(Role.ADMIN)


def advance(case: Case, status: str, staff: Staff) -> Operation | None:
    """Drive a fresh ``applied`` case through the real workflow to ``status``."""
    operation = None
    if case.assignee_id != staff.operator.pk:
        workflow.case_assign(case=case, actor=staff.supervisor, assignee=staff.operator)
    if status == "applied":
        return None
    if status == "rejected":
        workflow.case_reject(case=case, actor=staff.verifier, reason="test")
        return None
    if status in ("withdrawn", "lost_contact"):
        fn = workflow.case_withdraw if status == "withdrawn" else workflow.case_mark_lost_contact
        fn(case=case, actor=staff.operator, reason="test")
        return None
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    if status == "verified":
        return None
    workflow.case_mark_ready(case=case, actor=staff.operator, service_number=case.service_number)
    if status == "ready":
        return None
    operation = request_operation(case, staff.supervisor)
    workflow.operation_approve(operation=operation, actor=staff.supervisor2)
    if status == "operation":
        return operation
    workflow.operation_record_outcome(
        operation=operation, actor=staff.liaison, surrendered=True, note="test"
    )
    assert status == "surrendered", status
    return operation


def request_operation(case: Case, actor: User) -> Operation:
    from datetime import timedelta

    from django.utils import timezone

    return workflow.operation_request(
        case=case,
        actor=actor,
        meeting_point="test point",
        meeting_time=timezone.now() + timedelta(hours=6),
        signal="test signal",
        group_size=case.group_size,
    )


def login_verified(client: Any, user: User) -> Any:
    """Log ``client`` in as ``user`` with a verified second factor, as after a real login."""
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from lifeline.console.middleware import LOGIN_STARTED

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[LOGIN_STARTED] = timezone.now().isoformat()
    session.save()
    return device


def login_unverified(client: Any, user: User) -> None:
    """Password accepted, second factor not yet given."""
    from django.utils import timezone

    from lifeline.console.middleware import LOGIN_STARTED

    client.force_login(user)
    session = client.session
    session[LOGIN_STARTED] = timezone.now().isoformat()
    session.save()


def telegram_conversation(address: str, language: str = "ru") -> Any:
    """A Telegram conversation with a new contact, as after his first update."""
    from lifeline.contacts.services import identity_get_or_create
    from lifeline.conversations.models import Conversation

    identity = identity_get_or_create(channel="telegram", address=address, language=language)
    return Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", language=language
    )


def say(conversation: Any, *texts: str) -> list[Any]:
    """Feed texts to the bot one after another; the replies to the last one."""
    from lifeline.conversations.host import conversation_input

    replies: list[Any] = []
    for text in texts:
        replies = conversation_input(conversation, text)
    return replies
