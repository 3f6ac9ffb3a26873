"""The phone line in the console: missed calls, pop-up, block list, calls in the timeline."""

from __future__ import annotations

import pytest
from django.test import Client

from lifeline.audit.models import AuditEntry
from lifeline.contacts.services import identity_get_or_create
from lifeline.core.models import Role
from lifeline.phone import cti
from lifeline.phone.models import BlockRule, Call
from tests.factories import create_case, create_user, login_verified

pytestmark = pytest.mark.django_db


def ring(call_id: str, number: str, *, answer: str | None = None, hangup: bool = False) -> Call:
    cti.handle("office", {"event": "newCall", "callId": call_id, "from": number})
    if answer:
        cti.handle("office", {"event": "answer", "callId": call_id, "user": answer})
    if hangup:
        cti.handle("office", {"event": "hangup", "callId": call_id})
    return Call.objects.get(call_id=call_id)


def test_missed_calls_can_be_marked_seen_one_or_all() -> None:
    operator = create_user(Role.OPERATOR)
    first = ring("m1", "+79990000011", hangup=True)
    ring("m2", "+79990000012", hangup=True)
    ring("m3", "+79990000013", hangup=True)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, operator)
    page = client.get("/console/calls/missed/").content.decode()
    assert page.count('class="unseen"') == 3
    assert "+7999" not in page  # the list shows no caller numbers
    client.post("/console/calls/missed/", {"call": str(first.pk)})
    first.refresh_from_db()
    assert first.seen_at is not None
    assert Call.objects.filter(seen_at__isnull=True).count() == 2
    client.post("/console/calls/missed/", {"call": "all"})
    assert not Call.objects.filter(seen_at__isnull=True).exists()
    assert AuditEntry.objects.filter(action="phone.missed_seen").count() == 2


def test_popup_shows_the_callers_case_or_offers_the_script() -> None:
    operator = create_user(Role.OPERATOR, username="popov")
    identity = identity_get_or_create(channel="phone", address="+79995550011")
    case = create_case(actor=operator, via="", requester=identity.contact, channel="phone")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, operator)
    assert "On the line now" not in client.get("/console/calls/popup/").content.decode()
    ring("p1", "8 999 555 00 11", answer="popov")
    known = client.get("/console/calls/popup/").content.decode()
    assert "Known caller" in known
    assert case.number in known
    cti.handle("office", {"event": "hangup", "callId": "p1"})
    ring("p2", "+79995550099", answer="popov")
    new = client.get("/console/calls/popup/").content.decode()
    assert "A new number." in new
    assert "Open the call script" in new


def test_block_list_in_the_console() -> None:
    supervisor = create_user(Role.SUPERVISOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, supervisor)
    client.post("/console/blocks/", {"action": "add", "number": "+79990001122", "note": "threats"})
    client.post("/console/blocks/", {"action": "add", "prefix": "7888"})
    bad = client.post("/console/blocks/", {"action": "add", "number": "not a number"}, follow=True)
    assert "Give a phone number, or a prefix of digits." in bad.content.decode()
    page = client.get("/console/blocks/").content.decode()
    assert "+7888…" in page
    assert "+79990001122" not in page
    assert BlockRule.objects.count() == 2
    rule = BlockRule.objects.get(prefix="+7888")
    client.post("/console/blocks/", {"action": "remove", "rule": str(rule.pk)})
    assert BlockRule.objects.count() == 1
    assert AuditEntry.objects.filter(action__in=["phone.blocked", "phone.unblocked"]).count() == 3


def test_calls_appear_in_the_case_timeline() -> None:
    supervisor = create_user(Role.SUPERVISOR, username="sveta")
    identity = identity_get_or_create(channel="phone", address="+79995550022")
    case = create_case(requester=identity.contact, channel="phone")
    ring("t1", "+79995550022", answer="sveta", hangup=True)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, supervisor)
    page = client.get(f"/console/cases/{case.pk}/").content.decode()
    assert "timeline-call" in page
    assert "Ended — sveta" in page
