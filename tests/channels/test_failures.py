"""Nothing dropped silently: failed messages keep their content until a supervisor resolves them,
and a long operator answer goes out in parts."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from lifeline.audit.models import AuditEntry
from lifeline.channels import failures, inbox
from lifeline.channels.models import (
    InboundEvent,
    InboundStatus,
    OutboundMessage,
    OutboundStatus,
)
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import services
from lifeline.conversations.delivery import split_text
from lifeline.conversations.models import Conversation
from lifeline.core.channels import Channel
from tests.factories import Staff

pytestmark = pytest.mark.django_db


def broken_event() -> InboundEvent:
    """An event no handler can process: its channel has none."""
    return inbox.inbound_store(
        channel="phone", external_id="x1", payload={"text": "помогите"}, ordering_key="k"
    ).event


def test_a_failed_event_keeps_its_payload_until_a_supervisor_resolves_it() -> None:
    staff = Staff()
    event = broken_event()
    for _ in range(inbox.MAX_ATTEMPTS):
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
        assert inbox.process_next()
    event.refresh_from_db()
    assert event.status == InboundStatus.FAILED
    assert event.payload == {"text": "помогите"}  # kept, encrypted
    (listed,) = failures.failures_for(staff.supervisor)
    assert (listed.kind, listed.id, listed.attempts) == ("inbound", event.pk, inbox.MAX_ATTEMPTS)
    with pytest.raises(PermissionDenied):
        failures.failures_for(staff.operator)
    with pytest.raises(PermissionDenied):
        failures.failure_discard(actor=staff.operator, kind="inbound", pk=event.pk)
    failures.failure_retry(actor=staff.supervisor, kind="inbound", pk=event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundStatus.PENDING, 0)
    InboundEvent.objects.filter(pk=event.pk).update(status=InboundStatus.FAILED)
    failures.failure_discard(actor=staff.supervisor, kind="inbound", pk=event.pk)
    event.refresh_from_db()
    assert event.status == InboundStatus.DISCARDED
    assert event.payload is None
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "failure.retried" in actions
    assert "failure.discarded" in actions


def test_a_failed_reply_is_listed_retried_and_discarded() -> None:
    staff = Staff()
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address="6101")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM
    )
    message = OutboundMessage.objects.create(
        conversation=conversation,
        channel=Channel.TELEGRAM,
        text="ответ",
        seq=1,
        status=OutboundStatus.FAILED,
        attempts=12,
        error="forbidden (the person blocked the bot)",
    )
    (listed,) = failures.failures_for(staff.supervisor)
    assert listed.error.startswith("forbidden")
    assert listed.conversation_id == conversation.pk
    failures.failure_retry(actor=staff.supervisor, kind="outbound", pk=message.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.text) == ("pending", 0, "ответ")
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.FAILED)
    failures.failure_discard(actor=staff.supervisor, kind="outbound", pk=message.pk)
    message.refresh_from_db()
    assert (message.status, message.text) == (OutboundStatus.DISCARDED, None)


def test_split_text_keeps_everything_and_respects_the_limit() -> None:
    text = ("слово " * 1500).strip() + "\n\n" + "x" * 5000
    parts = split_text(text)
    assert all(0 < len(part) <= 4096 for part in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert split_text("short") == ["short"]


def test_a_long_operator_answer_goes_out_in_parts() -> None:
    staff = Staff()
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address="6102")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM, status="waiting"
    )
    services.conversation_take(conversation=conversation, actor=staff.operator)
    answer = ("Держитесь, мы рядом. " * 500).strip()  # about 10,500 characters
    services.conversation_reply(conversation=conversation, actor=staff.operator, text=answer)
    parts = list(OutboundMessage.objects.filter(conversation=conversation).order_by("seq"))
    assert len(parts) == 3
    assert all(len(p.text or "") <= 4096 for p in parts)
    assert [p.seq for p in parts] == [1, 2, 3]
    assert " ".join(p.text or "" for p in parts).split() == answer.split()


def test_the_console_lists_failures_and_a_supervisor_resolves_them() -> None:
    from django.test import Client
    from django.urls import reverse

    from tests.factories import login_verified

    staff = Staff()
    event = broken_event()
    InboundEvent.objects.filter(pk=event.pk).update(status=InboundStatus.FAILED, attempts=5)
    client = Client()
    login_verified(client, staff.supervisor)
    page = client.get(reverse("console:failed")).content.decode()
    assert str(event.pk) in page
    assert "помогите" not in page  # the list never shows the content
    response = client.post(
        reverse("console:failed"), {"kind": "inbound", "id": str(event.pk), "action": "discard"}
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == InboundStatus.DISCARDED
    assert client.post(reverse("console:failed"), {"kind": "x", "id": "ж"}).status_code == 302


def test_the_conversation_view_marks_a_reply_that_was_not_delivered() -> None:
    from django.test import Client
    from django.urls import reverse

    from tests.factories import login_verified

    staff = Staff()
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address="6103")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM, status="waiting"
    )
    services.conversation_take(conversation=conversation, actor=staff.operator)
    services.conversation_reply(conversation=conversation, actor=staff.operator, text="Ждите")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.operator)
    url = reverse("console:conversation", kwargs={"conversation_id": conversation.pk})
    assert "Not delivered" not in client.get(url).content.decode()
    OutboundMessage.objects.filter(conversation=conversation).update(
        status=OutboundStatus.FAILED, error="forbidden (the person blocked the bot)"
    )
    assert "Not delivered" in client.get(url).content.decode()
    assert "Not delivered" in client.get(url + "?partial=1").content.decode()
