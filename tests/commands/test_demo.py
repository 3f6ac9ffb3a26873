"""Demo data: a dozen fictional cases across the workflow, and key rotation over them."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from lifeline.cases.models import Case, Disposition, Operation
from lifeline.core import crypto
from lifeline.core.models import User

pytestmark = pytest.mark.django_db


def test_demo_data_covers_the_workflow_and_prints_passwords() -> None:
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert Case.objects.count() == 12
    statuses = set(Case.objects.values_list("status", flat=True))
    assert statuses == {
        "applied",
        "verified",
        "rejected",
        "ready",
        "operation",
        "surrendered",
        "withdrawn",
        "lost_contact",
    }
    assert Operation.objects.filter(status="requested").exists()  # waits for a 2nd supervisor
    assert Disposition.objects.filter(kind="exchanged", exchange__isnull=False).exists()
    match = re.search(r"supervisor\s+supervisor\s+password: (\S+)", out.getvalue())
    assert match is not None
    assert User.objects.get(username="supervisor").check_password(match.group(1))
    # Work for a supervisor on the press screens: a page edit and a channel post, by the press.
    from lifeline.channels.models import ChannelPost
    from lifeline.public.models import PageVersion

    assert PageVersion.objects.get().status == "submitted"
    post = ChannelPost.objects.get()
    assert (post.proposal, post.created_by.username) == ("submitted", "press")
    again = StringIO()
    call_command("load_demo", stdout=again)
    assert "already loaded" in again.getvalue()
    assert Case.objects.count() == 12


def test_rotate_keys_on_the_demo_database(key_file: Path) -> None:
    path = key_file
    call_command("load_demo", stdout=StringIO())
    before = {
        c.pk: (c.full_name, c.birth_date, c.service_number, c.unit) for c in Case.objects.all()
    }
    call_command("rotate_keys", "--add-key", stdout=StringIO())
    ring = crypto.read_key_file(path)
    only_new = crypto.KeyRing(
        root_keys={2: ring.root_keys[2]},
        blind_index_key=ring.blind_index_key,
        codename_pepper=ring.codename_pepper,
    )
    crypto.set_keyring(only_new)
    after = {
        c.pk: (c.full_name, c.birth_date, c.service_number, c.unit) for c in Case.objects.all()
    }
    assert after == before
    for op in Operation.objects.all():
        assert op.meeting_point
        assert op.signal
