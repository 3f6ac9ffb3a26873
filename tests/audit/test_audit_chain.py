"""The audit log's hash chain: intact when appended through the services, broken (and the first
bad entry named) when any row is changed, deleted or reordered; field names, never values."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from lifeline.audit.models import AuditEntry, AuditHead
from lifeline.audit.services import (
    GENESIS,
    _content,
    audit_record,
    audit_verify_chain,
    entry_digest,
)
from lifeline.cases import workflow
from lifeline.cases.selectors import case_read
from lifeline.core.models import Role
from tests.factories import CHECKLIST, Staff, create_case, create_user

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.django_db

HEAD_RE = re.compile(r"^head hash: ([0-9a-f]{64})$", re.MULTILINE)
COUNT_RE = re.compile(r"^audit chain intact: (\d+) entries$", re.MULTILINE)


# --- helpers ------------------------------------------------------------------------------


def verify_ok() -> tuple[int, str]:
    """Run ``audit_verify``; it must succeed. Returns (count, head hash) as printed."""
    out = StringIO()
    call_command("audit_verify", stdout=out)
    text = out.getvalue()
    count = COUNT_RE.search(text)
    head = HEAD_RE.search(text)
    assert count is not None, text
    assert head is not None, text
    return int(count.group(1)), head.group(1)


def verify_fails() -> str:
    """Run ``audit_verify``; it must raise CommandError (non-zero exit). Returns its message."""
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify", stdout=out)
    assert "head hash" not in out.getvalue()  # nothing to copy off the server when broken
    message = str(excinfo.value)
    assert message.startswith("audit chain broken: "), message
    return message


def names(message: str, entry: AuditEntry) -> bool:
    """The message names this entry by sequence number and id."""
    return f"#{entry.seq} " in message and f"id {entry.pk})" in message


def append_some(n: int = 6) -> list[AuditEntry]:
    """``n`` entries through the service, with and without an actor, in one chain."""
    actor = create_user(Role.SUPERVISOR)
    entries = []
    for i in range(n):
        entries.append(
            audit_record(
                actor=actor if i % 2 else None,
                actor_label="" if i % 2 else "system",
                action=f"test.action{i}",
                object_type="thing",
                object_id=i,
                fields=["b", "a", "b"] if i else (),
            )
        )
    return entries


@pytest.fixture
def writable_audit(db: None) -> None:
    """Let the test tamper with audit rows. On PostgreSQL the append-only trigger is switched
    off inside the test's transaction (DDL is transactional: rolled back with the test)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")


def row(seq: int) -> AuditEntry:
    return AuditEntry.objects.get(seq=seq)


# --- 1. an intact chain ---------------------------------------------------------------------


def test_empty_log_is_intact_with_the_genesis_head() -> None:
    assert verify_ok() == (0, GENESIS)


def test_entries_appended_by_audit_record_form_an_intact_chain() -> None:
    entries = append_some(6)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.entry_hash
    assert len({e.entry_hash for e in entries}) == 6
    assert all(re.fullmatch(r"[0-9a-f]{64}", e.entry_hash) for e in entries)
    assert row(2).fields == ["a", "b"]  # names sorted and de-duplicated

    count, head = verify_ok()
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    assert count == 6
    assert head == last.entry_hash == entries[-1].entry_hash
    stored = AuditHead.objects.get(id=1)
    assert (stored.seq, stored.entry_hash) == (6, head)


def test_entries_from_the_real_workflow_form_an_intact_chain() -> None:
    staff = Staff()
    case = create_case()
    workflow.case_assign(case=case, actor=staff.supervisor, assignee=staff.operator)
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    case_read(actor=staff.supervisor, case=case)

    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions[0] == "case.created"
    assert "case.read" in actions
    assert len(actions) >= 4
    count, head = verify_ok()
    assert count == AuditEntry.objects.count() == len(actions)
    last = AuditEntry.objects.order_by("seq").last()
    assert last is not None
    assert head == last.entry_hash
    assert list(AuditEntry.objects.values_list("seq", flat=True)) == list(range(1, count + 1))

    # Appending more keeps it intact and moves the head.
    audit_record(actor=staff.admin, action="staff.test")
    count2, head2 = verify_ok()
    assert count2 == count + 1
    assert head2 != head
    assert row(count2).prev_hash == head


def test_entries_rolled_back_with_their_change_leave_the_chain_intact() -> None:
    append_some(3)

    def failing_change() -> None:
        with transaction.atomic():
            audit_record(actor=None, actor_label="system", action="test.rolled_back")
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    assert not AuditEntry.objects.filter(action="test.rolled_back").exists()
    assert verify_ok()[0] == 3
    audit_record(actor=None, actor_label="system", action="test.after")
    assert verify_ok()[0] == 4


