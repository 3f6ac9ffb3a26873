"""Verify the audit chain; print its head hash to be copied off the server."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from lifeline.audit.services import audit_verify_chain


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain. Exits non-zero naming the first bad entry if any row "
        "was changed, deleted or reordered; otherwise prints the head hash."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify_chain()
        if not report.ok:
            raise CommandError(f"audit chain broken: {report.problem}")
        self.stdout.write(f"audit chain intact: {report.count} entries")
        self.stdout.write(f"head hash: {report.head_hash}")
