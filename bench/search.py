"""Part (g): exact search over a million encrypted cases, against the same query on plaintext
indexed columns, in the same run on the same PostgreSQL database; and the blind-index key
rotation over the million rows, with the search's p95 while it runs.

Run by `make bench` (``python -m bench.search`` alone, with DATABASE_URL naming a migrated,
empty PostgreSQL database and LIFELINE_TEST_KEYSTORE a key-store file). Steps:
1. fill BENCH_CASES cases (1 million; 100,000 with BENCH_QUICK), each with its own data key in
   the key store and six fields sealed under it, a requester with a phone identity; and the
   same values in clear in a plain table with a B-tree index on each searched column;
2. time Lifeline's own look-ups (``cases.selectors``: normalise, keyed hash, query, decrypt the
   names found) by service number, phone, and name + birth date, for random existing and
   missing values, against the same ORM query on the plain table;
3. rotate the blind-index key: ``rotate_blind_index``'s re-index over every case and identity,
   timed, while another thread keeps searching (and checks that every search still finds its
   case); then search again with only the new key.
Prints "what = figure" lines for bench/run.py.
"""

from __future__ import annotations

import base64
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# This process's keys, written into its environment before the settings read them, so that the
# rotation (``manage.py rotate_blind_index``, a process of its own as on a server) shares them.
for _name in (
    "LIFELINE_TEST_KEYS",
    "LIFELINE_TEST_BLIND_INDEX_KEY",
    "LIFELINE_TEST_CODENAME_PEPPER",
):
    if not os.environ.get(_name):
        _key = base64.b64encode(os.urandom(32)).decode()
        os.environ[_name] = f"1:{_key}" if _name == "LIFELINE_TEST_KEYS" else _key

import django  # noqa: E402

django.setup()

from django.db import connection, models  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifeline.cases import selectors  # noqa: E402
from lifeline.cases.models import Case  # noqa: E402
from lifeline.contacts.models import Contact, Identity  # noqa: E402
from lifeline.core import crypto, keystore  # noqa: E402
from lifeline.core.fields import Sealed  # noqa: E402

N = int(os.environ.get("BENCH_CASES", "1000000"))
QUERIES = int(os.environ.get("BENCH_SEARCHES", "1000"))
CHUNK = 20_000
SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Волков"]
NAMES = ["Андрей", "Сергей", "Дмитрий", "Алексей", "Иван", "Максим", "Павел", "Олег", "Роман"]


class PlainCase(models.Model):
    """The reference: the same people in clear, each searched column with a B-tree index."""

    id = models.UUIDField(primary_key=True)
    contact_id = models.UUIDField()
    service_number = models.TextField()
    name_birth = models.TextField()
    full_name = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        app_label = "cases"
        db_table = "bench_plain_case"
        managed = False
        ordering = ["-created_at"]  # as Case: the same query, newest first

    def __str__(self) -> str:
        return str(self.id)


class PlainIdentity(models.Model):
    """The requesters' phone numbers in clear: the phone search has the same shape on both
    sides (number -> contact -> his applications)."""

    id = models.UUIDField(primary_key=True)
    contact_id = models.UUIDField()
    phone = models.TextField()

    class Meta:
        app_label = "cases"
        db_table = "bench_plain_identity"
        managed = False

    def __str__(self) -> str:
        return str(self.id)


def say(what: str, figure: str) -> None:
    print(f"{what} = {figure}", flush=True)


def person(i: int) -> dict[str, Any]:
    """The i-th applicant: unique service number and phone; names repeat, birth dates vary."""
    rng = random.Random(i)  # noqa: S311 - the same people every run
    return {
        "full_name": f"{rng.choice(SURNAMES)} {rng.choice(NAMES)} {i % 9973}",
        "birth_date": date(1970, 1, 1) + timedelta(days=rng.randrange(12_000)),
        "service_number": f"АБ-{i:07d}",
        "phone": f"+7916{i:07d}",
        "rank": rng.choice(["рядовой", "ефрейтор", "сержант"]),
        "unit": f"в/ч {10000 + i % 5000}",
        "location": rng.choice(["Белгород", "Курск", "Брянск", "Донецк"]),
    }


