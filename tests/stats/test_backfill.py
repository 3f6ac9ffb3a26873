"""The backfill rebuilds the statistics events the records imply and are missing, once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from lifeline.stats import figures
from lifeline.stats.models import StatEvent
from tests.factories import create_case
from tests.stats.test_figures import _seed_work

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("stats_backfill", *args, stdout=out)
    return out.getvalue()


def test_missing_events_are_rebuilt_once_from_cases_contacts_and_calls() -> None:
    _seed_work()  # the records, with every statistics event dropped
    assert not StatEvent.objects.exists()
    dry = _run("--dry-run")
    assert "call.answered: 2 missing" in dry
    assert not StatEvent.objects.exists()
    _run()
    kinds = [
        "contact.new",
        "case.applied",
        "case.verified",
        "case.ready",
        "operation.requested",
        "case.operation",
        "case.surrendered",
        "call.received",
        "call.answered",
        "call.missed",
    ]
    assert figures.totals(kinds) == {
        "contact.new": 4,
        "case.applied": 6,
        "case.verified": 2,
        "case.ready": 1,
        "operation.requested": 1,
        "case.operation": 1,
        "case.surrendered": 1,
        "call.received": 3,
        "call.answered": 2,
        "call.missed": 1,
    }
    assert figures.mean("call.answered") == 15.0
    assert StatEvent.objects.filter(kind="call.answered").aggregate(s=Sum("value"))["s"] == 30
    before = StatEvent.objects.count()
    assert "0 events added" in _run()
    assert StatEvent.objects.count() == before
    # A person who changed his language since is not counted again.
    from lifeline.contacts.models import Contact

    Contact.objects.update(language="en")
    assert "0 events added" in _run()
    assert figures.totals(["contact.new"]) == {"contact.new": 4}
    # Raw events deleted once counted are not rebuilt (the rollups keep them)...
    StatEvent.objects.filter(kind="case.verified").delete()
    assert "0 events added" in _run()
    assert figures.totals(["case.verified"]) == {"case.verified": 2}
    # ... but an event lost before it was counted is.
    create_case()
    StatEvent.objects.filter(rolled=False).delete()
    assert "case.applied: 1 missing" in _run()
    assert figures.totals(["case.applied"]) == {"case.applied": 7}
