"""Every path that holds personal data reaches older copies when it is erased (issue 15, part 6,
found by the adversarial review): retention purges destroy keys, rows without a person (a call
from an unknown number, the operator's phone script, a call back asked for on the phone) have
keys of their own, what arrives is sealed under an hourly inbox key that is retired, an erasure
during a blind-index rotation reaches every waiting message, and the key store keeps no copy of
a destroyed key and loses none of a new one."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from lifeline.cases import workflow
from lifeline.cases.models import Case
from lifeline.channels import inbox, telegram_accept
from lifeline.channels import retention as channel_retention
from lifeline.channels.models import InboundEvent
from lifeline.conversations import retention
from lifeline.conversations.host import run_input, start_flow
from lifeline.conversations.models import Conversation, FlowRun, Message, Note
from lifeline.conversations.services import contact_erase
from lifeline.core import crypto, keystore
from lifeline.core.models import KeyShred
from lifeline.phone import callbacks, cti
from lifeline.phone import retention as phone_retention
from lifeline.phone.models import Call, CallbackRequest
from tests.channels.fake_telegram import update
from tests.core.test_keystore import copy_of_database, opens, rows_of
from tests.factories import Staff, create_case, say, telegram_conversation

pytestmark = pytest.mark.django_db


def readable(backup: dict[tuple[str, str, str], str], *markers: str) -> list[tuple[str, str]]:
    """The (table, column) of every value in ``backup`` that opens today and holds a marker."""
    keystore.store().forget_cache()
    found = []
    for (table, column, pk), token in backup.items():
        try:
            plain = crypto.decrypt(token, table=table, column=column, pk=pk).decode()
        except crypto.DecryptionError:
            continue
        if any(m in plain for m in markers):
            found.append((table, column))
    return found


def test_a_purged_transcript_does_not_open_in_an_older_copy(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LIFELINE_RETENTION_TRANSCRIPT_DAYS = 180
    conversation = telegram_conversation("8810001")
    say(conversation, "/start", "Меня зовут Пётр Секретов, в/ч 12345")
    Note.objects.create(conversation=conversation, text="брат звонил")
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=timezone.now() - timedelta(days=181)
    )
    backup = copy_of_database()
    his = rows_of(
        backup,
        "conversations_message",
        {str(m.pk) for m in Message.objects.filter(conversation=conversation)},
    )
    his.update(
        rows_of(
            backup,
            "conversations_note",
            {str(n.pk) for n in Note.objects.filter(conversation=conversation)},
        )
    )
    assert his
    assert all(opens(*k, v) for k, v in his.items())
    with django_capture_on_commit_callbacks(execute=True):
        assert retention.purge_transcripts()["conversations"] == 1
    assert [k for k, v in his.items() if opens(*k, v)] == []
    # What stays of him (the address the bot answers on) still reads.
    assert conversation.identity.__class__.objects.get(pk=conversation.identity_id).address


def test_purged_call_numbers_do_not_open_in_an_older_copy(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LIFELINE_RETENTION_CALL_DAYS = 30
    staff = Staff()
    # A call from a number never heard before and a call back asked for on the phone: no
    # person to belong to, so each has a key of its own.
    cti.handle("pbx-1", {"event": "newCall", "callId": "c-1", "from": "+79161234567"})
    request = callbacks.callback_request(
        actor=staff.operator, conversation=None, number="+79169998877", safe_time="после 22:00"
    )
    callbacks.callback_close(actor=staff.operator, request=request, done=True)
    call = Call.objects.get()
    assert call.data_key is not None
    backup = copy_of_database()
    mine = {
        k: v
        for k, v in backup.items()
        if k[2] in (str(call.pk), str(request.pk))
        and k[0] in ("phone_call", "phone_callbackrequest")
    }
    assert {v[:4] for v in mine.values()} == {"lf2:"}
    old = timezone.now() - timedelta(days=31)
    Call.objects.update(ringing_at=old)
    CallbackRequest.objects.update(done_at=old, created_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert phone_retention.purge() == {"call_numbers": 1, "callback_numbers": 1}
    assert Call.objects.get().caller is None
    assert [k for k, v in mine.items() if opens(*k, v)] == []


ANSWERS = [
    "self",
    "mobilised",
    "Телефонов Пётр Ильич",
    "02.07.1987",
    "yes",
    "ЖЖ-654321",
    "сержант",
    "в/ч 00777",
    "Белгород",
    "second_phone",
]


def phone_script(answers: list[str]) -> FlowRun:
    """An operator runs the phone script (no conversation) and types the caller's answers."""
    staff = Staff()
    start_flow(None, "operator_call", language="en", operator=staff.operator)
    run = FlowRun.objects.get(operator=staff.operator, flow="operator_call")
    for answer in answers:
        run_input(run, answer)
        run.refresh_from_db()
    return run


