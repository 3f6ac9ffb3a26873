"""The web chat accepts only tokens it issued, leaves little on the visitor's phone, and answers
crafted cookies and ids with a page, never an error."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from lifeline.channels import webchat
from lifeline.channels.models import InboundEvent
from lifeline.contacts.models import Identity
from lifeline.conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def message_id(client: Client) -> str:
    page = client.get("/chat/").content.decode()
    return page.split('name="message_id" value="')[1].split('"')[0]


def send(client: Client, text: str, mid: str | None = None) -> int:
    response = client.post("/chat/", {"text": text, "message_id": mid or message_id(client)})
    return response.status_code


def test_issued_tokens_are_signed_and_checked() -> None:
    token = webchat.new_token()
    assert webchat.valid_token(token) == token
    raw, _sep, signature = token.rpartition(":")
    assert webchat.valid_token(raw) is None  # unsigned
    assert webchat.valid_token(f"{raw}:{signature[:-1]}A") is None  # signature altered
    assert webchat.valid_token(f"x{raw}:{signature}") is None  # value altered
    assert webchat.valid_token("a" * 5000) is None
    assert webchat.valid_token("токен:подпись") is None


@pytest.mark.parametrize(
    "planted",
    [
        "attacker-chosen-token",
        "looks:signed",
        "x" * 250,  # longer than any token we issue
        # Non-ASCII bytes arrive through WSGI decoded as latin-1, as here.
        "ключ\u202e".encode().decode("latin-1"),
    ],
)
def test_a_planted_cookie_is_replaced_never_adopted(planted: str) -> None:
    """Session fixation: the planter must not be able to read the chat later."""
    client = Client()
    client.cookies[webchat.COOKIE] = planted
    page = client.get("/chat/")
    assert page.status_code == 200
    assert page.cookies[webchat.COOKIE].value == ""  # the bad cookie is deleted
    client.cookies[webchat.COOKIE] = planted
    assert send(client, "Привет-маячок") == 302
    issued = client.cookies[webchat.COOKIE].value
    assert issued != planted
    assert webchat.valid_token(issued) == issued
    # Only the issued token has a conversation; the planted one finds nothing.
    assert Identity.objects.filter(address_index=webchat.ordering_key(issued)).exists()
    assert webchat.conversation_for(planted) is None
    attacker = Client()
    attacker.cookies[webchat.COOKIE] = planted
    assert "Привет-маячок" not in attacker.get("/chat/transcript/").content.decode()


def test_a_forged_cookie_on_a_later_visit_does_not_reach_the_conversation() -> None:
    client = Client()
    assert send(client, "Привет-маячок") == 302
    token = client.cookies[webchat.COOKIE].value
    raw = token.rpartition(":")[0]
    forger = Client()
    forger.cookies[webchat.COOKIE] = raw  # the random part without the server's signature
    assert "Привет-маячок" not in forger.get("/chat/").content.decode()


@pytest.mark.parametrize("mid", ["abc\x00def", "ж" * 10, "1" * 500, "", "../../etc"])
def test_crafted_message_ids_are_replaced_and_the_message_kept(mid: str) -> None:
    client = Client()
    assert send(client, "Привет", mid) == 302
    event = InboundEvent.objects.get()
    key, _sep, stored_id = event.external_id.partition(":")
    assert stored_id.isalnum()
    assert stored_id.isascii()
    assert Message.objects.filter(direction="in").count() == 1


def test_chat_pages_are_not_stored_and_cookies_end_with_the_session() -> None:
    client = Client()
    for url in ("/chat/", "/chat/transcript/"):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
    response = client.post("/chat/", {"text": "Привет-маячок", "message_id": message_id(client)})
    assert "no-store" in response["Cache-Control"]
    chat_cookie = response.cookies[webchat.COOKIE]
    assert chat_cookie["max-age"] == ""
    assert chat_cookie["expires"] == ""
    assert chat_cookie["httponly"]
    assert chat_cookie["samesite"] == "Strict"
    csrf = client.get("/chat/").cookies.get(settings.CSRF_COOKIE_NAME) or client.cookies.get(
        settings.CSRF_COOKIE_NAME
    )
    assert csrf is not None
    assert csrf["max-age"] == ""
    assert csrf["expires"] == ""
    language = client.post("/i18n/setlang/", {"language": "uk", "next": "/chat/"})
    lang_cookie = language.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert lang_cookie["max-age"] == ""
    assert lang_cookie["expires"] == ""


def test_ending_the_chat_deletes_the_public_cookies_and_leaves() -> None:
    client = Client()
    assert send(client, "Привет-маячок") == 302
    client.post("/i18n/setlang/", {"language": "uk", "next": "/chat/"})
    response = client.post("/chat/end/")
    assert response.status_code == 302
    assert response["Location"] == settings.LIFELINE_NEUTRAL_URL
    assert "no-store" in response["Cache-Control"]
    for name in (webchat.COOKIE, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME):
        assert response.cookies[name].value == "", name
        assert response.cookies[name]["max-age"] == 0, name
