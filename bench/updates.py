"""Realistic Telegram updates: a private chat's text message as the Bot API delivers it (sender,
chat, date, entities for commands), each with its own ``update_id``."""

from __future__ import annotations

import json
import time
from typing import Any

FIRST_NAMES = ("Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Николай", "Олег")
LAST_NAMES = ("Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Морозов")
# What people type into the intake form, in turn (the webhook load cycles through these).
TEXTS = ("/start", "1", "Мобилизован", "Петров Иван Сергеевич", "01.01.1990", "АБ-123456")
# Ten steps of the soldier intake flow, with two mistakes it must ask again about (the backlog).
INTAKE = (
    "/start",
    "1",
    "Мобилизован",
    "Петров Иван Сергеевич",
    "завтра",
    "31.02.1990",
    "01.01.1990",
    "АБ-123456",
    "рядовой",
    "в/ч 12345",
)


def update(update_id: int, chat_id: int, text: str, *, language: str = "ru") -> dict[str, Any]:
    first = FIRST_NAMES[chat_id % len(FIRST_NAMES)]
    last = LAST_NAMES[chat_id % len(LAST_NAMES)]
    person = {"first_name": first, "last_name": last, "username": f"user{chat_id}"}
    message: dict[str, Any] = {
        "message_id": update_id % 1_000_000 + 1,
        "from": {"id": chat_id, "is_bot": False, **person, "language_code": language},
        "chat": {"id": chat_id, **person, "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def body(update_id: int, chat_id: int, text: str) -> bytes:
    return json.dumps(update(update_id, chat_id, text), ensure_ascii=False).encode()


def lua_script(*, path: str, secret: str, chats: int) -> str:
    """A wrk script posting the same shape of update, a unique ``update_id`` per request
    (``wrk ... -- <first update_id> <threads>``), ``chats`` chats in turn, each typing
    ``TEXTS`` in order.
    It counts answers that are not 2xx and prints one JSON line: ``BENCH {...}``."""
    texts = ", ".join(json.dumps(t, ensure_ascii=False) for t in TEXTS)
    firsts = ", ".join(json.dumps(t, ensure_ascii=False) for t in FIRST_NAMES)
    lasts = ", ".join(json.dumps(t, ensure_ascii=False) for t in LAST_NAMES)
    return f"""
local threads = {{}}
local next_thread = 0
local texts = {{ {texts} }}
local firsts = {{ {firsts} }}
local lasts = {{ {lasts} }}

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  base = tonumber(args[1] or "1000000")
  nthreads = tonumber(args[2] or "16")
  n = -1
  non2xx = 0
  n4xx = 0
  n5xx = 0
  nother = 0
  wrk.method = "POST"
  wrk.path = "{path}"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "{secret}"
  wrk.headers["X-Forwarded-Proto"] = "https"
end

function request()
  n = n + 1
  local seq = n * nthreads + tid
  local update_id = base + seq
  local chat = 700000000 + (seq % {chats})
  local text = texts[(math.floor(seq / {chats}) % #texts) + 1]
  local first = firsts[(chat % #firsts) + 1]
  local last = lasts[(chat % #lasts) + 1]
  local person = string.format(
    '"first_name":"%s","last_name":"%s","username":"user%d"', first, last, chat)
  local entities = ""
  if string.sub(text, 1, 1) == "/" then
    entities = string.format(
      ',"entities":[{{"offset":0,"length":%d,"type":"bot_command"}}]', #text)
  end
  local body = string.format(
    '{{"update_id":%d,"message":{{"message_id":%d,' ..
    '"from":{{"id":%d,"is_bot":false,%s,"language_code":"ru"}},' ..
    '"chat":{{"id":%d,%s,"type":"private"}},"date":%d,"text":"%s"%s}}}}',
    update_id, (update_id % 1000000) + 1, chat, person, chat, person, os.time(), text, entities)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if status >= 500 then n5xx = n5xx + 1
    elseif status >= 400 then n4xx = n4xx + 1
    else nother = nother + 1 end
  end
end

function done(summary, latency, requests)
  local bad, c4, c5, other = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    c4 = c4 + t:get("n4xx")
    c5 = c5 + t:get("n5xx")
    other = other + t:get("nother")
  end
  local seen = ""
  if c4 > 0 then seen = seen .. "4xx " .. c4 .. " " end
  if c5 > 0 then seen = seen .. "5xx " .. c5 .. " " end
  if other > 0 then seen = seen .. "1xx/3xx " .. other .. " " end
  io.write(string.format(
    'BENCH {{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"timeouts":%d,"statuses":"%s"}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, seen))
end
"""
