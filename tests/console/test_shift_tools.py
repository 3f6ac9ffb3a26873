"""Chatwoot-grade work in the console without a browser: queue rows with preview, wait and
unread count, the next item, internal notes, resolve/close, canned answers kept in the database
and managed by supervisors, and call backs only where the person asked for one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from lifeline.audit.models import AuditEntry
from lifeline.channels.models import OutboundMessage
from lifeline.conversations import services
from lifeline.conversations.models import (
    CannedAnswer,
    Conversation,
    ConversationStatus,
    FlowRun,
    Message,
    Note,
)
from lifeline.core.models import Role, User
from lifeline.phone import cti
from lifeline.phone.models import CallbackRequest, CallbackStatus
from tests.factories import create_user, login_verified, say, telegram_conversation

pytestmark = pytest.mark.django_db


def handed_off(address: str, *texts: str, language: str = "en") -> Conversation:
    """A Telegram conversation in which the person asked for a human."""
    conversation = telegram_conversation(address, language=language)
    say(conversation, "/start", *texts)
    conversation.refresh_from_db()
    if conversation.status != ConversationStatus.WAITING:
        services_handoff(conversation)
    return conversation


def services_handoff(conversation: Conversation) -> None:
    from lifeline.conversations.host import _cancel_runs

    _cancel_runs(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.WAITING, waiting_since=timezone.now() - timedelta(minutes=3)
    )
    conversation.refresh_from_db()


def person_writes(conversation: Conversation, text: str) -> None:
    from lifeline.conversations.host import conversation_input

    conversation_input(conversation, text)


def console(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    return client


# --- Queue rows ----------------------------------------------------------------------------------


def test_queue_row_shows_preview_channel_language_wait_and_unread() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("7001")
    person_writes(item, "I am scared, please answer me soon")
    row = next(r for r in services.queue_rows(operator) if r.conversation.pk == item.pk)
    assert row.preview == "I am scared, please answer me soon"
    assert row.preview_in
    assert row.unread == 1  # one message of his since it came to the queue
    assert row.waited >= timedelta(minutes=3)
    page = console(operator).get("/console/queue/").content.decode()
    assert "I am scared, please answer me soon" in page
    assert 'class="unread-count"' in page
    assert "Telegram" in page
    assert "English" in page


def test_a_long_preview_is_cut_and_reading_clears_the_unread_count() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("7002")
    services.conversation_take(conversation=item, actor=operator)
    person_writes(item, "word " * 100)
    person_writes(item, "second")
    rows = {r.conversation.pk: r for r in services.queue_rows(operator)}
    assert rows[item.pk].unread == 2
    client = console(operator)
    client.get(f"/console/conversations/{item.pk}/")
    rows = {r.conversation.pk: r for r in services.queue_rows(operator)}
    assert rows[item.pk].unread == 0
    person_writes(item, "word " * 100)
    row = {r.conversation.pk: r for r in services.queue_rows(operator)}[item.pk]
    assert row.unread == 1
    assert len(row.preview) == services.PREVIEW_CHARS
    assert row.preview.endswith("…")
    # An operator's answer counts as read too; the preview stays what he wrote.
    services.conversation_reply(conversation=item, actor=operator, text="We are here.")
    row = {r.conversation.pk: r for r in services.queue_rows(operator)}[item.pk]
    assert row.unread == 0
    assert row.preview_in
    assert row.preview.startswith("word word")


def test_someone_elses_reading_does_not_clear_the_assignees_unread() -> None:
    operator, supervisor = create_user(Role.OPERATOR), create_user(Role.SUPERVISOR)
    item = handed_off("7003")
    services.conversation_take(conversation=item, actor=operator)
    person_writes(item, "hello?")
    console(supervisor).get(f"/console/conversations/{item.pk}/")
    rows = {r.conversation.pk: r for r in services.queue_rows(operator)}
    assert rows[item.pk].unread == 1


def test_next_item_goes_to_the_front_first_then_the_longest_wait() -> None:
    operator = create_user(Role.OPERATOR)
    client = console(operator)
    response = client.get("/console/queue/next/", follow=True)
    assert response.redirect_chain[-1][0] == "/console/queue/"
    assert "Nobody is waiting." in response.content.decode()
    old = handed_off("7004")
    front = handed_off("7005")
    Conversation.objects.filter(pk=front.pk).update(priority=1, waiting_reason="front")
    assert client.get("/console/queue/next/")["Location"] == f"/console/conversations/{front.pk}/"
    services.conversation_take(conversation=front, actor=operator)
    services.conversation_reply(conversation=front, actor=operator, text="Here.")
    assert client.get("/console/queue/next/")["Location"] == f"/console/conversations/{old.pk}/"
    # His own conversation with a new message comes before nothing else waiting.
    services.conversation_take(conversation=old, actor=operator)
    services.conversation_reply(conversation=old, actor=operator, text="Here.")
    person_writes(front, "they are coming")
    assert client.get("/console/queue/next/")["Location"] == f"/console/conversations/{front.pk}/"


# --- Notes and closing ---------------------------------------------------------------------------


def test_an_internal_note_is_shown_to_staff_and_never_sent() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("7006")
    client = console(operator)
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    outbox_before = OutboundMessage.objects.count()
    messages_before = Message.objects.filter(conversation=item).count()
    response = client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "note", "note": "Voice sounded drunk; ask again tomorrow"},
        follow=True,
    )
    assert "It is not sent to the person." in response.content.decode()
    assert OutboundMessage.objects.count() == outbox_before
    assert Message.objects.filter(conversation=item).count() == messages_before
    note = Note.objects.get(conversation=item)
    assert note.author == operator
    page = client.get(f"/console/conversations/{item.pk}/").content.decode()
    assert 'class="msg note"' in page
    assert "ask again tomorrow" in page
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM conversations_note")
        (raw,) = cursor.fetchone()
    assert "drunk" not in str(bytes(raw) if isinstance(raw, memoryview) else raw)
    assert AuditEntry.objects.filter(action="conversation.note_added").count() == 1
    # An empty note is refused with words, and nothing is stored.
    response = client.post(f"/console/conversations/{item.pk}/", {"action": "note", "note": " "})
    assert response.status_code == 400
    assert "Write the note first." in response.content.decode()
    assert Note.objects.count() == 1


def test_closing_takes_it_off_the_queue_stops_the_bot_and_clears_the_front_mark() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("7007")
    Conversation.objects.filter(pk=item.pk).update(priority=1, waiting_reason="front")
    client = console(operator)
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    response = client.post(f"/console/conversations/{item.pk}/", {"action": "close"})
    assert response["Location"] == "/console/queue/"
    item.refresh_from_db()
    assert item.status == ConversationStatus.CLOSED
    assert (item.priority, item.waiting_reason, item.waiting_since) == (0, "", None)
    assert not FlowRun.objects.filter(conversation=item, status="active").exists()
    assert item.pk not in {r.conversation.pk for r in services.queue_rows(operator)}
    assert AuditEntry.objects.filter(action="conversation.closed", object_id=str(item.pk)).exists()
    # He can still read it; nothing offers to answer a closed conversation.
    page = client.get(f"/console/conversations/{item.pk}/").content.decode()
    assert 'id="reply-form"' not in page
    assert "Closed" in page


def test_an_operator_cannot_close_another_operators_conversation() -> None:
    a, b = create_user(Role.OPERATOR), create_user(Role.OPERATOR)
    item = handed_off("7008")
    services.conversation_take(conversation=item, actor=a)
    with pytest.raises(Exception, match="Another operator"):
        services.conversation_close(conversation=item, actor=b)
    item.refresh_from_db()
    assert item.status == ConversationStatus.ACTIVE


# --- Canned answers ----------------------------------------------------------------------------


def test_supervisor_writes_changes_retires_and_brings_back_a_canned_answer() -> None:
    supervisor = create_user(Role.SUPERVISOR)
    client = console(supervisor)
    response = client.post(
        "/console/canned/",
        {"language": "uk", "title": "Укриття", "text": "Залишайтеся в укритті.", "position": "1"},
    )
    assert response.status_code == 302
    answer = CannedAnswer.objects.get(title="Укриття")
    assert answer.created_by == supervisor
    assert answer.active
    client.post(
        f"/console/canned/{answer.pk}/",
        {
            "language": "uk",
            "title": "Укриття",
            "text": "Залишайтеся в укритті й чекайте.",
            "position": "1",
        },
    )
    answer.refresh_from_db()
    assert answer.text == "Залишайтеся в укритті й чекайте."
    client.post(f"/console/canned/{answer.pk}/", {"action": "retire"})
    answer.refresh_from_db()
    assert not answer.active
    assert answer not in services.canned_for("uk")
    client.post(f"/console/canned/{answer.pk}/", {"action": "restore"})
    answer.refresh_from_db()
    assert answer.active
    actions = list(
        AuditEntry.objects.filter(object_type="canned_answer", object_id=str(answer.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["canned.created", "canned.changed", "canned.retired", "canned.restored"]
    changed = AuditEntry.objects.get(action="canned.changed")
    assert changed.fields == ["text"]


def test_a_bad_canned_answer_is_refused_with_words_and_operators_may_not_manage_them() -> None:
    supervisor, operator = create_user(Role.SUPERVISOR), create_user(Role.OPERATOR)
    before = CannedAnswer.objects.count()
    response = console(supervisor).post(
        "/console/canned/", {"language": "xx", "title": "", "text": "x" * 3000}
    )
    assert response.status_code == 400
    assert CannedAnswer.objects.count() == before
    assert 'role="alert"' in response.content.decode()
    assert console(operator).get("/console/canned/").status_code == 403
    with pytest.raises(Exception, match="Only supervisors"):
        services.canned_save(actor=operator, answer=None, language="en", title="t", text="t")


def test_operator_picks_a_canned_answer_edits_it_and_sends_his_version() -> None:
    supervisor, operator = create_user(Role.SUPERVISOR), create_user(Role.OPERATOR)
    mine = services.canned_save(
        actor=supervisor,
        answer=None,
        language="en",
        title="Shelter",
        text="Stay under cover, NAME.",
    )
    russian = services.canned_save(
        actor=supervisor, answer=None, language="ru", title="Укрытие", text="Оставайтесь."
    )
    item = handed_off("7009")
    client = console(operator)
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    page = client.get(f"/console/conversations/{item.pk}/").content.decode()
    assert "Shelter" in page
    assert "Укрытие" not in page
    # Without JavaScript the link puts the text in the box; nothing is sent yet.
    sent_before = Message.objects.filter(conversation=item, direction="out").count()
    page = client.get(f"/console/conversations/{item.pk}/?canned={mine.pk}").content.decode()
    assert ">Stay under cover, NAME.</textarea>" in page
    assert Message.objects.filter(conversation=item, direction="out").count() == sent_before
    # A canned answer of another language, or a crafted id, puts nothing in the box.
    for crafted in (str(russian.pk), "x", "²", "99999999999999999999"):
        crafted_page = client.get(f"/console/conversations/{item.pk}/?canned={crafted}")
        assert crafted_page.status_code == 200
        assert "></textarea>" in crafted_page.content.decode()
    client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "reply", "text": "Stay under cover, Ivan."},
    )
    last = Message.objects.filter(conversation=item, direction="out").order_by("created_at").last()
    assert last is not None
    assert last.text == "Stay under cover, Ivan."


# --- Call backs ----------------------------------------------------------------------------------


def test_a_missed_call_is_never_offered_for_a_call_back_unless_he_asked() -> None:
    operator = create_user(Role.OPERATOR)
    client = console(operator)
    cti.handle("office", {"event": "newCall", "callId": "c1", "from": "+79991112233"})
    cti.handle("office", {"event": "hangup", "callId": "c1"})
    page = client.get("/console/calls/missed/").content.decode()
    assert "Do not call: he did not ask" in page
    assert "He asked for one" not in page
    assert "+7999" not in page
    # In a chat he asks to be called back on that number after eight in the evening.
    item = handed_off("7010")
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    response = client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "callback", "number": "8 999 111-22-33", "safe_time": "after 20:00 Moscow"},
    )
    assert response.status_code == 302
    request = CallbackRequest.objects.get()
    assert request.number == "+79991112233"
    assert request.contact == item.contact
    with connection.cursor() as cursor:
        cursor.execute("SELECT number, safe_time FROM phone_callbackrequest")
        raw = " ".join(str(bytes(v) if isinstance(v, memoryview) else v) for v in cursor.fetchone())
    assert "9991112233" not in raw
    assert "20:00" not in raw
    page = client.get("/console/calls/missed/").content.decode()
    assert "He asked for one: see above" in page
    assert "+7999" not in page  # the number only when asked for, and audited
    page = client.post(
        "/console/calls/missed/", {"action": "show", "callback": str(request.pk)}
    ).content.decode()
    assert "+79991112233" in page
    assert "after 20:00 Moscow" in page
    assert AuditEntry.objects.filter(action="callback.read", object_id=str(request.pk)).exists()
    client.post("/console/calls/missed/", {"action": "done", "callback": str(request.pk)})
    request.refresh_from_db()
    assert request.status == CallbackStatus.DONE
    assert request.done_by == operator
    page = client.get("/console/calls/missed/").content.decode()
    assert "Do not call: he did not ask" in page  # done: no longer an open request


def test_a_call_back_without_a_usable_number_or_time_is_refused_with_words() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("7011")
    client = console(operator)
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    for number, safe_time, error in (
        ("call me", "now", "with the country code"),
        ("+79991112233", "", "when he said a call is safe"),
        ("+79991112233", "x" * 300, "when he said a call is safe"),
    ):
        response = client.post(
            f"/console/conversations/{item.pk}/",
            {"action": "callback", "number": number, "safe_time": safe_time},
        )
        assert response.status_code == 400
        page = response.content.decode()
        assert error in page
        assert f'value="{number}"' in page  # what he typed is still there
    assert not CallbackRequest.objects.exists()
    for crafted in ("x", "²", "", "00000000-0000-0000-0000-000000000000"):
        response = client.post("/console/calls/missed/", {"action": "show", "callback": crafted})
        assert response.status_code == 302


# --- Stage 2 by hand -----------------------------------------------------------------------


def test_the_operator_reidentifies_by_hand_within_limits_and_audited(
    settings: object,
) -> None:
    from django.core.cache import cache

    from lifeline.cases import workflow
    from lifeline.cases.selectors import cases_visible_to
    from tests.factories import Staff, advance, create_case

    cache.clear()
    settings.LIFELINE_REIDENTIFY_LIMIT = 3  # type: ignore[attr-defined]
    staff = Staff()
    case = create_case(service_number="РУ-000311")
    advance(case, "verified", staff)
    workflow.case_set_codename(case=case, codename="река окно ключ")
    operator = create_user(Role.OPERATOR)
    item = handed_off("7012")
    Conversation.objects.filter(pk=item.pk).update(priority=1, waiting_reason="front_unverified")
    client = console(operator)
    # Before taking it, nothing may be tried.
    with pytest.raises(Exception, match="Take the conversation"):
        services.conversation_reidentify(
            conversation=item, actor=operator, service_number="РУ-000311", codename="река"
        )
    client.post(f"/console/conversations/{item.pk}/", {"action": "take"})
    assert not cases_visible_to(operator).filter(pk=case.pk).exists()
    response = client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "reidentify", "service_number": "РУ-000311", "codename": "не те"},
    )
    assert response.status_code == 400
    assert "do not match" in response.content.decode()
    assert not cases_visible_to(operator).filter(pk=case.pk).exists()
    response = client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "reidentify", "service_number": "РУ-000311", "codename": "Река  окно КЛЮЧ"},
    )
    assert response.status_code == 302
    assert cases_visible_to(operator).filter(pk=case.pk).exists()  # access follows the chat
    item.refresh_from_db()
    assert item.waiting_reason == "front"
    assert list(
        AuditEntry.objects.filter(object_id=str(item.pk), action__startswith="conversation.reid")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["conversation.reidentify_failed", "conversation.reidentified"]
    # Past the limit even the right words are refused, in words.
    for _ in range(3):
        client.post(
            f"/console/conversations/{item.pk}/",
            {"action": "reidentify", "service_number": "РУ-000311", "codename": "x"},
        )
    response = client.post(
        f"/console/conversations/{item.pk}/",
        {"action": "reidentify", "service_number": "РУ-000311", "codename": "река окно ключ"},
    )
    assert "Too many tries" in response.content.decode()
    cache.clear()


# --- Suspicion hints for the verifier -------------------------------------------------------


def test_suspicion_hints_name_a_fast_intake_a_repeat_applicant_and_a_burst() -> None:
    from lifeline.cases import selectors
    from lifeline.cases.models import Case
    from tests.factories import create_case

    verifier = create_user(Role.VERIFIER)
    item = handed_off("7013")
    calm = create_case(requester=item.contact, channel="telegram")
    # The application came within seconds of his first message: a script, not a person.
    assert any("faster than a person types" in h for h in selectors.suspicion_hints(calm))
    again = create_case(requester=item.contact, channel="telegram")
    hints = selectors.suspicion_hints(again)
    assert any("opened 1 other application." in h for h in hints)
    # A slow, single application from a new person has no hint.
    from lifeline.contacts.models import Contact

    Contact.objects.filter(pk=item.contact_id).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    lone = create_case(channel="web")
    assert selectors.suspicion_hints(lone) == []
    for _ in range(selectors.BURST_PER_HOUR):
        create_case(channel="web")
    assert any("Part of a burst" in h for h in selectors.suspicion_hints(lone))
    page = console(verifier).get("/console/verification/").content.decode()
    assert 'class="warning-text suspicion"' in page
    assert Case.objects.count() == selectors.BURST_PER_HOUR + 3
