"""Blind-index key rotation (issue 15, part 7): a command re-indexes every row under a new key,
resumable, while look-ups match either key; every search works before, during and after."""

from __future__ import annotations

from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lifeline.cases import selectors
from lifeline.cases.models import Case
from lifeline.cases.workflow import verification
from lifeline.contacts.models import Identity
from lifeline.contacts.services import identity_get_or_create
from lifeline.core import crypto
from lifeline.core.management.commands import rotate_blind_index
from lifeline.phone import cti
from lifeline.phone.models import BlockRule, Call
from tests.factories import Staff, create_case, telegram_conversation

pytestmark = pytest.mark.django_db


class World:
    """Applications, a Telegram contact, a caller and a blocked number, made before the
    rotation; and the look-ups every one of them must keep answering."""

    def __init__(self) -> None:
        self.staff = Staff()
        self.conversation = telegram_conversation("77001122")
        self.case = create_case(
            requester=self.conversation.contact,
            full_name="Ротационный Пётр",
            birth_date=date(1991, 2, 3),
            service_number="РТ-123456",
            rank="рядовой",
            unit="в/ч 55555",
            location="Белгород",
        )
        self.twins = [
            create_case(
                full_name=f"Двойник {n}", rank="рядовой", unit="в/ч 55555", location="Белгород"
            )
            for n in range(2)
        ]
        self.case.refresh_from_db()
        assert self.case.answers_fingerprint  # assessed when it opened
        cti.handle("pbx-1", {"event": "newCall", "callId": "c-1", "from": "+79161234567"})
        cti.block_number(actor=self.staff.supervisor, number="+79160000001")

    def check(self) -> None:
        pk = self.case.pk
        assert [c.pk for c in selectors.cases_by_service_number("рт 123456")] == [pk]
        found = selectors.cases_by_name_birth("ротационный пётр", date(1991, 2, 3))
        assert [c.pk for c in found] == [pk]
        assert [c.pk for c in selectors.cases_by_telegram_id(77001122)] == [pk]
        # The same Telegram account is the same person, not a new contact.
        same = identity_get_or_create(channel="telegram", address="77001122")
        assert same.contact_id == self.conversation.contact_id
        # Re-identification at stage 2 by the service number.
        case = Case.objects.get(pk=pk)
        assert verification.reidentify(case, service_number="РТ 123456") == "service_number"
        # The blocked number stays blocked; a known caller is known.
        assert cti.is_blocked("+7 916 000-00-01")
        assert not cti.is_blocked("+79161234567")
        assert cti._rang_before(cti._phone_indexes("+79161234567"), "another-call")


def _with_new_blind_index_key() -> None:
    crypto.set_keyring(crypto.add_blind_index_key(crypto.keyring()))


def _only_newest_key() -> None:
    crypto.set_keyring(crypto.drop_old_blind_index_keys(crypto.keyring()))


def test_every_search_works_before_during_and_after_a_rotation() -> None:
    world = World()
    world.check()  # before
    old_index = Case.objects.get(pk=world.case.pk).service_number_index

    _with_new_blind_index_key()
    world.check()  # during: nothing re-indexed yet, the old key still matches
    # A new application during the rotation is written under the new key, and is found.
    fresh = create_case(full_name="Новый Заявитель", service_number="РТ-999999")
    assert [c.pk for c in selectors.cases_by_service_number("РТ-999999")] == [fresh.pk]

    out = StringIO()
    call_command("rotate_blind_index", "--batch", "2", stdout=out)
    assert "re-indexed" in out.getvalue()
    world.check()  # after, both keys still configured
    assert Case.objects.get(pk=world.case.pk).service_number_index != old_index

    _only_newest_key()
    world.check()  # after, the old key gone: everything was really re-indexed
    # The flood grouping survives: identical answers share a fingerprint under the new key.
    prints = {Case.objects.get(pk=c.pk).answers_fingerprint for c in (world.case, *world.twins)}
    assert len(prints) == 1
    assert "" not in prints


def test_without_the_rotation_the_old_indexes_stop_matching() -> None:
    """The control: had the command not run, dropping the old key would lose the searches."""
    world = World()
    _with_new_blind_index_key()
    _only_newest_key()
    assert not selectors.cases_by_service_number("РТ-123456").exists()
    with pytest.raises(AssertionError):
        world.check()


