"""Without JavaScript, a visitor waiting for an operator is told to check for replies and has a
button that shows them; nothing reloads the page under his fingers."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from lifeline.channels import webchat
from lifeline.conversations import services
from tests.factories import Staff
from tests.public.chat_client import send as chat_send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def send(client: Client, text: str) -> None:
    assert chat_send(client, text) in (200, 302)


@pytest.mark.parametrize(
    ("language", "hint"),
    [
        ("ru", "Проверить ответы"),
        ("uk", "Перевірити відповіді"),
        ("en", "Check for replies"),
    ],
)
def test_waiting_for_an_operator_without_javascript(language: str, hint: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies["django_language"] = language
    send(client, "/start")
    page = client.get("/chat/").content.decode()
    assert 'id="check-replies"' not in page  # the bot answers at once: nothing to wait for

    device = webchat.read_cookie(client.cookies[webchat.COOKIE].value)
    assert device is not None
    conversation = webchat.conversation_for(device)
    assert conversation is not None
    staff = Staff()
    services.conversation_take(conversation=conversation, actor=staff.operator)
    page = client.get("/chat/").content.decode()
    assert 'id="check-replies"' in page
    assert hint in page
    assert 'http-equiv="refresh"' not in page  # his draft is never thrown away by a reload

    services.conversation_reply(
        conversation=conversation, actor=staff.operator, text="Здравствуйте, я оператор."
    )
    page = client.get("/chat/").content.decode()  # what the button does
    assert "Здравствуйте, я оператор." in page
