"""The bulk step (conversations.bulk, the worker's hot path) leaves exactly the rows the host
leaves one person at a time: the same conversations run both ways, every row compared.

The scripts mix what the bulk step takes (answers, wrong answers, /start, a new person's first
words) with everything it must leave to the host (commands, "I am at the front", an operator's
conversation, a flow that opens an application or hands over): for those, the comparison checks
that the bulk step left them alone and the host still did its part."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from lifeline.cases.models import Case
from lifeline.channels import inbox
from lifeline.channels.models import InboundEvent, OutboundMessage
from lifeline.channels.telegram import store_update
from lifeline.contacts.models import Contact, Identity
from lifeline.conversations.models import Conversation, FlowRun, Message
from lifeline.core import crypto
from lifeline.stats.models import StatEvent
from tests.channels.fake_telegram import update

pytestmark = pytest.mark.django_db(transaction=True)

#: What people type: answers to the intake's questions, wrong answers, commands, phrases.
WORDS = [
    "/start",
    "/start site-home",
    "/start site-nowhere",
    "1",
    "2",
    "3",
    "4",
    "Мобилизован",
    "Контракт",
    "Петров Иван Сергеевич",
    "Ив",
    "01.01.1990",
    "31.02.1990",
    "завтра",
    "АБ-123456",
    "нет",
    "рядовой",
    "в/ч 12345",
    "Донецкая область",
    "Один",
    "С группой",
    "3",
    "Телефон при мне",
    "Да, отправить",
    "Нет",
    "я на фронте",
    "/lang uk",
    "/lang",
    "/forget",
    "Да, стереть",
    "что дальше?",
    "/help",
    "х" * 300,
]
CHATS = 40
INPUTS = 14


def script(seed: int) -> list[list[str]]:
    rng = random.Random(seed)  # noqa: S311 - a test's reproducible choice
    chats = []
    for n in range(CHATS):
        # Most people follow the form; some type anything.
        if n % 3 == 0:
            chats.append([rng.choice(WORDS) for _ in range(INPUTS)])
        else:
            form = [
                "/start",
                "1",
                "Мобилизован",
                "Петров Иван Сергеевич",
                rng.choice(["01.01.1990", "завтра"]),
                "01.01.1990",
                "АБ-123456",
                "рядовой",
                "в/ч 12345",
                "Донецкая область",
                "Один",
                "Телефон при мне",
                rng.choice(["Да, отправить", "Нет"]),
                rng.choice(WORDS),
            ]
            chats.append(form[:INPUTS])
    return chats


def run(chats: list[list[str]], *, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.cache import cache

    cache.clear()  # each run starts with the senders' limits and budgets at zero
    if not bulk:
        monkeypatch.setattr(inbox, "BULK_READERS", {})
    update_id = 50_000
    for round_ in range(INPUTS):
        for n, texts in enumerate(chats):
            update_id += 1
            store_update(update(update_id, 6_100_000 + n, texts[round_]))
        while inbox.process_batch(size=25):  # the bulk step takes a batch of many chats
            pass
    monkeypatch.undo()


def _mask(text: str | None) -> str | None:
    return text


def snapshot() -> dict[str, Any]:
    """Everything a step writes, per chat, without ids and times."""
    found: dict[str, Any] = {}
    for identity in Identity.objects.all():
        chat = identity.address
        conversations = []
        for c in Conversation.objects.filter(identity=identity).order_by("created_at"):
            messages = [
                (m.direction, m.text, m.buttons)
                for m in Message.objects.filter(conversation=c).order_by("created_at")
            ]
            outbox = [
                (o.seq, o.kind, o.text if not o.secret else "<secret>", o.buttons, o.secret)
                for o in OutboundMessage.objects.filter(conversation=c).order_by("seq")
            ]
            runs = []
            for r in FlowRun.objects.filter(conversation=c).order_by("started_at"):
                state = dict(r.state or {})
                state.pop("last_activity", None)
                results = dict(state.get("results") or {})
                state["results"] = results
                runs.append((r.flow, r.version, r.status, state, r.reidentified_by))
            conversations.append(
                {
                    "fields": (
                        c.channel,
                        c.language,
                        c.status,
                        c.priority,
                        c.waiting_reason,
                        c.pending_command,
                        c.unread,
                        c.last_message_at is not None,
                    ),
                    "messages": messages,
                    "outbox": outbox,
                    "runs": runs,
                }
            )
        found[chat] = {"contact": identity.contact.language, "conversations": conversations}
    found["_stats"] = Counter(StatEvent.objects.values_list("kind", "channel", "language"))
    found["_cases"] = sorted(
        (c.status, c.channel, c.language, c.full_name or "") for c in Case.objects.all()
    )
    found["_events"] = Counter(InboundEvent.objects.values_list("status", flat=True))
    return found


def clear() -> None:
    for model in (StatEvent, OutboundMessage, InboundEvent, Message, FlowRun, Case):
        model.objects.all().delete()
    Conversation.objects.all().delete()
    Identity.objects.all().delete()
    Contact.objects.all().delete()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_bulk_step_writes_what_the_host_writes(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    chats = script(seed)
    run(chats, bulk=False, monkeypatch=monkeypatch)
    one_by_one = snapshot()
    clear()
    taken: list[int] = []
    real = inbox._bulk_steps

    def counting(events: list[InboundEvent]) -> list[InboundEvent]:
        rest = real(events)
        taken.append(len(events) - len(rest))
        return rest

    monkeypatch.setattr(inbox, "_bulk_steps", counting)
    run(chats, bulk=True, monkeypatch=monkeypatch)
    in_bulk = snapshot()
    assert sum(taken) > CHATS * INPUTS // 2  # most steps went the bulk way
    assert in_bulk["_events"] == one_by_one["_events"]
    assert in_bulk["_stats"] == one_by_one["_stats"]
    assert in_bulk["_cases"] == one_by_one["_cases"]
    for chat in one_by_one:
        assert in_bulk[chat] == one_by_one[chat], chat


def test_a_bulk_step_that_fails_leaves_its_events_to_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the bulk write fails as a whole (here: made to), nothing of it stays and every
    event is still processed, one by one."""
    from lifeline.conversations import bulk

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the database refused the batch")

    monkeypatch.setattr(bulk, "_write", broken)
    for n in range(5):
        store_update(update(70_000 + n, 6_200_000 + n, "/start"))
    assert inbox.process_batch(size=10) == 5
    assert InboundEvent.objects.filter(status="done").count() == 5
    assert Message.objects.filter(direction="out").count() == 5
    assert OutboundMessage.objects.count() == 5


def test_the_bulk_step_stores_nothing_in_clear() -> None:
    marker = "Уникальнофамильный Маркер"
    for n in range(3):
        store_update(update(80_000 + n, 6_300_000 + n, "/start"))
    inbox.process_batch(size=10)
    for n in range(3):
        store_update(update(80_010 + n, 6_300_000 + n, "1"))
    inbox.process_batch(size=10)
    for n in range(3):
        store_update(update(80_020 + n, 6_300_000 + n, "Мобилизован"))
    inbox.process_batch(size=10)
    for n in range(3):
        store_update(update(80_030 + n, 6_300_000 + n, marker))
    inbox.process_batch(size=10)
    assert Message.objects.filter(direction="in").count() == 12
    with connection.cursor() as cursor:
        for table in ("conversations_message", "conversations_flowrun", "contacts_identity"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - a fixed table name
            dumped = repr(cursor.fetchall())
            assert marker not in dumped
            assert "6300000" not in dumped  # the Telegram id, kept only encrypted
    assert crypto.telegram_id_index(6_300_000) in set(
        Identity.objects.values_list("address_index", flat=True)
    )
