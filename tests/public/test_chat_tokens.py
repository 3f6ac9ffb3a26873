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
from tests.public.chat_client import message_id, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def test_issued_tokens_are_signed_and_checked() -> None:
    token = webchat.Device("k" * 43, "s" * 43).cookie
    assert webchat.read_cookie(token) == webchat.Device("k" * 43, "s" * 43)
    raw, _sep, signature = token.rpartition(":")
    assert webchat.read_cookie(raw) is None  # unsigned
    assert webchat.read_cookie(f"{raw}:{signature[:-1]}A") is None  # signature altered
    assert webchat.read_cookie(f"x{raw}:{signature}") is None  # value altered
    assert webchat.read_cookie("a" * 5000) is None
    assert webchat.read_cookie("токен:подпись") is None


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
    device = webchat.read_cookie(issued)
    assert device is not None
    # Only the issued token has a conversation; the planted one finds nothing.
    assert Identity.objects.filter(address_index=device.ordering_key).exists()
    assert webchat.conversation_for(webchat.read_cookie(planted)) is None
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


def live_token(client: Client, text: str) -> str:
    assert send(client, text) == 302
    return client.cookies[webchat.COOKIE].value


def reads(token: str, marker: str) -> bool:
    spy = Client()
    spy.cookies[webchat.COOKIE] = token
    return any(marker in spy.get(url).content.decode() for url in ("/chat/", "/chat/transcript/"))


def test_a_planted_server_issued_token_does_not_carry_the_victims_conversation() -> None:
    """Session fixation with a token the server really issued: the attacker gets one of his own
    (one he never used, one with a conversation of his, one whose first message still waits in
    the inbox), plants it in the victim's browser, and later reads with it. Every message swaps
    the secret, so the planted copy is dead from the victim's first message."""
    from contextlib import contextmanager

    from lifeline.public import views

    attacker = Client()
    unused = webchat.Device("u" * 43, "v" * 43).cookie
    used = live_token(attacker, "attacker-own-chat")

    @contextmanager
    def busy():
        yield False

    waiting_client = Client()
    original = views.serial_write_if_free
    views.serial_write_if_free = busy
    try:
        pending_only = live_token(waiting_client, "attacker-pending")
    finally:
        views.serial_write_if_free = original
    for number, planted in enumerate((unused, used, pending_only)):
        cache.clear()
        victim = Client()
        victim.cookies[webchat.COOKIE] = planted
        marker = f"Привет-маячок-{number}"
        assert send(victim, marker) == 302
        victims = victim.cookies[webchat.COOKIE].value
        assert victims != planted
        assert marker in victim.get("/chat/transcript/").content.decode()
        assert not reads(planted, marker), planted
    # The attacker's own copy of his live token is dead too (the victim's message swapped it).
    assert not reads(used, "attacker-own-chat")


def test_the_code_words_reach_only_the_rightful_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """A planter polling with his copy never sees the code words the victim is given."""
    from lifeline.cases import codenames
    from tests.test_codeword_canary import intake

    words = "маркер-берёза маркер-сова маркер-мост маркер-лес маркер-луна маркер-чайник"
    monkeypatch.setattr(codenames, "generate", lambda: words)
    attacker = Client(HTTP_ACCEPT_LANGUAGE="ru")
    used = live_token(attacker, "Здравствуйте")
    victim = Client(HTTP_ACCEPT_LANGUAGE="ru")
    victim.cookies[webchat.COOKIE] = used
    for answer in ["Здравствуйте", *intake("ВЧ-000333")]:
        assert send(victim, answer) == 302
        assert not reads(used, "маркер-"), answer
    assert words in victim.get("/chat/").content.decode()


def test_a_doubled_submit_of_one_form_stays_in_one_conversation() -> None:
    client = Client()
    assert send(client, "первое") == 302
    before = client.cookies[webchat.COOKIE].value
    mid = message_id(client)
    assert send(client, "Привет-маячок", mid) == 302
    after = client.cookies[webchat.COOKIE].value
    # The second submit left before the first answer set the new cookie.
    twin = Client()
    twin.cookies[webchat.COOKIE] = before
    assert send(twin, "Привет-маячок", mid) == 302
    assert twin.cookies[webchat.COOKIE].value == after
    assert Message.objects.filter(direction="in").count() == 2


def test_a_resubmitted_form_gives_nothing_once_the_device_wrote_again() -> None:
    """Someone who saw the victim's page (its message id) and holds the old cookie cannot get
    the victim's new one once the victim has written again, nor after the window."""
    client = Client()
    assert send(client, "первое") == 302
    before = client.cookies[webchat.COOKIE].value
    mid = message_id(client)
    assert send(client, "второе", mid) == 302
    assert send(client, "Привет-маячок") == 302
    thief = Client()
    thief.cookies[webchat.COOKIE] = before
    assert send(thief, "чужое", mid) == 302
    assert not reads(thief.cookies[webchat.COOKIE].value, "Привет-маячок")


