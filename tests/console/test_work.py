"""The operators' screens without a browser: shift, auto-assignment, queue order, replies,
return to the bot, canned answers, list filters, search within what one may see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels.models import OutboundMessage
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import services
from lifeline.conversations.host import conversation_input
from lifeline.conversations.models import Conversation, Message
from lifeline.core.models import Role
from tests.factories import create_case, create_user, login_verified

pytestmark = pytest.mark.django_db


def waiting(
    address: str, *, language: str = "ru", priority: int = 0, minutes: int = 0
) -> Conversation:
    identity = identity_get_or_create(channel="telegram", address=address)
    return Conversation.objects.create(
        contact=identity.contact,
        identity=identity,
        channel="telegram",
        language=language,
        status="waiting",
        priority=priority,
        waiting_since=timezone.now() - timedelta(minutes=minutes),
    )


def test_queue_puts_front_alerts_first_then_the_longest_wait() -> None:
    operator = create_user(Role.OPERATOR)
    old = waiting("1001", minutes=30)
    new = waiting("1002", minutes=1)
    front = waiting("1003", priority=1, minutes=0)
    assert list(services.queue(operator)) == [front, old, new]


def test_operators_see_only_their_own_or_unassigned_conversations() -> None:
    a, b = create_user(Role.OPERATOR), create_user(Role.OPERATOR)
    conversation = waiting("1004")
    services.conversation_take(conversation=conversation, actor=a)
    assert services.conversations_visible_to(b).filter(pk=conversation.pk).count() == 0
    client = Client()
    login_verified(client, b)
    assert client.get(f"/console/conversations/{conversation.pk}/").status_code == 403


def test_shift_and_auto_assignment(settings: SettingsWrapper) -> None:
    settings.LIFELINE_AUTO_ASSIGN = True
    settings.LIFELINE_MAX_CONVERSATIONS_PER_OPERATOR = 1
    busy, free, off = (create_user(Role.OPERATOR) for _ in range(3))
    for user in (busy, free):
        client = Client()
        login_verified(client, user)
        assert client.post("/console/shift/", {"on": "1"}).status_code == 302
    busy.refresh_from_db()
    assert busy.on_shift
    assert not off.on_shift
    services.conversation_take(conversation=waiting("2001"), actor=busy)
    conversation = waiting("2002")
    conversation.status = "bot"
    conversation.save()
    replies = []
    for text in ["/start", "Хочу сначала задать вопросы"]:
        replies = conversation_input(conversation, text)
    # Ask for a person from the advice menu: the handoff auto-assigns the free operator.
    labels = [b for r in replies for b in r.buttons]
    person = next(
        label for label in labels if "оператор" in label.lower() or "человек" in label.lower()
    )
    conversation_input(conversation, person)
    conversation.refresh_from_db()
    assert conversation.status == "waiting"
    assert conversation.assignee == free


def test_reply_goes_through_the_outbox_and_is_audited() -> None:
    from lifeline.audit.models import AuditEntry

    operator = create_user(Role.OPERATOR)
    conversation = waiting("3001", language="en")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, operator)
    url = f"/console/conversations/{conversation.pk}/"
    page = client.get(url).content.decode()
    assert "Take this conversation" in page
    client.post(url, {"action": "take"})
    page = client.get(url).content.decode()
    assert "An operator is here." in page  # canned answers in the person's language
    assert client.post(url, {"action": "reply", "text": "   "}).status_code == 400
    client.post(url, {"action": "reply", "text": "I am here to help."})
    outbound = OutboundMessage.objects.get()
    assert (outbound.text, outbound.status) == ("I am here to help.", "pending")
    message = Message.objects.get(direction="out")
    assert message.sender == operator
    assert AuditEntry.objects.filter(action="conversation.replied", actor=operator).exists()


def test_return_to_the_bot_restarts_the_flow() -> None:
    operator = create_user(Role.OPERATOR)
    conversation = waiting("3002")
    client = Client()
    login_verified(client, operator)
    url = f"/console/conversations/{conversation.pk}/"
    client.post(url, {"action": "take"})
    client.post(url, {"action": "bot"})
    conversation.refresh_from_db()
    assert conversation.status == "bot"
    assert conversation.assignee is None
    assert "Кто вы?" in OutboundMessage.objects.get().text


def test_case_list_filters_and_search_stay_within_what_one_may_see() -> None:
    supervisor, operator = create_user(Role.SUPERVISOR), create_user(Role.OPERATOR)
    web = create_case(channel="web", service_number="ПО-000001")
    create_case(channel="telegram", service_number="ПО-000002")
    client = Client()
    login_verified(client, supervisor)
    page = client.get("/console/cases/?channel=web").content.decode()
    assert web.number in page
    assert "ПО-000002" not in page
    found = client.post("/console/search/", {"q": "по 000001"}).content.decode()
    assert web.number in found
    other = Client()
    login_verified(other, operator)
    assert web.number not in other.post("/console/search/", {"q": "ПО-000001"}).content.decode()


def test_case_timeline_shows_the_requesters_messages_and_audits_the_read() -> None:
    from lifeline.audit.models import AuditEntry
    from lifeline.cases.models import Case
    from lifeline.conversations.host import conversation_input as say

    supervisor = create_user(Role.SUPERVISOR)
    press = create_user(Role.PRESS)
    identity = identity_get_or_create(channel="telegram", address="5005")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram"
    )
    for text in [
        "/start",
        "1",
        "Мобилизован",
        "Хронологов Ян Янович",
        "01.01.1990",
        "нет",
        "рядовой",
        "в/ч 1",
        "не могу",
        "Один",
        "Телефон при мне",
        "да",
    ]:
        say(conversation, text)
    case = Case.objects.get()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, supervisor)
    page = client.get(f"/console/cases/{case.pk}/").content.decode()
    assert "He wrote:" in page
    assert "Хронологов Ян Янович" in page
    assert AuditEntry.objects.filter(
        action="conversation.read", object_id=str(case.pk), actor=supervisor
    ).exists()
    other = Client()
    login_verified(other, press)
    assert other.get(f"/console/cases/{case.pk}/").status_code == 403
