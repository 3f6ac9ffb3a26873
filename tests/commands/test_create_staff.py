"""The first account of a production install, from the shell."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lifeline.audit.models import AuditEntry
from lifeline.core.models import User

pytestmark = pytest.mark.django_db


def test_create_staff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRST_PASSWORD", "a long first passphrase")
    call_command(
        "create_staff",
        "--username",
        "chief",
        "--role",
        "supervisor",
        "--password-env",
        "FIRST_PASSWORD",
        stdout=StringIO(),
    )
    user = User.objects.get(username="chief")
    assert user.role == "supervisor"
    assert user.check_password("a long first passphrase")
    assert not user.is_superuser
    assert AuditEntry.objects.filter(action="staff.created", object_id=str(user.pk)).exists()
    with pytest.raises(CommandError, match="exists already"):
        call_command(
            "create_staff",
            "--username",
            "Chief",
            "--role",
            "operator",
            "--password-env",
            "FIRST_PASSWORD",
        )


def test_create_staff_refuses_a_short_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command(
            "create_staff", "--username", "x", "--role", "operator", "--password-env", "SHORT"
        )
    assert not User.objects.exists()
