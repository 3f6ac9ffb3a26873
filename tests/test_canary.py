"""Canary test: personal data given to Lifeline never appears in clear in the database.

Unique marker values go into every personal field, through the real services; then the whole
database is dumped (SQLite's .dump via ``iterdump``, PostgreSQL's ``pg_dump``) and searched.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lifeline.cases import workflow
from lifeline.cases.models import Case
from lifeline.channels.models import InboundEvent, OutboundMessage
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation, Message
from lifeline.core.channels import Channel
from tests.factories import CHECKLIST, Staff

pytestmark = pytest.mark.django_db(transaction=True)


def dump_database() -> str:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return "\n".join(connection.connection.iterdump())
    if connection.vendor == "postgresql":
        cfg = connection.settings_dict
        env = {**os.environ, "PGPASSWORD": cfg.get("PASSWORD") or ""}
        args = [
            "pg_dump",
            "--no-owner",
            "-h",
            cfg.get("HOST") or "127.0.0.1",
            "-p",
            str(cfg.get("PORT") or 5432),
            "-U",
            cfg.get("USER") or "postgres",
            cfg["NAME"],
        ]
        return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    raise AssertionError(f"no dump for {connection.vendor}")


def test_no_marker_in_the_database_dump_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(5).upper()
    phone_digits = "999" + "".join(secrets.choice("0123456789") for _ in range(7))
    telegram_id = str(5_000_000_000 + secrets.randbelow(10**9))
    born = date(1950, 1, 1) + timedelta(days=secrets.randbelow(15000))
    markers = {
        "name": f"Канарейкин{tag}",
        "service_number": f"КН{tag}",
        "rank": f"Ранг{tag}",
        "unit": f"Часть{tag}",
        "location": f"Место{tag}",
        "reason": f"Причина{tag}",
        "meeting": f"Встреча{tag}",
        "signal": f"Сигнал{tag}",
        "message": f"Сообщение{tag}",
        "reply": f"Ответ{tag}",
        "payload": f"Полезное{tag}",
        "web_token": f"webtoken{tag}",
        "codename": f"кодовое{tag}",
        "phone": phone_digits,
        "telegram_id": telegram_id,
        "birth_iso": born.isoformat(),
        "birth_ru": born.strftime("%d.%m.%Y"),
    }

    staff = Staff()
    phone = identity_get_or_create(channel=Channel.PHONE, address=f"+7{phone_digits}")
    tg = identity_get_or_create(channel=Channel.TELEGRAM, address=telegram_id)
    identity_get_or_create(channel=Channel.WEB, address=markers["web_token"])
    case = workflow.case_create(
        actor=staff.operator,
        channel=Channel.PHONE,
        requester=phone.contact,
        full_name=markers["name"],
        birth_date=born,
        service_number=markers["service_number"],
        rank=markers["rank"],
        unit=markers["unit"],
        location=markers["location"],
    )
    workflow.case_set_codename(case=case, codename=markers["codename"])
    workflow.case_verify(
        case=case, actor=staff.verifier, checklist=CHECKLIST, note=markers["reason"]
    )
    workflow.case_mark_ready(
        case=case, actor=staff.operator, service_number=markers["service_number"]
    )
    operation = workflow.operation_request(
        case=case,
        actor=staff.operator,
        meeting_point=markers["meeting"],
        meeting_time=timezone.now() + timedelta(hours=3),
        signal=markers["signal"],
        group_size=3,
    )
    workflow.operation_approve(operation=operation, actor=staff.supervisor)
    workflow.operation_record_outcome(
        operation=operation, actor=staff.liaison, surrendered=True, note=markers["reason"]
    )
    workflow.case_set_disposition(
        case=case, actor=staff.supervisor, kind="asylum", note=markers["reason"]
    )
    workflow.case_add_note(case=case, actor=staff.operator, text=markers["reason"])
    conversation = Conversation.objects.create(
        contact=tg.contact, identity=tg, channel=Channel.TELEGRAM
    )
    Message.objects.create(conversation=conversation, direction="in", text=markers["message"])
    OutboundMessage.objects.create(
        conversation=conversation,
        channel=Channel.TELEGRAM,
        text=markers["reply"],
        buttons=[markers["reply"]],
    )
    InboundEvent.objects.create(
        channel=Channel.TELEGRAM,
        external_id="1",
        payload={"from": {"id": int(telegram_id)}, "text": markers["payload"]},
    )
    # Reading everything back works (the dump is not empty for a trivial reason).
    loaded = Case.objects.get(pk=case.pk)
    assert (loaded.full_name, loaded.birth_date) == (markers["name"], born)

    dump = dump_database()
    assert case.number in dump  # the dump really holds the data
    assert "lf2:" in dump  # sealed under the case's and the person's own data keys
    logs = caplog.text
    for what, marker in markers.items():
        assert marker not in dump, f"{what} appears in clear in the {connection.vendor} dump"
        assert marker not in logs, f"{what} appears in the logs"
    assert f"+7{phone_digits}" not in dump


def test_console_session_leaves_no_marker(caplog: pytest.LogCaptureFixture) -> None:
    """Log in for real (password + TOTP), create and read a case with markers in the console,
    fail a login, get refused a page: no marker in any log record or in the database dump."""
    from django.test import Client
    from django.urls import reverse
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from lifeline.core.models import Role
    from tests.factories import create_user

    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(5).upper()
    born = date(1950, 1, 1) + timedelta(days=secrets.randbelow(15000))
    markers = {
        "name": f"Консольный{tag}",
        "service_number": f"КС{tag}",
        "unit": f"Подразделение{tag}",
        "location": f"Позиция{tag}",
        "password": f"Пароль-{tag}-длинный",
        "birth_ru": born.strftime("%d.%m.%Y"),
        "birth_iso": born.isoformat(),
    }
    operator = create_user(Role.OPERATOR, password=markers["password"])
    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    client = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="198.51.100.77")
    client.post(
        reverse("console:login"),
        {"username": operator.username, "password": markers["password"] + "x"},
    )
    client.post(
        reverse("console:login"), {"username": operator.username, "password": markers["password"]}
    )
    code = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
    assert client.post(reverse("console:otp_verify"), {"otp_token": code}).status_code == 302
    response = client.post(
        reverse("console:case_create"),
        {
            "full_name": markers["name"],
            "birth_date": markers["birth_ru"],
            "service_number": markers["service_number"],
            "unit": markers["unit"],
            "location": markers["location"],
            "mobilisation_status": "mobilised",
            "group_size": 1,
            "phone_situation": "second_phone",
            "requester_relation": "self",
            "language": "ru",
        },
        follow=True,
    )
    page = response.content.decode()
    assert markers["name"] in page
    assert markers["service_number"] in page
    case = Case.objects.get()
    assert client.get(reverse("console:case_list")).status_code == 200
    press = create_user(Role.PRESS)
    other = Client()
    other.force_login(press)
    other.get(reverse("console:case_detail", args=[case.pk]))  # refused, maybe logged

    dump = dump_database()
    assert case.number in dump
    logs = caplog.text
    for what, marker in markers.items():
        assert marker not in dump, f"{what} appears in clear in the {connection.vendor} dump"
        assert marker not in logs, f"{what} appears in the logs"
    assert code not in logs
    assert "198.51.100.77" not in logs
    assert "198.51.100.77" not in dump


def test_bot_conversation_leaves_no_marker(caplog: pytest.LogCaptureFixture) -> None:
    """A person talks to the bot: one finished application and one half-way run (its answers
    stored in the run state) — no marker in the dump or the logs."""
    from lifeline.conversations.host import conversation_input
    from lifeline.conversations.models import Conversation

    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(5).upper()
    telegram_id = str(6_000_000_000 + secrets.randbelow(10**9))
    markers = {
        "name": f"Ботов{tag}",
        "service_number": f"БТ{tag}",
        "unit": f"Часть{tag}",
        "location": f"Где{tag}",
        "half_name": f"Полуимя{tag}",
        "telegram_id": telegram_id,
    }
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address=telegram_id)
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM, language="ru"
    )
    answers = [
        "/start",
        "1",
        "Мобилизован",
        markers["name"],
        "23.11.1985",
        markers["service_number"],
        "рядовой",
        markers["unit"],
        markers["location"],
        "Один",
        "Телефон при мне",
        "да",
    ]
    replies = []
    for text in answers:
        replies = conversation_input(conversation, text)
    codename = replies[0].text.split(": ", 1)[1].strip()
    other = identity_get_or_create(channel=Channel.TELEGRAM, address=str(int(telegram_id) + 1))
    half = Conversation.objects.create(
        contact=other.contact, identity=other, channel=Channel.TELEGRAM, language="ru"
    )
    for text in ["/start", "1", "Контракт", markers["half_name"]]:
        conversation_input(half, text)
    assert Case.objects.get().full_name == markers["name"]

    dump = dump_database()
    logs = caplog.text
    assert "lf2:" in dump  # sealed under the case's and the person's own data keys
    for what, marker in {**markers, "codename": codename}.items():
        assert marker not in dump, f"{what} appears in clear in the {connection.vendor} dump"
        assert marker not in logs, f"{what} appears in the logs"


def test_calls_leave_no_caller_number(caplog: pytest.LogCaptureFixture, settings: object) -> None:
    """Calls from the PBX: the caller's number never appears in clear in the dump or logs."""
    from lifeline.phone import cti

    caplog.set_level(logging.DEBUG)
    digits = "999" + "".join(secrets.choice("0123456789") for _ in range(7))
    cti.handle("office", {"event": "newCall", "callId": "canary-1", "from": f"+7{digits}"})
    cti.handle("office", {"event": "hangup", "callId": "canary-1"})
    cti.handle("office", {"event": "newCall", "callId": "canary-2", "from": f"8{digits}"})
    from lifeline.phone.models import Call

    assert Call.objects.filter(status="missed").count() == 1
    dump = dump_database()
    assert "canary-1" in dump  # the dump holds the calls
    for form in (digits, f"+7{digits}", f"8{digits}"):
        assert form not in dump
        assert form not in caplog.text