# --- 2. a changed row -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"action": "tampered"},
        {"fields": ["a"]},
        {"fields": ["b", "a"]},  # same names, another order
        {"fields": []},
        {"object_id": "999"},
        {"object_type": "other"},
        {"actor_label": "someone else"},
        {"actor": None},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_a_changed_row_is_named(writable_audit: None, change: dict[str, Any]) -> None:
    append_some(6)
    target = row(4)
    assert target.actor_id is not None
    assert target.fields == ["a", "b"]
    verify_ok()
    assert AuditEntry.objects.filter(pk=target.pk).update(**change) == 1

    message = verify_fails()
    assert names(message, target), message
    assert "was changed" in message
    report = audit_verify_chain()
    assert (report.ok, report.bad_seq, report.bad_id, report.count) == (False, 4, target.pk, 3)
    assert report.head_hash == row(3).entry_hash  # the last good hash


def test_a_changed_actor_is_named(writable_audit: None) -> None:
    append_some(6)
    target = row(2)
    other = create_user(Role.OPERATOR)
    assert target.actor_id not in (None, other.pk)
    AuditEntry.objects.filter(pk=target.pk).update(actor=other)
    message = verify_fails()
    assert names(message, target), message
    assert "was changed" in message


@pytest.mark.parametrize("delta", [timedelta(microseconds=1), timedelta(days=-1)])
def test_a_changed_timestamp_is_named(writable_audit: None, delta: timedelta) -> None:
    append_some(6)
    target = row(5)
    AuditEntry.objects.filter(pk=target.pk).update(created_at=F("created_at") + delta)
    assert row(5).created_at == target.created_at + delta
    message = verify_fails()
    assert names(message, target), message


def test_the_first_row_changed_is_named(writable_audit: None) -> None:
    append_some(4)
    first = row(1)
    AuditEntry.objects.filter(pk=first.pk).update(action="tampered")
    message = verify_fails()
    assert names(message, first), message


def test_a_changed_row_with_a_recomputed_hash_breaks_at_the_next_row(
    writable_audit: None,
) -> None:
    """Re-hashing the changed row does not help: the next row still holds the old hash."""
    append_some(6)
    target = row(3)
    forged = entry_digest(
        target.prev_hash,
        _content(
            seq=target.seq,
            created_at=target.created_at,
            actor_id=target.actor_id,
            actor_label=target.actor_label,
            action="tampered",
            object_type=target.object_type,
            object_id=target.object_id,
            fields=list(target.fields),
        ),
    )
    AuditEntry.objects.filter(pk=target.pk).update(action="tampered", entry_hash=forged)
    message = verify_fails()
    following = row(4)
    assert names(message, following), message
    assert "does not follow" in message


def test_a_changed_prev_hash_is_named(writable_audit: None) -> None:
    append_some(5)
    target = row(3)
    AuditEntry.objects.filter(pk=target.pk).update(prev_hash="f" * 64)
    message = verify_fails()
    assert names(message, target), message
    assert "does not follow" in message


def test_restoring_the_original_value_makes_the_chain_intact_again(
    writable_audit: None,
) -> None:
    append_some(5)
    before = verify_ok()
    target = row(2)
    AuditEntry.objects.filter(pk=target.pk).update(action="tampered")
    assert names(verify_fails(), target)
    AuditEntry.objects.filter(pk=target.pk).update(action=target.action)
    assert verify_ok() == before


# --- 3. a deleted row -----------------------------------------------------------------------


@pytest.mark.parametrize("missing", [1, 3, 5])
def test_a_deleted_row_is_named(writable_audit: None, missing: int) -> None:
    append_some(6)
    following = row(missing + 1)
    assert AuditEntry.objects.filter(seq=missing).delete()[0] == 1

    message = verify_fails()
    assert f"entry #{missing} is missing" in message, message
    assert f"(next is #{missing + 1}, id {following.pk})" in message, message
    report = audit_verify_chain()
    assert (report.bad_seq, report.bad_id, report.count) == (missing + 1, following.pk, missing - 1)


def test_a_deleted_row_with_renumbered_successors_is_named(writable_audit: None) -> None:
    """Closing the gap by renumbering the later rows is caught by the hashes."""
    append_some(6)
    AuditEntry.objects.filter(seq=3).delete()
    for seq in (4, 5, 6):  # ascending: each target number is free by then
        AuditEntry.objects.filter(seq=seq).update(seq=seq - 1)
    moved = row(3)  # was #4
    message = verify_fails()
    assert names(message, moved), message


# --- 4. reordered rows ----------------------------------------------------------------------


