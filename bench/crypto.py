"""Part (e): the cost of encryption, as ratios against a reference measured in the same run.

Run by `make bench` (``python -m bench.crypto`` alone; test settings, SQLite in memory). Prints,
for N rows (BENCH_ROWS):
- writing N cases (6 encrypted fields + 2 blind indexes each) vs writing N plain StatEvent rows;
- reading N cases and decrypting every field vs reading the same rows without decrypting.
No figure here is a target on its own: the ratios are what to watch between commits.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.test")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifeline.cases.models import Case  # noqa: E402
from lifeline.stats.models import StatEvent  # noqa: E402

N = int(os.environ.get("BENCH_ROWS", "2000"))


def timed(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        with transaction.atomic():
            fn()
            transaction.set_rollback(True)
        best = min(best, time.perf_counter() - start)
    return best


def write_plain() -> None:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    for _ in range(N):
        StatEvent.objects.create(kind="bench", channel="web", language="ru", hour=hour)


def write_cases() -> None:
    for i in range(N):
        Case(
            number=f"B-{i}",
            channel="web",
            full_name=f"Имя Фамилия {i}",
            birth_date=date(1990, 1, 1),
            service_number=f"АБ-{i:06d}",
            rank="рядовой",
            unit="в/ч 00001",
            location="где-то",
        ).save()


def read_cases(decrypt: bool) -> None:
    for case in Case.objects.all():
        if decrypt:
            _ = (
                case.full_name,
                case.birth_date,
                case.service_number,
                case.rank,
                case.unit,
                case.location,
            )


def read_times() -> tuple[float, float]:
    """Best of 3 for reading the N cases without and with decrypting, on the same rows
    (written once, rolled back after)."""
    best_raw = best_all = float("inf")
    with transaction.atomic():
        write_cases()
        for _ in range(3):
            start = time.perf_counter()
            read_cases(False)
            best_raw = min(best_raw, time.perf_counter() - start)
            start = time.perf_counter()
            read_cases(True)
            best_all = min(best_all, time.perf_counter() - start)
        transaction.set_rollback(True)
    return best_raw, best_all


def main() -> None:
    call_command("migrate", verbosity=0)
    plain = timed(write_plain)
    sealed = timed(write_cases)
    read_raw, read_all = read_times()
    print(f"rows: {N}")
    print(f"write: cases with encryption / plain rows       = {sealed / plain:6.2f}x")
    print(f"read:  decrypting 6 fields / not decrypting      = {read_all / read_raw:6.2f}x")
    print(f"per case: seal {1e6 * sealed / N:7.1f} µs, plain row {1e6 * plain / N:7.1f} µs")
    print(
        f"per case: read {1e6 * read_raw / N:7.1f} µs, read and decrypt 6 fields "
        f"{1e6 * read_all / N:7.1f} µs"
    )


if __name__ == "__main__":
    main()
