"""Crypto-shredding (issue 15, part 6): each case and each contact has its own data key in a key
store apart from the main database; erasing destroys it, so that a copy of the main database
taken before the erasure, read with the current key store and root keys, no longer opens what
was erased; root-key rotation re-wraps the keys without touching a field."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from lifeline.cases import workflow
from lifeline.cases.models import Case, CaseEvent
from lifeline.conversations.host import forget_contact
from lifeline.conversations.models import Message
from lifeline.core import crypto, keystore
from lifeline.core.models import KeyShred, SealedModel
from tests.factories import Staff, create_case, say, telegram_conversation

pytestmark = pytest.mark.django_db

Copy = dict[tuple[str, str, str], str]  # (table, column, pk) -> the token as stored


def copy_of_database() -> Copy:
    """Every ciphertext of the main database, as a backup taken now would hold it."""
    found: Copy = {}
    for model in apps.get_models():
        if not issubclass(model, SealedModel) or not model.encrypted_fields():
            continue
        table = model._meta.db_table
        for field in model.encrypted_fields():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {field.column} FROM {table} WHERE {field.column} IS NOT NULL"  # noqa: S608
                )
                for pk, token in cursor.fetchall():
                    found[(table, field.column, str(uuid.UUID(str(pk))))] = token
    return found


def key_id(owner: Any) -> uuid.UUID:
    """The id of an owner's data key (every case and contact has one once saved)."""
    assert owner.data_key is not None
    return uuid.UUID(str(owner.data_key))


def opens(table: str, column: str, pk: str, token: str) -> bool:
    keystore.store().forget_cache()  # read the key store as it is now, not this process's memory
    try:
        crypto.decrypt(token, table=table, column=column, pk=pk)
    except crypto.DecryptionError:
        return False
    return True


def rows_of(copy: Copy, table: str, pks: set[str]) -> Copy:
    return {k: v for k, v in copy.items() if k[0] == table and k[2] in pks}


def test_each_case_and_contact_has_its_own_key_held_apart_from_the_database() -> None:
    conversation = telegram_conversation("5550001")
    say(conversation, "/start")
    one = create_case(requester=conversation.contact, full_name="Первый Заявитель")
    two = create_case(full_name="Второй Заявитель")
    conversation.contact.refresh_from_db()
    keys = {one.data_key, two.data_key, conversation.contact.data_key}
    assert None not in keys
    assert len(keys) == 3
    copy = copy_of_database()
    case_tokens = rows_of(copy, "cases_case", {str(one.pk)})
    assert case_tokens
    assert all(t.startswith(f"lf2:{key_id(one).hex}:") for t in case_tokens.values())
    messages = rows_of(copy, "conversations_message", {str(m.pk) for m in Message.objects.all()})
    assert messages
    conversation.refresh_from_db()
    # A transcript is sealed under its conversation's key (purged on its own schedule).
    assert all(t.startswith(f"lf2:{key_id(conversation).hex}:") for t in messages.values())
    assert key_id(conversation) not in keys
    # The main database holds no key: not the data keys, wrapped or not.
    tables = connection.introspection.table_names()
    assert "data_keys" not in tables
    store = keystore.store().location
    assert store != connection.settings_dict["NAME"]
    with sqlite3.connect(store) as db:
        wrapped = dict(db.execute("SELECT id, wrapped FROM data_keys").fetchall())
    assert key_id(one).hex in wrapped
    assert all(w.startswith("lf1:1:") for w in wrapped.values())  # wrapped by the root key