def test_swapped_sequence_numbers_are_named(writable_audit: None) -> None:
    append_some(6)
    a, b = row(3), row(4)
    AuditEntry.objects.filter(pk=a.pk).update(seq=1000)  # seq is unique: go through a free one
    AuditEntry.objects.filter(pk=b.pk).update(seq=3)
    AuditEntry.objects.filter(pk=a.pk).update(seq=4)

    message = verify_fails()
    now_third = row(3)
    assert now_third.pk == b.pk
    assert names(message, now_third), message
    assert "does not follow" in message
    assert audit_verify_chain().bad_seq == 3


def test_swapped_contents_are_named(writable_audit: None) -> None:
    """Rows 2 and 5 exchange everything but their id and sequence number."""
    append_some(6)
    a, b = row(2), row(5)
    columns = [
        "created_at",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "fields",
        "prev_hash",
        "entry_hash",
    ]
    va = {c: getattr(a, c) for c in columns}
    vb = {c: getattr(b, c) for c in columns}
    AuditEntry.objects.filter(pk=a.pk).update(entry_hash="x" * 64)  # entry_hash is unique
    AuditEntry.objects.filter(pk=b.pk).update(**va)
    AuditEntry.objects.filter(pk=a.pk).update(**vb)
    assert row(2).action == b.action
    assert row(5).action == a.action

    message = verify_fails()
    assert names(message, row(2)), message
    assert row(2).pk == a.pk


# --- 5. truncated tail ----------------------------------------------------------------------


@pytest.mark.parametrize("removed", [1, 3, 6])
def test_deleting_the_last_rows_is_detected(writable_audit: None, removed: int) -> None:
    append_some(6)
    AuditEntry.objects.filter(seq__gt=6 - removed).delete()
    assert AuditEntry.objects.count() == 6 - removed

    message = verify_fails()
    assert f"the chain ends at #{6 - removed} but the head records #6" in message, message
    report = audit_verify_chain()
    assert report.count == 6 - removed
    assert report.bad_seq == 6 - removed + 1


def test_a_rewound_head_hides_truncation_but_not_from_the_exported_head_hash(
    writable_audit: None,
) -> None:
    """The head row is no defence against someone who also rewrites it: the head hash copied off
    the server is. After truncation and a rewound head the printed hash differs from it."""
    append_some(6)
    _, exported = verify_ok()
    AuditEntry.objects.filter(seq__gt=4).delete()
    AuditHead.objects.filter(id=1).update(seq=4, entry_hash=row(4).entry_hash)
    count, head = verify_ok()
    assert count == 4
    assert head != exported
    assert not AuditEntry.objects.filter(entry_hash=exported).exists()


def test_a_forged_row_appended_without_the_head_is_detected() -> None:
    """INSERT is not refused (not even on PostgreSQL): a well-forged extra row is caught by the
    head row, which still records the old end of the chain."""
    append_some(3)
    last = row(3)
    at = last.created_at + timedelta(seconds=1)
    digest = entry_digest(
        last.entry_hash,
        _content(
            seq=4,
            created_at=at,
            actor_id=None,
            actor_label="forger",
            action="test.forged",
            object_type="",
            object_id="",
            fields=[],
        ),
    )
    AuditEntry.objects.create(
        seq=4,
        created_at=at,
        actor_label="forger",
        action="test.forged",
        fields=[],
        prev_hash=last.entry_hash,
        entry_hash=digest,
    )
    message = verify_fails()
    assert "head records #3" in message, message


# --- 6. names, never values -----------------------------------------------------------------


def test_entries_record_field_names_never_values() -> None:
    staff = Staff()
    full_name = "Zebediah Quillfeather Тестоперов"
    birth = date(1977, 4, 29)
    number = "ZQ-741852"
    values = [
        full_name,
        *full_name.split(),
        birth.isoformat(),
        "29.04.1977",
        number,
        "Кракозябрский полк",
        "Zyxwvut Oblast",
    ]
    case = create_case(
        full_name=full_name,
        birth_date=birth,
        service_number=number,
        unit="Кракозябрский полк",
        location="Zyxwvut Oblast",
    )
    view = case_read(actor=staff.supervisor, case=case)
    assert view.personal["full_name"] == full_name  # the read really saw the value

    created = AuditEntry.objects.get(action="case.created", object_id=str(case.pk))
    read = AuditEntry.objects.get(action="case.read", object_id=str(case.pk))
    assert read.actor_id == staff.supervisor.pk
    assert read.object_type == "case"
    for entry in (created, read):
        assert "full_name" in entry.fields
        assert {"birth_date", "service_number", "unit", "location"} <= set(entry.fields)
        assert entry.fields == sorted(entry.fields)

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditentry")
        entries = cursor.fetchall()
        cursor.execute("SELECT * FROM audit_audithead")
        heads = cursor.fetchall()
    assert len(entries) == AuditEntry.objects.count() >= 2
    dump = "\n".join(repr(r) + "\n" + "|".join(str(v) for v in r) for r in entries + heads)
    assert "full_name" in dump  # the dump does contain the names
    for value in values:
        escaped = json.dumps(value)[1:-1]  # as a JSON column might store it (\uXXXX)
        assert value not in dump, value
        assert escaped not in dump, value
        assert value.casefold() not in dump.casefold(), value
    verify_ok()