def fill(count: int) -> None:
    case_table, contact_table = Case._meta.db_table, Contact._meta.db_table
    identity_table = Identity._meta.db_table
    now = timezone.now()
    case_columns = [
        "id", "number", "status", "channel", "language", "requester_id", "requester_relation",
        "full_name", "birth_date", "service_number", "rank", "unit", "location",
        "mobilisation_status", "group_size", "phone_situation", "urgency",
        "service_number_index", "name_birth_index", "codename_hash", "codename_tag",
        "suspicion", "answers_fingerprint", "created_at", "updated_at", "data_key",
    ]  # fmt: skip
    sealed = ("full_name", "birth_date", "service_number", "rank", "unit", "location")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_plain_case (id uuid PRIMARY KEY, contact_id uuid NOT NULL, "
            "service_number text NOT NULL, name_birth text NOT NULL, full_name text NOT NULL, "
            "created_at timestamptz NOT NULL)"
        )
        cursor.execute(
            "CREATE TABLE bench_plain_identity (id uuid PRIMARY KEY, contact_id uuid NOT NULL, "
            "phone text NOT NULL)"
        )
    raw = connection.connection  # psycopg's own connection: COPY
    started = time.perf_counter()
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        case_keys = keystore.store().create(size)
        contact_keys = keystore.store().create(size)
        cases: list[tuple[Any, ...]] = []
        contacts: list[tuple[Any, ...]] = []
        identities: list[tuple[Any, ...]] = []
        plain: list[tuple[Any, ...]] = []
        plain_phones: list[tuple[Any, ...]] = []
        for offset in range(size):
            i = start + offset
            p = person(i)
            case_id, contact_id, identity_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            key, contact_key = case_keys[offset], contact_keys[offset]
            values = {}
            for name in sealed:
                field: Any = Case._meta.get_field(name)
                values[name] = crypto.encrypt(
                    field.to_bytes(p[name]),
                    table=case_table,
                    column=name,
                    pk=str(case_id),
                    data_key=key,
                )
            cases.append(
                (
                    case_id, f"B-{i:07d}", "applied", "telegram", "ru", contact_id, "self",
                    values["full_name"], values["birth_date"], values["service_number"],
                    values["rank"], values["unit"], values["location"],
                    "unknown", 1, "unknown", "none",
                    crypto.service_number_index(p["service_number"]),
                    crypto.name_birth_index(p["full_name"], p["birth_date"]),
                    "", "", 0, "", now, now, key.id,
                )
            )  # fmt: skip
            contacts.append((contact_id, "soldier", "ru", now, contact_key.id))
            address = crypto.encrypt(
                p["phone"].encode(),
                table=identity_table,
                column="address",
                pk=str(identity_id),
                data_key=contact_key,
            )
            identities.append(
                (identity_id, contact_id, "phone", address, crypto.phone_index(p["phone"]), "", now)
            )
            plain.append(
                (
                    case_id,
                    contact_id,
                    crypto.normalise_service_number(p["service_number"]),
                    crypto.normalise_name_birth(p["full_name"], p["birth_date"]),
                    p["full_name"],
                    now,
                )
            )
            plain_phones.append((identity_id, contact_id, p["phone"]))
        with raw.cursor() as cur:
            with cur.copy(
                f"COPY {contact_table} (id, kind, language, created_at, data_key) FROM STDIN"
            ) as copy:
                for row in contacts:
                    copy.write_row(row)
            with cur.copy(
                f"COPY {identity_table} (id, contact_id, channel, address, address_index, "
                "device_tag, created_at) FROM STDIN"
            ) as copy:
                for row in identities:
                    copy.write_row(row)
            with cur.copy(f"COPY {case_table} ({', '.join(case_columns)}) FROM STDIN") as copy:
                for row in cases:
                    copy.write_row(row)
            with cur.copy("COPY bench_plain_case FROM STDIN") as copy:
                for row in plain:
                    copy.write_row(row)
            with cur.copy("COPY bench_plain_identity FROM STDIN") as copy:
                for row in plain_phones:
                    copy.write_row(row)
        raw.commit()
    with connection.cursor() as cursor:
        for column in ("service_number", "name_birth", "contact_id"):
            cursor.execute(f"CREATE INDEX ON bench_plain_case ({column})")
        cursor.execute("CREATE INDEX ON bench_plain_identity (phone)")
        cursor.execute("ANALYZE")
    say("fill (cases with their requesters, sealed; and the plain table)", f"{count:,} rows in "
        f"{time.perf_counter() - started:.0f} s")  # fmt: skip


def lifeline_search(kind: str, p: dict[str, Any]) -> list[str]:
    if kind == "service number":
        qs = selectors.cases_by_service_number(p["service_number"].replace("-", " "))
    elif kind == "phone":
        qs = selectors.cases_by_phone(p["phone"])
    else:
        qs = selectors.cases_by_name_birth(p["full_name"].upper(), p["birth_date"])
    names = []
    for pk, sealed in qs.values_list("pk", "full_name"):
        token = cast(Sealed, sealed).token  # values_list gives the stored ciphertext
        names.append(
            crypto.decrypt(token, table="cases_case", column="full_name", pk=str(pk)).decode()
        )
    return names


