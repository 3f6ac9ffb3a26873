"""Each crafted input a hostile review found (issue #10): once a 500, now a 4xx — or 200 and
ignored for a well-formed Telegram update of a kind Lifeline does not read."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels.models import InboundEvent
from lifeline.core.models import Role
from lifeline.phone import cti
from lifeline.phone.models import BlockRule, Call
from tests.factories import create_user, login_verified

pytestmark = pytest.mark.django_db

SECRET = "crafted-input-webhook-secret-0123456789abcdef"
PBX_SECRET = b"crafted-input-pbx-secret"
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture(autouse=True)
def _secrets(settings: SettingsWrapper) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.LIFELINE_PBX_SECRETS = f"office:{PBX_SECRET.decode()}"


def client() -> Client:
    return Client(raise_request_exception=False)


def webhook(body: str | bytes, *, secret: str = SECRET, path: str = "/telegram/webhook/") -> int:
    return (
        client()
        .post(
            path,
            data=body,
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
        )
        .status_code
    )


def message_update(update_id: int, chat_id: int, text: str = "hi") -> str:
    user = {"id": chat_id, "is_bot": False, "first_name": "A"}
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private"},
                "from": user,
                "text": text,
            },
        }
    )


def cti_post(body: bytes, **headers: str) -> Any:
    extra: dict[str, Any] = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client().post("/cti/events/", data=body, content_type="application/json", **extra)


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "X-Lifeline-Pbx": "office",
        "X-Lifeline-Timestamp": timestamp,
        "X-Lifeline-Signature": cti.sign(PBX_SECRET, timestamp, body),
    }


# --- CTI --------------------------------------------------------------------------------------


def test_cti_superscript_two_timestamp_is_401() -> None:
    body = b'{"event": "newCall", "callId": "x1", "from": "+79990000001"}'
    headers = signed(body) | {"X-Lifeline-Timestamp": "²"}
    assert "²".isdigit()  # why str.isdigit() was not a check
    response = cti_post(body, **headers)
    assert response.status_code == 401
    assert not Call.objects.exists()


def test_cti_non_ascii_signature_is_refused() -> None:
    body = b'{"event": "newCall", "callId": "x2", "from": "+79990000001"}'
    response = cti_post(body, **(signed(body) | {"X-Lifeline-Signature": "подпись"}))
    assert response.status_code == 403
    assert not Call.objects.exists()


def test_cti_deeply_nested_json_is_400() -> None:
    body = DEEP.encode()
    response = cti_post(body, **signed(body))
    assert response.status_code == 400
    assert response.json()["ok"] is False


@pytest.mark.parametrize(
    "event",
    [
        {"event": ["newCall"], "callId": "x3"},  # unhashable event
        {"event": "newCall", "callId": "x\x00y", "from": "+79990000001"},  # NUL in the id
        {"event": "newCall", "callId": "x" * 200, "from": "+79990000001"},  # too long
        {"event": "newCall", "callId": "x4", "from": {"a": 1}},  # not a number
        {"event": "newCall", "callId": "x5", "from": "9" * 5000},  # absurdly long
        {"event": "newCall", "callId": "x6", "from": 2**80},  # out of range
    ],
)
def test_cti_malformed_events_are_400(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    assert cti_post(body, **signed(body)).status_code == 400
    assert not Call.objects.exists()


def test_cti_nul_in_clear_fields_is_dropped() -> None:
    body = json.dumps(
        {
            "event": "newCall",
            "callId": "x7",
            "from": "+7999\x000000002",
            "to": "line\x00one",
            "queue": "q\x00",
            "direction": "in\x00bound-and-more",
        }
    ).encode()
    assert cti_post(body, **signed(body)).status_code == 200
    call = Call.objects.get(call_id="x7")
    assert "\x00" not in call.line + call.queue + call.direction
    assert call.line == "lineone"


# --- Telegram webhook -------------------------------------------------------------------------


def test_webhook_path_with_a_non_ascii_segment_is_404() -> None:
    assert webhook("{}", path="/telegram/webhook/ж/") == 404


def test_webhook_non_ascii_secret_header_is_404() -> None:
    assert webhook(message_update(1, 5), secret="секрет") == 404


@pytest.mark.parametrize("update_id", [2**63, 2**64 + 1, 2**53, -1, -(2**63), 10**400])
def test_webhook_out_of_range_update_id_is_400(update_id: int) -> None:
    assert webhook(message_update(update_id, 5)) == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("chat_id", [2**63, -(2**63) - 1, 2**200])
def test_webhook_out_of_range_chat_id_is_400(chat_id: int) -> None:
    assert webhook(message_update(7, chat_id)) == 400
    assert not InboundEvent.objects.exists()


def test_webhook_integer_beyond_pythons_digit_limit_is_400() -> None:
    body = '{"update_id": ' + "9" * 5000 + "}"
    assert webhook(body) == 400


def test_webhook_deeply_nested_json_is_400() -> None:
    assert webhook(DEEP) == 400
    assert webhook('{"update_id": 1, "message": ' + DEEP + "}") == 400


def test_webhook_lone_surrogate_is_400() -> None:
    assert webhook(message_update(8, 5, text="\ud800")) == 400  # json.dumps escapes it
    assert not InboundEvent.objects.exists()


def test_webhook_boolean_update_id_is_400() -> None:
    assert webhook('{"update_id": true, "message": {}}') == 400


def test_webhook_poll_answer_is_acknowledged_and_ignored() -> None:
    update = {
        "update_id": 9,
        "poll_answer": {
            "poll_id": "1",
            "option_ids": [0],
            "user": {"id": 5, "is_bot": False, "first_name": "A"},
        },
    }
    assert webhook(json.dumps(update)) == 200  # a 4xx would be redelivered forever
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "kind", ["my_chat_member", "chat_join_request", "message_reaction", "some_future_kind"]
)
def test_webhook_other_unhandled_kinds_are_acknowledged(kind: str) -> None:
    assert webhook(json.dumps({"update_id": 10, kind: {"anything": [1, 2, 3]}})) == 200
    assert not InboundEvent.objects.exists()


def test_webhook_malformed_handled_kind_is_400() -> None:
    assert webhook(json.dumps({"update_id": 11, "message": {"text": "no chat"}})) == 400
    assert webhook(json.dumps({"update_id": 12, "callback_query": 5})) == 400
    assert not InboundEvent.objects.exists()


def test_webhook_in_range_update_is_stored() -> None:
    assert webhook(message_update(2**31, 2**52, text="\u202eRTL \x00 ²")) == 200
    assert InboundEvent.objects.get().arrival == 2**31


# --- Console ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "٣", "1²", "9" * 40, "-1", "0", " 1"])
def test_case_list_malformed_assignee_is_400(value: str) -> None:
    supervisor = create_user(Role.SUPERVISOR)
    c = client()
    login_verified(c, supervisor)
    assert c.get("/console/cases/", {"assignee": value}).status_code == 400
    assert c.get("/console/cases/", {"assignee": str(supervisor.pk)}).status_code == 200
    assert c.get("/console/cases/", {"assignee": "none"}).status_code == 200


@pytest.mark.parametrize("value", ["x", "²", "", "9" * 40, "-3"])
def test_block_list_malformed_rule_is_400(value: str) -> None:
    supervisor = create_user(Role.SUPERVISOR)
    rule = BlockRule.objects.create(prefix="+7888", created_by=supervisor)
    c = client()
    login_verified(c, supervisor)
    response = c.post("/console/blocks/", {"action": "remove", "rule": value})
    assert response.status_code == 400
    assert BlockRule.objects.filter(pk=rule.pk).exists()
    response = c.post("/console/blocks/", {"action": "remove", "rule": str(rule.pk)})
    assert response.status_code == 302
    assert not BlockRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize("prefix", ["+²", "12345678901234567890", "+7\x00"])
def test_block_list_malformed_prefix_is_refused(prefix: str) -> None:
    supervisor = create_user(Role.SUPERVISOR)
    c = client()
    login_verified(c, supervisor)
    response = c.post("/console/blocks/", {"action": "add", "prefix": prefix, "note": "n\x00"})
    assert response.status_code == 302
    assert not BlockRule.objects.exists()


def test_conversation_assign_to_superscript_id_is_400() -> None:
    from lifeline.contacts.services import identity_get_or_create
    from lifeline.conversations.models import Conversation

    supervisor = create_user(Role.SUPERVISOR)
    identity = identity_get_or_create(channel="telegram", address="4242")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", status="waiting"
    )
    c = client()
    login_verified(c, supervisor)
    url = f"/console/conversations/{conversation.pk}/"
    for value in ("²", "9" * 40):
        assert c.post(url, {"action": "assign", "assignee": value}).status_code == 400


def test_search_with_nul_is_answered() -> None:
    supervisor = create_user(Role.SUPERVISOR)
    c = client()
    login_verified(c, supervisor)
    response = c.post("/console/search/", {"q": "L-\x00", "name": "\x00", "born": "²"})
    assert response.status_code == 200


@pytest.mark.parametrize("size", ["²", "9" * 40, "40000", "-2", "1e3"])
def test_operation_request_with_a_malformed_group_size_is_refused(size: str) -> None:
    from lifeline.cases.models import Operation
    from tests.factories import Staff, advance, create_case

    staff = Staff()
    case = create_case()
    advance(case, "ready", staff)
    c = client()
    login_verified(c, staff.operator)
    response = c.post(
        f"/console/cases/{case.pk}/action/",
        {
            "action": "request_operation",
            "meeting_point": "p",
            "meeting_time": "2030-01-01T10:00",
            "signal": "s",
            "group_size": size,
        },
    )
    assert response.status_code == 302  # back to the case page with a message
    assert not Operation.objects.filter(case=case).exists()
