"""Run the retention rules now (the worker runs them every few minutes)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Erase what is past its retention time now, and print what (names and counts only)."

    def handle(self, *args: Any, **options: Any) -> None:
        from lifeline.channels.retention import run_purges

        total: dict[str, int] = {}
        for _pass in range(10_000):  # each pass is a bounded batch: until one finds nothing
            erased = run_purges(force=True)
            if not erased:
                break
            for name, count in erased.items():
                total[name] = total.get(name, 0) + count
        if not total:
            self.stdout.write("Nothing is past its retention time.")
        for name, count in sorted(total.items()):
            self.stdout.write(f"{name}: {count}")
