"""A fake Telegram Bot API server on 127.0.0.1 for tests: records calls, can fail or hang.

Lifeline's Bot API client (lifeline.channels.botapi) is pointed at it through
``LIFELINE_TELEGRAM_API_BASE``; nothing reaches the internet. Every call is held to aiogram's
model of the Bot API method it names: a call aiogram would not accept is answered 400, as
Telegram would, and listed in ``invalid`` (tests assert it stays empty)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiogram.methods
import pydantic
from aiohttp import web


def _invalid(method: str, data: dict[str, Any]) -> str:
    """Why aiogram's model of ``method`` refuses these parameters ("" if it accepts them).
    An uploaded file (bytes) stands as a file id: aiogram models uploads as its own objects."""
    name = method[:1].upper() + method[1:]
    model = getattr(aiogram.methods, name, None)
    if model is None:
        return f"no Bot API method {method}"
    fields = {k: ("uploaded-file" if isinstance(v, bytes) else v) for k, v in data.items()}
    try:
        model.model_validate(fields)
    except pydantic.ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['type']}" for err in exc.errors()
        )
    return ""


def _as_form(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


@dataclass
class Call:
    method: str
    data: dict[str, Any]
    at: float


@dataclass
class FakeTelegram:
    """Start with ``start()``; ``base`` is the server address for aiogram."""

    fail_ratio: float = 0.0  # share of calls answered 429 or 500 at random
    hang_next: int = 0  # the next N calls never answer (the client times out)
    errors_next: list[int] = field(default_factory=list)  # the next sends get these HTTP errors
    seed: int = 7
    calls: list[Call] = field(default_factory=list)
    failures: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> what getFile gives
    downloads: int = 0
    invalid: list[str] = field(default_factory=list)  # calls aiogram's models refuse

    #: The methods ``errors_next`` answers with its errors.
    ERRORING = frozenset(
        {"sendMessage", "editMessageText", "sendPhoto", "editMessageCaption", "deleteMessage"}
    )

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - test fault injection
        self._lock = threading.Lock()
        self._message_id = 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self, method: str = "sendMessage") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data: dict[str, Any] = {}
        if request.content_type == "application/json":
            posted = await request.json()
            data = posted if isinstance(posted, dict) else {}
            form: Any = {}
        else:
            form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data[key] = value.file.read()  # an uploaded photo: its bytes
                continue
            text = str(value)
            try:
                data[key] = json.loads(text) if text[:1] in "{[" else text
            except ValueError:
                data[key] = text
        for key, value in list(data.items()):  # aiogram names an upload "attach://<field>"
            if isinstance(value, str) and value.startswith("attach://"):
                data[key] = data.get(value.removeprefix("attach://"), value)
        problem = _invalid(method, data)
        if problem:
            with self._lock:
                self.invalid.append(f"{method}: {problem}")
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"},
                status=400,
            )
        # Recorded as a form would carry them (aiogram posted forms; tests read strings).
        data = {k: _as_form(v) for k, v in data.items()}
        with self._lock:
            if self.hang_next > 0:
                self.hang_next -= 1
                hang = True
            else:
                hang = False
            roll = self._rng.random()
        if hang:
            await asyncio.sleep(3600)
        with self._lock:
            error = (
                self.errors_next.pop(0) if self.errors_next and method in self.ERRORING else None
            )
        if error is not None:
            with self._lock:
                self.failures += 1
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error,
                "description": f"Error {error}",
            }
            if error == 429:
                body["parameters"] = {"retry_after": 1}
            return web.json_response(body, status=error)
        if (
            method in ("sendMessage", "editMessageText", "answerCallbackQuery")
            and roll < self.fail_ratio
        ):
            with self._lock:
                self.failures += 1
            if roll < self.fail_ratio / 2:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status=429,
                )
            return web.json_response(
                {"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500
            )
        with self._lock:
            self.calls.append(Call(method, data, time.monotonic()))
            self._message_id += 1
            message_id = self._message_id
        if method == "getMe":
            return web.json_response(
                {
                    "ok": True,
                    "result": {
                        "id": 42,
                        "is_bot": True,
                        "first_name": "Lifeline",
                        "username": "lifeline_bot",
                    },
                }
            )
        if method == "getFile":
            file_id = str(data.get("file_id", ""))
            if file_id not in self.files:
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": "Bad Request: file not found"},
                    status=400,
                )
            return web.json_response(
                {
                    "ok": True,
                    "result": {
                        "file_id": file_id,
                        "file_unique_id": f"u{file_id}",
                        "file_size": len(self.files[file_id]),
                        "file_path": f"files/{file_id}",
                    },
                }
            )
        if method == "getUpdates":
            with self._lock:
                batch, self.updates = self.updates, []
            return web.json_response({"ok": True, "result": batch})
        if method in ("sendMessage", "editMessageText", "sendPhoto", "editMessageCaption"):
            raw = str(data.get("chat_id", "0"))
            # A channel is named "@name" (or a negative id): answered as a channel post.
            channel = raw.startswith("@") or raw.startswith("-")
            result: dict[str, Any] = {
                "message_id": int(data.get("message_id", message_id)),
                "date": int(time.time()),
                "chat": {
                    "id": -1001 if raw.startswith("@") else int(raw),
                    "type": "channel" if channel else "private",
                },
            }
            if method in ("sendPhoto", "editMessageCaption"):
                result["photo"] = [
                    {"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}
                ]
                result["caption"] = data.get("caption", "")
            else:
                result["text"] = data.get("text", "")
            return web.json_response({"ok": True, "result": result})
        return web.json_response({"ok": True, "result": True})

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["file_id"])
        if data is None:
            return web.Response(status=404)
        with self._lock:
            self.downloads += 1
        return web.Response(body=data, content_type="application/octet-stream")

    def start(self) -> FakeTelegram:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/bot{token}/{method}", self._handle)
            app.router.add_get("/file/bot{token}/files/{file_id}", self._file)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        # Every call the test made was one the Bot API (as aiogram models it) accepts.
        assert self.invalid == [], self.invalid


def update(
    update_id: int, user_id: int, text: str | None = None, *, language: str = "ru", **extra: Any
) -> dict[str, Any]:
    """A private-chat Telegram update."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "X", "language_code": language},
    }
    if text is not None:
        message["text"] = text
    message.update(extra)
    return {"update_id": update_id, "message": message}


def callback(update_id: int, user_id: int, data: str, message_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "chat_instance": "ci",
            "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "X", "language_code": "ru"},
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "text": text,
                "chat": {"id": user_id, "type": "private"},
            },
        },
    }