def test_a_token_expires_after_the_idle_time_even_if_an_operator_answers_later(
    settings,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from lifeline.conversations import services
    from lifeline.conversations.models import Conversation
    from tests.factories import Staff

    client = Client()
    token = live_token(client, "Привет-маячок")
    assert "Привет-маячок" in client.get("/chat/transcript/").content.decode()
    Identity.objects.update(
        device_tag_at=timezone.now() - timedelta(hours=settings.LIFELINE_WEBCHAT_IDLE_HOURS + 1)
    )
    assert not reads(client.cookies[webchat.COOKIE].value, "Привет-маячок")
    # An operator's late answer does not bring the old cookie back to life.
    conversation = Conversation.objects.get()
    staff = Staff()
    services.conversation_take(conversation=conversation, actor=staff.operator)
    services.conversation_reply(conversation=conversation, actor=staff.operator, text="ответ")
    assert not reads(client.cookies[webchat.COOKIE].value, "Привет-маячок")
    # The next message starts a new conversation under a new token; the old one stays for the
    # operators.
    assert send(client, "второе") == 302
    assert client.cookies[webchat.COOKIE].value != token
    assert Conversation.objects.count() == 2
    assert "второе" in client.get("/chat/transcript/").content.decode()


def test_ending_the_chat_ends_the_token_on_the_server() -> None:
    """Someone who copied the cookie before "end chat" reads nothing with it afterwards, and a
    message still in the inbox under it joins the ended conversation, not a new one."""
    from contextlib import contextmanager

    from lifeline.channels import inbox
    from lifeline.conversations.models import Conversation
    from lifeline.public import views

    @contextmanager
    def busy():
        yield False

    client = Client()
    original = views.serial_write_if_free
    views.serial_write_if_free = busy  # the first message waits in the inbox
    try:
        token = live_token(client, "Привет-маячок")
    finally:
        views.serial_write_if_free = original
    client.post("/chat/end/")
    inbox.process_all(limit=10)
    assert Conversation.objects.count() == 1
    assert not reads(token, "Привет-маячок")
    # Writing with the copied cookie starts a conversation of its own.
    copy = Client()
    copy.cookies[webchat.COOKIE] = token
    assert send(copy, "новое") == 302
    assert copy.cookies[webchat.COOKIE].value != token
    assert Conversation.objects.count() == 2
    assert {m.text for m in Message.objects.filter(conversation__in=Conversation.objects.all()[:1])}


def test_a_stale_copy_cannot_end_the_rightful_devices_chat() -> None:
    client = Client()
    stale = live_token(client, "первое")
    assert send(client, "Привет-маячок") == 302
    copy = Client()
    copy.cookies[webchat.COOKIE] = stale
    copy.post("/chat/end/")
    assert "Привет-маячок" in client.get("/chat/transcript/").content.decode()


def test_ending_the_chat_when_the_database_is_busy_says_so(monkeypatch) -> None:
    from django.db import DatabaseError

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    live_token(client, "Привет-маячок")

    def refuse(device: object) -> bool:
        raise DatabaseError("locked")

    monkeypatch.setattr(webchat, "end_device", refuse)
    response = client.post("/chat/end/")
    assert response.status_code == 503
    assert "could not end the chat" in response.content.decode()
    assert webchat.COOKIE not in response.cookies or response.cookies[webchat.COOKIE].value


def test_a_superseded_cookie_gets_409_from_the_refresh_endpoint() -> None:
    """The refresh script ignores a non-2xx answer; an empty transcript would reload the page
    and cancel a message on its way."""
    client = Client()
    old = live_token(client, "первое")
    assert send(client, "второе") == 302
    stale = Client()
    stale.cookies[webchat.COOKIE] = old
    assert stale.get("/chat/transcript/").status_code == 409
    assert client.get("/chat/transcript/").status_code == 200


def test_a_message_that_cannot_be_stored_leaves_the_old_cookie_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import DatabaseError

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    token = live_token(client, "Привет-маячок")

    def refuse(**kwargs: object) -> None:
        raise DatabaseError("database is locked")

    monkeypatch.setattr(webchat, "submit", refuse)
    response = client.post("/chat/", {"text": "второе", "message_id": message_id(client)})
    assert response.status_code == 503
    assert "второе</textarea>" in response.content.decode()
    assert webchat.COOKIE not in response.cookies  # nothing changed: the old cookie stays good
    monkeypatch.undo()
    assert client.cookies[webchat.COOKIE].value == token
    assert "Привет-маячок" in client.get("/chat/transcript/").content.decode()
    assert Identity.objects.count() == 1


def test_over_the_limit_nothing_is_written_and_the_cookie_stays() -> None:
    from lifeline.public import views

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    live_token(client, "первое")
    for _n in range(views.RATE_PER_MINUTE):
        send(client, "ещё")
    token = client.cookies[webchat.COOKIE].value
    tag = Identity.objects.get().device_tag
    response = client.post("/chat/", {"text": "лишнее", "message_id": message_id(client)})
    assert response.status_code == 429
    assert webchat.COOKIE not in response.cookies
    assert Identity.objects.get().device_tag == tag
    assert client.cookies[webchat.COOKIE].value == token


def test_an_event_without_its_conversation_key_fails_loudly() -> None:
    from lifeline.channels.models import InboundEvent as Event

    event = Event(channel="web", external_id="x", payload={"text": "hi"}, ordering_key="k")
    with pytest.raises(ValueError, match="without its conversation key"):
        webchat.handle_event(event)


def test_the_device_secret_is_not_in_its_repr() -> None:
    device = webchat.Device("k" * 43, "s" * 43)
    assert "s" * 43 not in repr(device)


def test_a_page_restored_with_an_old_message_id_does_not_lose_the_new_text() -> None:
    """The back button may bring back a page (and its message id) already sent: the new text
    sent from it is kept, not dropped as a repeat."""
    client = Client()
    assert send(client, "первое") == 302
    mid = message_id(client)
    assert send(client, "второе", mid) == 302
    assert send(client, "третье-маячок", mid) == 302  # the restored page, new text
    texts = {m.text for m in Message.objects.filter(direction="in")}
    assert {"первое", "второе", "третье-маячок"} <= texts