def test_a_phone_application_leaves_nothing_in_older_copies_once_expired(
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = phone_script(ANSWERS)
    backup = copy_of_database()  # taken during the call
    run_input(run, "yes")
    case = Case.objects.get()
    assert case.full_name == "Телефонов Пётр Ильич"
    backup.update(copy_of_database())
    with django_capture_on_commit_callbacks(execute=True):
        retention.forget_scripts()  # the worker's turn: the script ended
        workflow.case_expire(case=case, days=90)
    assert readable(backup, "Телефонов", "ЖЖ-654321") == []


def test_an_abandoned_phone_script_forgets_its_answers(
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = phone_script(ANSWERS[:6])  # the caller hangs up after his service number
    backup = copy_of_database()
    assert retention.forget_scripts() == 0  # still being filled in
    with django_capture_on_commit_callbacks(execute=True):
        assert retention.forget_scripts(timezone.now() + timedelta(days=2)) == 1
    run.refresh_from_db()
    assert run.state is None
    assert run.status == "expired"
    assert readable(backup, "Телефонов", "ЖЖ-654321") == []


@pytest.mark.parametrize("rotating", [False, True], ids=["before-rotation", "during-rotation"])
def test_a_supervisors_erasure_drops_his_waiting_messages(rotating: bool) -> None:
    staff = Staff()
    conversation = telegram_conversation("77002233")
    say(conversation, "/start")
    if rotating:  # the new blind-index key is in; the command has not reached him yet
        crypto.set_keyring(crypto.add_blind_index_key(crypto.keyring()))
    assert telegram_accept.accept(update(900, 77002233, "Я Пётр Секретов, в/ч 12345"))
    waiting = InboundEvent.objects.get(external_id="900")
    contact_erase(conversation=conversation, actor=staff.supervisor)
    assert not InboundEvent.objects.filter(pk=waiting.pk).exists()
    inbox.process_all()
    assert "Я Пётр Секретов, в/ч 12345" not in [m.text for m in Message.objects.all()]


def test_what_arrives_is_sealed_under_an_hourly_key_that_is_retired(
    monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert telegram_accept.accept(update(1, 7400, "/start"))
        inbox.process_all()
        assert telegram_accept.accept(update(2, 7400, "Я Секретов Пётр, в/ч 12345"))
        assert telegram_accept.accept(update(3, 7401, "Я Ждущий Иван"))
    backup = copy_of_database()  # a backup (or a WAL segment) while both waited
    events = {str(e.pk) for e in InboundEvent.objects.all()}
    tokens = rows_of(backup, "channels_inboundevent", events)
    assert tokens
    assert all(t.startswith("lf2:") for t in tokens.values())
    hour_key = keystore.inbox_key()
    inbox.process_all(ordering_key=crypto.telegram_id_index(7400))  # his; the other still waits
    with django_capture_on_commit_callbacks(execute=True):
        _webhook_forget(7400)
    # An hour on: the retention turn moves what still waits to the new hour's key and destroys
    # the old one.
    monkeypatch.setattr(channel_retention, "INBOX_KEY_SECONDS", -1)
    monkeypatch.setattr(keystore, "_inbox", {})
    assert channel_retention.retire_inbox_keys() == 1
    assert not keystore.store().exists(hour_key.id)
    assert readable(backup, "Секретов", "Ждущий") == []
    # The one still waiting was re-sealed, not lost: it is processed and answered.
    inbox.process_all()
    assert "Я Ждущий Иван" in [m.text for m in Message.objects.all()]


def _webhook_forget(chat: int) -> None:
    assert telegram_accept.accept(update(10, chat, "/forget"))
    inbox.process_all()
    assert telegram_accept.accept(update(11, chat, "Да, стереть"))
    inbox.process_all()


def test_a_destroyed_key_is_gone_from_the_files_or_left_for_the_purge(
    tmp_path: Path, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    location = str(tmp_path / "keystore.sqlite3")
    settings.LIFELINE_KEYSTORE = location
    store = keystore.KeyStore(location)
    keystore.set_store(store)
    case = create_case(full_name="Стираемый")
    old = case.data_key
    assert old is not None
    rows = store._db().execute("SELECT wrapped FROM data_keys WHERE id = ?", (old.hex,))
    wrapped = rows[0][0].split(":")[2].encode()
    # Another process reads the key store (the hourly backup of docs/operations.md) while the
    # erasure commits: the write-ahead log cannot be emptied yet.
    reader = sqlite3.connect(location, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM data_keys").fetchall()
    with django_capture_on_commit_callbacks(execute=True):
        workflow.case_erase_personal_data(case=case, via="forget")
    assert not store.exists(old)
    on_disk = [p.name for p in tmp_path.iterdir() if wrapped in p.read_bytes()]
    assert on_disk  # the log still holds it, so the erasure is not struck off:
    assert KeyShred.objects.filter(key=old).exists()
    reader.execute("COMMIT")
    reader.close()
    assert keystore.purge() == {}  # the next turn empties the log
    assert not KeyShred.objects.exists()
    assert [p.name for p in tmp_path.iterdir() if wrapped in p.read_bytes()] == []


def test_a_new_key_reaches_the_disk_before_it_is_used(tmp_path: Path) -> None:
    store = keystore.KeyStore(str(tmp_path / "ks.sqlite3"))
    store.create()
    assert store._db().execute("PRAGMA synchronous")[0][0] >= 2  # FULL


# --- Found by the second review ----------------------------------------------------------------


def test_purging_an_old_conversation_loses_nothing_he_writes_meanwhile(
    settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The purge shreds the old conversation's key (locked), never the one he writes in now."""
    settings.LIFELINE_RETENTION_TRANSCRIPT_DAYS = 180
    old = telegram_conversation("8810001")
    say(old, "/start", "Старое сообщение")
    Conversation.objects.filter(pk=old.pk).update(
        status="closed", last_message_at=timezone.now() - timedelta(days=200)
    )
    new = Conversation.objects.create(  # he wrote again: a new conversation
        contact=old.contact, identity=old.identity, channel="telegram", language="ru"
    )
    say(new, "/start")
    backup = copy_of_database()
    real = keystore.shred

    def shred(owner: Any) -> Any:
        # The worker takes his next message while the purge runs, reading keys as it goes.
        say(Conversation.objects.get(pk=new.pk), "Я хочу сдаться, я в Белгороде")
        return real(owner)

    monkeypatch.setattr(keystore, "shred", shred)
    with django_capture_on_commit_callbacks(execute=True):
        assert retention.purge_transcripts()["conversations"] == 1
    keystore.store().forget_cache()
    texts = [m.text for m in Message.objects.filter(conversation=new)]
    assert "Я хочу сдаться, я в Белгороде" in texts
    assert None not in texts
    assert readable(backup, "Старое сообщение") == []


def test_a_purge_cut_off_midway_leaves_numbers_and_keys_for_the_next_turn(
    settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LIFELINE_RETENTION_CALL_DAYS = 30
    cti.handle("pbx-1", {"event": "newCall", "callId": "c-1", "from": "+79161234567"})
    backup = copy_of_database()
    Call.objects.update(ringing_at=timezone.now() - timedelta(days=31))
    real = keystore.shred_many

    def broken(rows: Any) -> int:
        raise OSError("the key store went away")

    monkeypatch.setattr(keystore, "shred_many", broken)
    with pytest.raises(OSError, match="went away"):
        phone_retention.purge()
    assert Call.objects.get().caller == "+79161234567"  # nothing half done
    monkeypatch.setattr(keystore, "shred_many", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert phone_retention.purge() == {"call_numbers": 1}
    assert readable(backup, "+79161234567") == []


def test_a_batch_of_purged_numbers_costs_one_destruction(
    settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LIFELINE_RETENTION_CALL_DAYS = 30
    for n in range(20):
        cti.handle("pbx-1", {"event": "newCall", "callId": f"c-{n}", "from": f"+7916123450{n:02d}"})
    Call.objects.update(ringing_at=timezone.now() - timedelta(days=31))
    calls = []
    real = keystore.KeyStore.destroy

    def counted(self: Any, key_ids: Any) -> Any:
        calls.append(list(key_ids))
        return real(self, calls[-1])

    monkeypatch.setattr(keystore.KeyStore, "destroy", counted)
    with django_capture_on_commit_callbacks(execute=True):
        assert phone_retention.purge() == {"call_numbers": 20}
    assert [len(c) for c in calls] == [20]


def test_an_inbox_key_is_retired_only_well_after_its_hour(monkeypatch: Any) -> None:
    key = keystore.inbox_key()
    now = time.time()
    monkeypatch.setattr(keystore, "_inbox", {})
    monkeypatch.setattr(channel_retention.time, "time", lambda: now + 3601)
    assert channel_retention.retire_inbox_keys() == 0  # a row sealed at 59:59 may be in flight
    assert keystore.store().exists(key.id)
    monkeypatch.setattr(channel_retention.time, "time", lambda: now + 3600 + 601)
    assert channel_retention.retire_inbox_keys() == 1
    assert not keystore.store().exists(key.id)
    assert not KeyShred.objects.exists()


def test_a_phone_script_from_before_data_keys_is_forgotten_too() -> None:
    run = phone_script(ANSWERS[:6])
    FlowRun.objects.filter(pk=run.pk).update(data_key=None, status="ended")
    assert retention.forget_scripts() == 1
    assert FlowRun.objects.get(pk=run.pk).state is None
