"""Canary: personal values given to Lifeline never reach a statistics table, a figures page or
an export. Unique markers go into a case, a conversation and a call through the real services;
the statistics tables are dumped row by row, every table of the dashboard is exported as CSV and
XLSX, and the dashboard and public pages are read; no marker appears anywhere."""

from __future__ import annotations

import io
import secrets
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from lifeline.cases import workflow
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation, Message
from lifeline.core.channels import Channel
from lifeline.phone.models import Call
from lifeline.stats import rollups
from lifeline.stats.models import (
    PageVisit,
    PublishedFigure,
    StatDayTotal,
    StatEvent,
    StatHourRollup,
    StatRollup,
)
from tests.factories import CHECKLIST, Staff, login_verified

pytestmark = pytest.mark.django_db

TABLES = ["funnel", "series", "channels", "languages", "hours", "times", "stages"]
TABLES += ["pending", "operators"]


def test_no_personal_value_in_statistics_tables_pages_or_exports() -> None:
    tag = secrets.token_hex(5).upper()
    phone_digits = "999" + "".join(secrets.choice("0123456789") for _ in range(7))
    telegram_id = str(5_000_000_000 + secrets.randbelow(10**9))
    born = date(1950, 1, 1) + timedelta(days=secrets.randbelow(15000))
    markers = {
        "name": f"Канарейкин{tag}",
        "service_number": f"КН{tag}",
        "unit": f"Часть{tag}",
        "location": f"Место{tag}",
        "message": f"Сообщение{tag}",
        "phone": phone_digits,
        "telegram_id": telegram_id,
        "birth_iso": born.isoformat(),
        "birth_ru": born.strftime("%d.%m.%Y"),
    }
    staff = Staff()
    phone = identity_get_or_create(channel=Channel.PHONE, address=f"+7{phone_digits}")
    tg = identity_get_or_create(channel=Channel.TELEGRAM, address=telegram_id)
    case = workflow.case_create(
        actor=staff.operator,
        channel=Channel.PHONE,
        requester=phone.contact,
        full_name=markers["name"],
        birth_date=born,
        service_number=markers["service_number"],
        unit=markers["unit"],
        location=markers["location"],
    )
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    conversation = Conversation.objects.create(
        contact=tg.contact, identity=tg, channel=Channel.TELEGRAM
    )
    Message.objects.create(conversation=conversation, direction="in", text=markers["message"])
    Message.objects.create(
        conversation=conversation, direction="out", text=markers["message"], sender=staff.operator
    )
    now = timezone.now()
    Call.objects.create(
        call_id=f"canary-{tag}",
        pbx="test",
        caller=f"+7{phone_digits}",
        ringing_at=now - timedelta(seconds=30),
        answered_at=now - timedelta(seconds=20),
        answered_by=staff.operator,
        status="answered",
    )
    rollups.rollup_all()
    supervisor = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(supervisor, staff.supervisor)
    assert (
        supervisor.post("/console/figures/publication/", {"kind": ["contact.new"]}).status_code
        == 302
    )

    texts: list[str] = []
    for model in (StatEvent, StatRollup, StatDayTotal, StatHourRollup, PageVisit, PublishedFigure):
        texts.extend(repr(row) for row in model.objects.values_list())
    assert any("case.verified" in t for t in texts)  # the tables are not empty
    period = {"start": str(now.date() - timedelta(days=1)), "end": str(now.date())}
    page = supervisor.get("/console/figures/", period).content.decode()
    assert "Whole team" in page
    texts.append(page)
    texts.append(Client().get("/figures/").content.decode())
    for name in TABLES:
        csv_text = supervisor.get(f"/console/figures/export/{name}.csv", period)
        assert csv_text.status_code == 200, name
        texts.append(csv_text.content.decode("utf-8-sig"))
        xlsx = supervisor.get(f"/console/figures/export/{name}.xlsx", period)
        book = load_workbook(io.BytesIO(xlsx.content))
        cells = [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
        assert cells, name
        texts.append(" ".join(cells))
    everything = "\n".join(texts)
    for what, marker in markers.items():
        assert marker not in everything, f"{what} appears in the figures"
