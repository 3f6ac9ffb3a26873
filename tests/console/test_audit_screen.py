"""The audit log screen: filters in words, CSV export (itself audited), and a human label for
every action the code records (issue 14, point 6)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from lifeline.audit.labels import ACTION_LABELS, FIELD_LABELS
from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.models import CaseEventKind, CaseStatus
from tests.factories import Staff, advance, create_case, login_verified

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2] / "lifeline"


def test_every_recorded_action_has_words() -> None:
    literal = re.compile(
        r'"((?:audit|case|conversation|exchange|failure|operation|phone|staff)'
        r'\.[a-z_.]+)"'
    )
    found = {m for path in ROOT.rglob("*.py") for m in literal.findall(path.read_text())}
    found |= {f"case.{status}" for status in CaseStatus.values}
    found -= {
        f"case.{kind}" for kind in CaseEventKind.values if kind not in ("note", "disposition")
    }
    found -= set(FIELD_LABELS)  # field names ("operation.signal"), not actions
    found -= {"conversation.alert", "operation.failed"}  # statistics kinds, not audit actions
    missing = sorted(a for a in found if a not in ACTION_LABELS)
    assert not missing, missing


def test_filters_and_words_and_export() -> None:
    staff = Staff()
    case = create_case()
    other = create_case()
    advance(case, "verified", staff)
    advance(other, "applied", staff)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.supervisor)
    url = reverse("console:audit_list")
    page = client.get(url, {"case": case.number, "action": "case.verified"}).content.decode()
    table = page.split('id="audit"')[1]
    assert "Verified" in table
    assert table.count("<tr>") == 2  # the header and the one verification of this case
    by_actor = client.get(url, {"actor": staff.verifier.pk}).content.decode().split('id="audit"')[1]
    assert "Verified" in by_actor
    assert "Case assigned" not in by_actor  # the supervisor did that
    nothing = client.get(url, {"case": "L-1999-000001"}).content.decode()
    assert "Nothing matches." in nothing
    # Crafted filters are ignored or match nothing, never an error.
    for query in ({"actor": "²"}, {"since": "31.02"}, {"action": "x" * 500}, {"case": "\x00"}):
        assert client.get(url, query).status_code == 200
    exported = client.get(url, {"case": case.number, "format": "csv"})
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][3] == "Action"
    assert any(row[3] == "Verified" and row[2] == staff.verifier.username for row in rows[1:])
    assert AuditEntry.objects.filter(action="audit.exported", actor=staff.supervisor).exists()


def test_only_supervisors_read_or_export_the_audit_log() -> None:
    staff = Staff()
    workflow.exchange_record(
        actor=staff.supervisor,
        date=date(2026, 1, 1),
        released_by_ukraine=1,
        released_by_russia=1,
    )
    for user in (staff.operator, staff.admin, staff.press):
        client = Client()
        login_verified(client, user)
        assert client.get(reverse("console:audit_list"), {"format": "csv"}).status_code == 403