@pytest.mark.parametrize(
    "erase",
    [
        pytest.param(
            lambda case, _c: workflow.case_erase_personal_data(case=case, via="forget"),
            id="forget",
        ),
        pytest.param(lambda case, _c: workflow.case_expire(case=case, days=90), id="expiry"),
    ],
)
def test_after_erasing_a_case_an_older_copy_of_the_database_no_longer_opens_it(
    erase: Callable[[Case, Any], Any], django_capture_on_commit_callbacks: Any
) -> None:
    staff = Staff()
    case = create_case(
        full_name="Стираемый Иванович",
        service_number="ШР-000111",
        unit="в/ч 00111",
    )
    workflow.case_add_note(case=case, actor=staff.supervisor, text="Звонил брат, Пётр")
    other = create_case(full_name="Другой Заявитель", service_number="ШР-000222")
    backup = copy_of_database()
    mine = {
        k: v
        for k, v in backup.items()
        if (k[0] == "cases_case" and k[2] == str(case.pk))
        or (k[0] == "cases_caseevent" and CaseEvent.objects.filter(pk=k[2], case=case).exists())
    }
    theirs = rows_of(backup, "cases_case", {str(other.pk)})
    assert len(mine) >= 5
    assert theirs
    assert all(opens(*k, v) for k, v in mine.items())  # the backup was readable
    old_key = key_id(case)

    with django_capture_on_commit_callbacks(execute=True):
        erase(case, staff)

    assert not keystore.store().exists(old_key)
    assert not KeyShred.objects.exists()  # destroyed once the erasure committed
    # The copy taken before, with today's key store and root keys: nothing of his opens.
    assert not any(opens(*k, v) for k, v in mine.items())
    key, token = next(iter(mine.items()))
    with pytest.raises(keystore.KeyErasedError):
        crypto.decrypt(token, table=key[0], column=key[1], pk=key[2])
    # Another man's application is untouched; what the erasure kept still reads.
    assert all(opens(*k, v) for k, v in theirs.items())
    assert Case.objects.get(pk=other.pk).full_name == "Другой Заявитель"
    loaded = Case.objects.get(pk=case.pk)
    assert loaded.full_name is None
    assert loaded.data_key != old_key
    history = list(loaded.events.all())
    assert history
    assert all(e.data is None or isinstance(e.data, dict) for e in history)
    assert all(e.note is None for e in history)


def test_after_erasing_a_person_an_older_copy_no_longer_opens_his_messages(
    django_capture_on_commit_callbacks: Any,
) -> None:
    staff = Staff()
    conversation = telegram_conversation("5550002")
    say(conversation, "/start", "Меня зовут Сергей, я из Пскова")
    case = create_case(requester=conversation.contact, full_name="Сергей Псковский")
    neighbour = telegram_conversation("5550003")
    say(neighbour, "/start", "Я сосед")
    contact = conversation.contact
    contact.refresh_from_db()
    backup = copy_of_database()
    his_messages = rows_of(
        backup,
        "conversations_message",
        {str(m.pk) for m in Message.objects.filter(conversation=conversation)},
    )
    neighbours = rows_of(
        backup,
        "conversations_message",
        {str(m.pk) for m in Message.objects.filter(conversation=neighbour)},
    )
    his_case = rows_of(backup, "cases_case", {str(case.pk)})
    assert his_messages
    assert neighbours
    assert his_case
    assert all(opens(*k, v) for k, v in his_messages.items())

    with django_capture_on_commit_callbacks(execute=True):
        counts = forget_contact(conversation, actor=staff.supervisor, via="supervisor")

    assert counts["data_keys"] == 2  # his own (his address) and his conversation's
    assert not any(opens(*k, v) for k, v in his_messages.items())
    assert not any(opens(*k, v) for k, v in his_case.items())
    assert all(opens(*k, v) for k, v in neighbours.items())


def test_a_key_the_process_did_not_live_to_destroy_is_destroyed_by_the_purge() -> None:
    case = create_case(full_name="Недостёртый")
    old = key_id(case)
    # The erasure commits; its process dies before the key store hears of it (on_commit
    # callbacks never run inside this test's transaction).
    workflow.case_erase_personal_data(case=case, via="forget")
    assert KeyShred.objects.filter(key=old).exists()
    assert keystore.store().exists(old)
    assert keystore.purge() == {"data_keys_destroyed": 1}
    assert not keystore.store().exists(old)
    assert not KeyShred.objects.exists()
    assert keystore.purge() == {}


def test_a_value_under_a_destroyed_key_reads_as_erased_not_as_an_error() -> None:
    case = create_case(full_name="Гонка")
    stale = Case.objects.get(pk=case.pk)
    keystore.store().destroy([key_id(case)])
    keystore.store().forget_cache()
    assert Case.objects.get(pk=stale.pk).full_name is None


def test_two_processes_racing_for_an_owners_first_key_agree_on_one() -> None:
    case = create_case(full_name="Гонщик")
    Case.objects.filter(pk=case.pk).update(data_key=None)  # a row from before data keys
    first = Case.objects.get(pk=case.pk)
    second = Case.objects.get(pk=case.pk)
    a = keystore.key_of(first)
    b = keystore.key_of(second)
    assert a.id == b.id == Case.objects.get(pk=case.pk).data_key