def plain_search(kind: str, p: dict[str, Any]) -> list[str]:
    if kind == "service number":
        qs = PlainCase._default_manager.filter(
            service_number=crypto.normalise_service_number(p["service_number"].replace("-", " "))
        )
    elif kind == "phone":
        numbers = PlainIdentity._default_manager.filter(phone=crypto.normalise_phone(p["phone"]))
        qs = PlainCase._default_manager.filter(contact_id__in=numbers.values("contact_id"))
    else:
        qs = PlainCase._default_manager.filter(
            name_birth=crypto.normalise_name_birth(p["full_name"].upper(), p["birth_date"])
        )
    return [name for _pk, name in qs.values_list("pk", "full_name")]


def probe(count: int, rng: random.Random) -> list[tuple[int, bool]]:
    """(applicant number, whether he exists): nine in ten exist."""
    return [
        (rng.randrange(N), True) if rng.random() < 0.9 else (N + rng.randrange(N), False)
        for _ in range(count)
    ]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


Search = Callable[[str, dict[str, Any]], list[str]]


def one(search: Search, kind: str, i: int, exists: bool) -> float:
    """Milliseconds for one search; checks that it found the applicant (or nobody)."""
    p = person(i)
    start = time.perf_counter()
    found = search(kind, p)
    took = (time.perf_counter() - start) * 1000
    if exists and p["full_name"] not in found:
        raise SystemExit(f"{search.__name__} by {kind} did not find applicant {i}")
    if not exists and found:
        raise SystemExit(f"{search.__name__} by {kind} found a missing applicant {i}")
    return took


KINDS = ("service number", "phone", "name + birth date")


def compare(label: str) -> None:
    """Each kind of search, Lifeline's and the plaintext one for the same applicant one after
    the other (in turn first), so that whatever else loads the machine loads both alike."""
    rng = random.Random(label)  # noqa: S311 - reproducible probes
    for kind in KINDS:
        who = probe(QUERIES, rng)
        for i, exists in who[:50]:  # warm the connection and the plans
            one(lifeline_search, kind, i, exists)
            one(plain_search, kind, i, exists)
        keystore.store().forget_cache()  # each search meets its data keys cold
        ours, theirs = [], []
        for n, (i, exists) in enumerate(who):
            if n % 2:
                theirs.append(one(plain_search, kind, i, exists))
                ours.append(one(lifeline_search, kind, i, exists))
            else:
                ours.append(one(lifeline_search, kind, i, exists))
                theirs.append(one(plain_search, kind, i, exists))
        say(
            f"search by {kind}{label}: Lifeline p50/p95",
            f"{statistics.median(ours):.2f}/{p95(ours):.2f} ms",
        )
        say(
            f"search by {kind}{label}: plaintext p50/p95",
            f"{statistics.median(theirs):.2f}/{p95(theirs):.2f} ms",
        )
        say(
            f"search by {kind}{label}: p95 ratio Lifeline/plaintext",
            f"{p95(ours) / p95(theirs):.2f}x",
        )


def rotate() -> None:
    """``manage.py rotate_blind_index`` in a process of its own, as on a server, while this
    one keeps searching with both keys; then only the new key."""
    ring = crypto.add_blind_index_key(crypto.keyring())
    crypto.set_keyring(ring)
    both = ",".join(base64.b64encode(k).decode() for k in ring.blind_index_keys)
    env = {**os.environ, "LIFELINE_TEST_BLIND_INDEX_KEY": both}
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    command = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "manage.py", "rotate_blind_index", "--batch", "1000"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    rng = random.Random("rotation")  # noqa: S311 - reproducible probes
    times: list[float] = []
    while command.poll() is None:
        for kind in KINDS:
            for i, exists in probe(10, rng):
                times.append(one(lifeline_search, kind, i, exists))
    took = time.perf_counter() - start
    out = command.stdout.read() if command.stdout else ""
    if command.returncode != 0:
        raise SystemExit(f"rotate_blind_index failed: {out}")
    say("blind-index rotation over every case and identity", f"{took:.0f} s")
    say("searches during the rotation (every one found its applicant)", f"{len(times):,}")
    say(
        "search during the rotation: Lifeline p50/p95",
        f"{statistics.median(times):.2f}/{p95(times):.2f} ms",
    )
    crypto.set_keyring(crypto.drop_old_blind_index_keys(ring))


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("bench.search needs PostgreSQL (DATABASE_URL)")
    fill(N)
    compare("")
    rotate()
    compare(" (after the rotation, new key only)")


if __name__ == "__main__":
    main()
