"""A fake Telegram Bot API for the benchmark, in its own process on 127.0.0.1.

It answers like Telegram (``getMe``, ``sendMessage`` …) at once and records, for each call, the
method, the chat and the wall-clock time it arrived, so that the benchmark can compute
"webhook answered → first reply received". ``GET /_bench/first`` returns the first
``sendMessage`` time per chat, counts per method and the most free (not paid) sends
within any one second; ``POST /_bench/reset`` forgets everything.

    python -m bench.fake_bot_api --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from aiohttp import web

MAX_RECORDS = 2_000_000


class Recorder:
    def __init__(self) -> None:
        self.first_send: dict[int, float] = {}
        self.counts: dict[str, int] = {}
        self.message_id = 1000
        self.records = 0
        self.free_sends: list[float] = []  # sendMessage times without allow_paid_broadcast

    def reset(self) -> None:
        self.first_send.clear()
        self.counts.clear()
        self.records = 0
        self.free_sends.clear()

    def busiest_free_second(self) -> int:
        """The most free (not paid) sendMessage calls that arrived within any 1 s: the bot's
        budget says 30."""
        times = sorted(self.free_sends)
        most = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    async def bot_call(self, request: web.Request) -> web.Response:
        now = time.time()
        method = request.match_info["method"]
        if request.content_type == "application/json":
            data: dict[str, Any] = await request.json()
        else:
            data = {k: str(v) for k, v in (await request.post()).items()}
        self.counts[method] = self.counts.get(method, 0) + 1
        self.message_id += 1
        chat_id = int(data.get("chat_id", 0) or 0)
        if method == "sendMessage" and self.records < MAX_RECORDS:
            self.records += 1
            self.first_send.setdefault(chat_id, now)
            if str(data.get("allow_paid_broadcast", "")).lower() not in ("true", "1"):
                self.free_sends.append(now)
        if method == "getMe":
            result: Any = {"id": 42, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
        elif method in ("sendMessage", "editMessageText"):
            result = {
                "message_id": int(data.get("message_id", self.message_id)),
                "date": int(now),
                "chat": {"id": chat_id, "type": "private"},
                "text": str(data.get("text", "")),
            }
        elif method == "getUpdates":
            result = []
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def first(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "first": {str(k): v for k, v in self.first_send.items()},
                "counts": self.counts,
                "busiest_free_second": self.busiest_free_second(),
            },
            dumps=json.dumps,
        )

    async def do_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def app() -> web.Application:
    recorder = Recorder()
    application = web.Application(client_max_size=8 * 1024 * 1024)
    application.router.add_post("/bot{token}/{method}", recorder.bot_call)
    application.router.add_get("/_bench/first", recorder.first)
    application.router.add_post("/_bench/reset", recorder.do_reset)
    return application


async def serve(port: int) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