def test_an_interrupted_rotation_resumes_and_search_works_in_between(monkeypatch: Any) -> None:
    world = World()
    for n in range(6):
        create_case(full_name=f"Пачка {n}", service_number=f"ПЧ-{n:06d}")
    _with_new_blind_index_key()
    real = Case.reindex
    calls = {"n": 0}

    def crash_after_some(self: Case) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("operator pressed Ctrl+C")
        real(self)

    monkeypatch.setattr(Case, "reindex", crash_after_some)
    with pytest.raises(KeyboardInterrupt):
        call_command("rotate_blind_index", "--batch", "2", stdout=StringIO())
    monkeypatch.setattr(Case, "reindex", real)
    # Half done: some rows under the new key, some under the old; every search works.
    left = rotate_blind_index.reindex(Case, batch=100, write=False)[1]
    assert 0 < left < Case.objects.count()
    world.check()
    for n in range(6):
        assert selectors.cases_by_service_number(f"ПЧ-{n:06d}").count() == 1
    out = StringIO()
    call_command("rotate_blind_index", stdout=out)
    assert rotate_blind_index.reindex(Case, batch=100, write=False)[1] == 0
    _only_newest_key()
    world.check()


def test_the_command_adds_and_finally_drops_the_key_in_a_key_file(key_file: Path) -> None:
    world = World()
    first = crypto.read_key_file(key_file).blind_index_key
    call_command("rotate_blind_index", "--add-key", stdout=StringIO())
    ring = crypto.read_key_file(key_file)
    assert ring.blind_index_key != first
    assert ring.old_blind_index_keys == (first,)
    crypto.set_keyring(None)
    with pytest.raises(CommandError, match="not yet under the newest key"):
        call_command("rotate_blind_index", "--finish", stdout=StringIO())
    call_command("rotate_blind_index", stdout=StringIO())
    err = StringIO()
    call_command("rotate_blind_index", "--finish", stdout=StringIO(), stderr=err)
    # The blocked number never called during the rotation: said, not silently dropped.
    assert "blocked numbers did not call" in err.getvalue()
    assert crypto.read_key_file(key_file).old_blind_index_keys == ()
    crypto.set_keyring(None)
    assert [c.pk for c in selectors.cases_by_service_number("РТ-123456")] == [world.case.pk]


def test_a_blocked_number_is_carried_over_when_it_calls_during_the_rotation() -> None:
    World()
    rule = BlockRule.objects.get()
    _with_new_blind_index_key()
    assert rotate_blind_index.blocked_numbers_left() == [("phone.BlockRule", 1)]
    assert cti.is_blocked("+79160000001")  # he calls: matched under the old key, carried over
    rule.refresh_from_db()
    assert rule.index_key == crypto.blind_index_key_id()
    assert rotate_blind_index.blocked_numbers_left() == []
    _only_newest_key()
    assert cti.is_blocked("+79160000001")


def test_identities_and_calls_are_reindexed_too() -> None:
    World()
    _with_new_blind_index_key()
    call_command("rotate_blind_index", stdout=StringIO())
    identity = Identity.objects.get(channel="telegram")
    assert identity.address_index == crypto.telegram_id_index("77001122")
    assert Call.objects.get().caller_index == crypto.phone_index("+79161234567")


def test_a_blocked_telegram_sender_stays_blocked_during_and_after_the_rotation() -> None:
    from lifeline.channels import telegram_accept
    from lifeline.contacts import blocks

    world = World()
    identity = Identity.objects.get(channel="telegram")
    blocks.block_sender(actor=world.staff.supervisor, identity=identity, hours=24, reason="abuse")
    update = {"update_id": 5, "message": {"message_id": 1, "chat": {"id": 77001122}, "text": "x"}}
    assert telegram_accept.prepare(update) is None  # blocked: dropped at the door
    _with_new_blind_index_key()
    blocks.forget()
    # His updates now carry the new key's index; his identity still has the old one.
    assert telegram_accept.prepare(update) is None
    call_command("rotate_blind_index", stdout=StringIO())
    _only_newest_key()
    blocks.forget()
    assert telegram_accept.prepare(update) is None
    other = {"update_id": 6, "message": {"message_id": 1, "chat": {"id": 5550}, "text": "x"}}
    assert telegram_accept.prepare(other) is not None