# --- PostgreSQL: the database refuses UPDATE and DELETE -----------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger exists on PostgreSQL only",
)
def test_postgresql_refuses_update_and_delete_of_audit_entries() -> None:
    append_some(4)
    before = verify_ok()
    target = row(2)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_entry_no_update_delete'"
        )
        assert cursor.fetchall() == [("O",)]  # present and enabled

    attempts = [
        (
            "UPDATE",
            lambda: AuditEntry.objects.filter(pk=target.pk).update(action="tampered"),
        ),
        ("UPDATE", lambda: AuditEntry.objects.update(fields=[])),
        ("DELETE", lambda: AuditEntry.objects.filter(seq=4).delete()),
        ("DELETE", lambda: AuditEntry.objects.all().delete()),
    ]
    for op, attempt in attempts:
        with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
            attempt()
        assert f"audit_auditentry is append-only: {op} refused" in str(excinfo.value)

    for op, sql in [
        ("UPDATE", "UPDATE audit_auditentry SET action = 'tampered' WHERE seq = 2"),
        ("DELETE", "DELETE FROM audit_auditentry WHERE seq = 2"),
    ]:
        with (
            pytest.raises(DatabaseError) as excinfo,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
        assert f"{op} refused" in str(excinfo.value)

    assert row(2).action == target.action
    assert AuditEntry.objects.count() == 4
    assert verify_ok() == before
    audit_record(actor=None, actor_label="system", action="test.insert")  # INSERT still works
    assert verify_ok()[0] == 5


# --- 7. acceptance: manage.py against a real var dir -----------------------------------------


def manage(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "LIFELINE_", "DJANGO_"))
    }
    env.update(LIFELINE_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="lifeline.settings.dev")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tamper_sqlite(database: Path, sql: str) -> None:
    sqlite_cli = shutil.which("sqlite3")
    if sqlite_cli:
        subprocess.run([sqlite_cli, str(database), sql], check=True, timeout=60)
    else:
        with sqlite3.connect(database) as db:
            db.execute(sql)
        db.close()


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="the embedded SQLite install is checked once, in the SQLite run",
)
def test_audit_verify_on_the_demo_install_then_after_tampering(tmp_path: Path) -> None:
    var = tmp_path / "var"
    for args in (("init_keys",), ("migrate", "--noinput", "-v", "0"), ("load_demo",)):
        done = manage(var, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)

    database = var / "lifeline.sqlite3"
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT seq, id, entry_hash FROM audit_auditentry ORDER BY seq"
        ).fetchall()
        head_row = db.execute("SELECT seq, entry_hash FROM audit_audithead").fetchall()
    db.close()
    assert len(rows) > 5
    seq5_id = next(pk for seq, pk, _ in rows if seq == 5)

    done = manage(var, "audit_verify")
    assert done.returncode == 0, (done.stdout, done.stderr)
    head = HEAD_RE.search(done.stdout)
    assert head is not None, done.stdout
    assert f"audit chain intact: {len(rows)} entries" in done.stdout
    assert head.group(1) == rows[-1][2]
    assert head_row == [(len(rows), rows[-1][2])]

    tamper_sqlite(database, "UPDATE audit_auditentry SET action='tampered' WHERE seq=5")

    done = manage(var, "audit_verify")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "#5 " in output, output
    assert f"id {seq5_id})" in output, output
    assert "audit chain broken" in output
    assert "head hash:" not in output


def test_a_deleted_head_row_is_reported_and_the_log_goes_on(writable_audit: None) -> None:
    append_some(3)
    AuditHead.objects.all().delete()
    assert "head row is missing" in verify_fails()
    # Writing goes on (the hotline must not stop); the rebuild is itself on the record.
    audit_record(actor=None, actor_label="test", action="after.rebuild")
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["audit.head_rebuilt", "after.rebuild"]
    count, head = verify_ok()
    assert count == 5


def test_an_entry_added_behind_the_logs_back_is_named(writable_audit: None) -> None:
    append_some(3)
    head = AuditHead.objects.get()
    AuditHead.objects.filter(id=1).update(seq=2, entry_hash=row(2).entry_hash)
    message = verify_fails()
    assert names(message, row(3)), message
    assert "added" in message
    AuditHead.objects.filter(id=1).update(seq=head.seq, entry_hash="f" * 64)
    assert "head hash does not match" in verify_fails()
