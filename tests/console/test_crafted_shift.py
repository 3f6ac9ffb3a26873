"""Crafted parameters on the new console screens: no 5xx, no lost input."""

from __future__ import annotations

import pytest
from django.test import Client

from lifeline.conversations import services
from lifeline.conversations.models import CannedAnswer, Note
from lifeline.core.models import Role, User
from lifeline.phone.models import CallbackRequest
from tests.console.test_shift_tools import handed_off
from tests.factories import create_user, login_verified

pytestmark = pytest.mark.django_db


def console(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    login_verified(client, user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/console/canned/99999999999999999999/",
        "/console/canned/9223372036854775808/",
        "/console/canned/2147483648/",
    ],
)
def test_canned_detail_with_an_id_beyond_the_column(path: str) -> None:
    client = console(create_user(Role.SUPERVISOR))
    assert client.get(path).status_code == 404
    assert client.post(path, {"action": "retire"}).status_code in (400, 404)


BAD = ["", "x", "²", "-1", "0", "99999999999999999999", "1e3", "\x00", "١", " 1"]


@pytest.mark.parametrize("value", BAD)
def test_conversation_parameters(value: str) -> None:
    supervisor = create_user(Role.SUPERVISOR)
    item = handed_off("8201")
    client = console(supervisor)
    url = f"/console/conversations/{item.pk}/"
    for query in ({"canned": value}, {"partial": value, "v": value}, {"partial": "1", "v": value}):
        assert client.get(url, query).status_code < 500
    for data in (
        {"action": value},
        {"action": "assign", "assignee": value},
        {"action": "note", "note": value},
        {"action": "callback", "number": value, "safe_time": value},
        {"action": "reply", "text": value},
        {"action": "reidentify", "codename": value, "service_number": value},
    ):
        assert client.post(url, data).status_code < 500, data


def test_missed_parameters() -> None:
    client = console(create_user(Role.OPERATOR))
    for value in BAD + ["all", "00000000-0000-0000-0000-000000000000"]:
        for data in (
            {"action": "show", "callback": value},
            {"action": "done", "callback": value},
            {"action": "seen", "call": value},
            {"action": value, "call": value},
        ):
            assert client.post("/console/calls/missed/", data).status_code < 500, data


def test_canned_form_crafted() -> None:
    client = console(create_user(Role.SUPERVISOR))
    before = CannedAnswer.objects.count()  # a data migration seeds some
    for data in (
        {"language": "xx", "title": "t", "text": "x"},
        {"language": "ru", "title": "t" * 81, "text": "x"},
        {"language": "ru", "title": "   ", "text": "x"},
        {"language": "ru", "title": "t\x00", "text": "x"},
        {"language": "ru", "title": "t", "text": "x\x00"},
        {"language": "ru", "title": "t", "text": "x", "position": "40000"},
        {"language": "ru", "title": "t", "text": "x", "position": "-1"},
        {"language": "ru", "title": "t", "text": "x", "position": "²"},
        {"language": "ru", "title": "t\u202eevil", "text": "x" * 2001},
    ):
        assert client.post("/console/canned/", data).status_code == 400, data
    assert CannedAnswer.objects.count() == before


def test_long_title_with_inner_whitespace_is_accepted_or_refused_clearly() -> None:
    client = console(create_user(Role.SUPERVISOR))
    # 80 characters after the form's strip, but the service collapses runs of spaces
    response = client.post(
        "/console/canned/", {"language": "ru", "title": "a  " * 26 + "ab", "text": "x"}
    )
    assert response.status_code in (302, 400)


def test_note_and_callback_keep_input_on_error() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("8202")
    services.conversation_take(conversation=item, actor=operator)
    client = console(operator)
    url = f"/console/conversations/{item.pk}/"
    r = client.post(url, {"action": "note", "note": "N" * 4001})
    assert r.status_code == 400
    assert "N" * 4001 in r.content.decode()
    r = client.post(url, {"action": "callback", "number": "12", "safe_time": "tonight after 10"})
    assert r.status_code == 400
    assert "tonight after 10" in r.content.decode()
    r = client.post(url, {"action": "reply", "text": "draft answer that failed"})
    assert not Note.objects.exists()
    assert not CallbackRequest.objects.exists()
