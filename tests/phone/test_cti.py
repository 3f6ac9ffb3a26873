"""The CTI endpoint with realistic event sequences: answered, missed, blocked, replayed, forged."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.audit.models import AuditEntry
from lifeline.contacts.services import identity_get_or_create
from lifeline.core.models import Role
from lifeline.phone import cti
from lifeline.phone.models import Call
from lifeline.stats.models import StatEvent
from tests.factories import create_user

pytestmark = pytest.mark.django_db

SECRET = "pbx-shared-secret-value"


@pytest.fixture(autouse=True)
def _pbx(settings: SettingsWrapper) -> None:
    settings.LIFELINE_PBX_SECRETS = f"office:{SECRET}"


def post(
    data: Any, *, secret: str = SECRET, pbx: str = "office", timestamp: int | None = None
) -> tuple[int, dict[str, Any]]:
    body = json.dumps(data).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    response = Client().post(
        "/cti/events/",
        data=body,
        content_type="application/json",
        HTTP_X_LIFELINE_PBX=pbx,
        HTTP_X_LIFELINE_TIMESTAMP=ts,
        HTTP_X_LIFELINE_SIGNATURE=cti.sign(secret.encode(), ts, body),
    )
    return response.status_code, response.json()


def test_an_answered_call() -> None:
    operator = create_user(Role.OPERATOR, username="olga")
    assert post(
        {
            "event": "newCall",
            "callId": "c1",
            "from": "+7 999 111-22-33",
            "to": "+380441234567",
            "direction": "in",
            "queue": "hotline",
        }
    ) == (200, {"ok": True, "action": "accept"})
    assert post({"event": "answer", "callId": "c1", "user": "olga"})[0] == 200
    assert post({"event": "hangup", "callId": "c1", "cause": "normalClearing"})[0] == 200
    call = Call.objects.get()
    assert (call.status, call.answered_by, call.cause) == ("ended", operator, "normalClearing")
    assert call.caller == "+7 999 111-22-33"
    assert "111" not in call.caller_index
    kinds = set(StatEvent.objects.values_list("kind", flat=True))
    assert {"call.received", "call.answered", "call.ended"} <= kinds
    assert StatEvent.objects.get(kind="call.answered").value is not None


def test_a_missed_call_and_the_missed_list() -> None:
    post({"event": "newCall", "callId": "c2", "from": "89991112233"})
    post({"event": "hangup", "callId": "c2", "cause": "cancel"})
    call = Call.objects.get()
    assert call.status == "missed"
    assert call.answered_at is None
    assert StatEvent.objects.filter(kind="call.missed").count() == 1


def test_a_known_caller_is_linked_to_the_contact() -> None:
    identity = identity_get_or_create(channel="phone", address="+79991112233")
    post({"event": "newCall", "callId": "c3", "from": "8 (999) 111-22-33"})
    assert Call.objects.get().contact == identity.contact


def test_a_blocked_number_and_prefix_are_rejected() -> None:
    supervisor = create_user(Role.SUPERVISOR)
    cti.block_number(actor=supervisor, number="+79990000001", note="harassment")
    cti.block_number(actor=supervisor, prefix="+7888")
    assert post({"event": "newCall", "callId": "b1", "from": "89990000001"}) == (
        200,
        {"ok": True, "action": "reject", "reason": "busy"},
    )
    assert (
        post({"event": "newCall", "callId": "b2", "from": "+78881234567"})[1]["action"] == "reject"
    )
    assert (
        post({"event": "newCall", "callId": "b3", "from": "+79990000002"})[1]["action"] == "accept"
    )
    assert AuditEntry.objects.filter(action="phone.blocked").count() == 2
    operator = create_user(Role.OPERATOR)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        cti.block_number(actor=operator, number="+79990000003")


def test_a_replayed_event_is_applied_once() -> None:
    post({"event": "newCall", "callId": "r1", "from": "+79993334455"})
    first = post({"event": "hangup", "callId": "r1"})
    again = post({"event": "hangup", "callId": "r1"})
    assert first == (200, {"ok": True})
    assert again == (200, {"ok": True, "duplicate": True})
    assert StatEvent.objects.filter(kind="call.missed").count() == 1


def test_forged_and_stale_requests_are_refused() -> None:
    event = {"event": "newCall", "callId": "f1", "from": "+79993334455"}
    assert post(event, secret="guessed")[0] == 403
    assert post(event, pbx="unknown")[0] == 401
    assert post(event, timestamp=int(time.time()) - 3600)[0] == 401
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"event": "ring", "callId": "m1"}, "event must be one of"),
        ({"event": "newCall"}, "callId"),
        ({"event": "newCall", "callId": "m2"}, "needs 'from'"),
        ({"event": "answer", "callId": "never-seen"}, "no newCall"),
        ([], "JSON object"),
    ],
)
def test_malformed_events_get_a_clear_400(event: Any, message: str) -> None:
    status, body = post(event)
    assert status == 400
    assert message in body["error"]
