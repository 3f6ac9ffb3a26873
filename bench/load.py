"""Load generators, all aimed at 127.0.0.1 only, all bounded in time and count.

* :func:`closed_loop` — N connections, each sending its next request when the last one is
  answered, for a fixed time: ``wrk`` (Debian package ``wrk``) when installed, else a slower
  asyncio/aiohttp loop (said so in the output: its figures are not comparable with wrk's).
* :func:`open_loop` — requests at a fixed rate whatever the server does (asyncio/aiohttp),
  latency counted from the moment each request was *due*, so a slow server cannot hide its
  queue (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .common import percentile
from .updates import TEXTS, body, lua_script

HEADERS = {
    "Content-Type": "application/json",
    "X-Forwarded-Proto": "https",  # as the TLS-terminating proxy in front of Lifeline sets it
}


def wrk_path() -> str | None:
    """wrk, unless BENCH_LOADGEN=python asks for the Python generator."""
    if os.environ.get("BENCH_LOADGEN", "") == "python":
        return None
    return shutil.which("wrk")


@dataclass
class LoadResult:
    tool: str
    connections: int
    seconds: float
    requests: int
    non2xx: int
    errors: int  # connect/read/write errors and timeouts (no answer at all)
    p50: float  # seconds
    p90: float
    p99: float
    statuses: str = ""

    @property
    def rps(self) -> float:
        """2xx answers per second: the accepted updates (an error answer accepts nothing)."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds else 0.0


def closed_loop(
    url: str, *, secret: str, connections: int, seconds: float, first_update_id: int, chats: int
) -> LoadResult:
    path = "/" + url.split("/", 3)[3]
    if wrk_path():
        return _wrk(url, path, secret, connections, seconds, first_update_id, chats)
    return asyncio.run(_closed_loop_py(url, secret, connections, seconds, first_update_id, chats))


def _wrk(
    url: str,
    path: str,
    secret: str,
    connections: int,
    seconds: float,
    first_update_id: int,
    chats: int,
) -> LoadResult:
    threads = min(2, connections)
    with tempfile.TemporaryDirectory(prefix="lifeline-bench-") as tmp:
        script = Path(tmp) / "webhook.lua"
        script.write_text(lua_script(path=path, secret=secret, chats=chats))
        out = subprocess.run(  # noqa: S603 - wrk with fixed arguments, against 127.0.0.1
            [
                str(wrk_path()),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                url,
                "--",
                str(first_update_id),
                str(threads),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
        )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line[len("BENCH ") :])
    return LoadResult(
        tool="wrk",
        connections=connections,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        non2xx=data["non2xx"],
        errors=data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"],
        p50=data["p50_us"] / 1e6,
        p90=data["p90_us"] / 1e6,
        p99=data["p99_us"] / 1e6,
        statuses=data["statuses"].strip(),
    )


async def _closed_loop_py(
    url: str, secret: str, connections: int, seconds: float, first_update_id: int, chats: int
) -> LoadResult:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    counter = 0
    headers = {**HEADERS, "X-Telegram-Bot-Api-Secret-Token": secret}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=connections)
    start = time.monotonic()
    deadline = start + seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one_connection() -> None:
            nonlocal counter, errors
            while time.monotonic() < deadline:
                counter += 1
                seq = counter
                data = body(
                    first_update_id + seq, 700_000_000 + seq % chats, TEXTS[seq // chats % 6]
                )
                sent = time.monotonic()
                try:
                    async with session.post(url, data=data, headers=headers) as resp:
                        await resp.read()
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.monotonic() - sent)

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.monotonic() - start
    non2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    return LoadResult(
        tool="python",
        connections=connections,
        seconds=elapsed,
        requests=len(latencies),
        non2xx=non2xx,
        errors=errors,
        p50=percentile(latencies, 50),
        p90=percentile(latencies, 90),
        p99=percentile(latencies, 99),
        statuses=" ".join(f"{s}: {n}" for s, n in statuses.items() if not 200 <= s < 300),
    )


@dataclass
class Sent:
    key: int
    status: int  # 0: no answer (error or timeout)
    latency: float  # seconds from the moment it was due to the answer
    answered_at: float  # wall clock (time.time()) of the answer


@dataclass
class OpenLoopResult:
    rate: float  # asked for
    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0  # from the first request due to the last answer
    lag: float = 0.0  # how late the generator itself was at worst, seconds

    @property
    def ok(self) -> list[Sent]:
        return [s for s in self.sent if 200 <= s.status < 300]

    @property
    def non2xx(self) -> int:
        return sum(1 for s in self.sent if s.status and not 200 <= s.status < 300)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sent if not s.status)

    def latency(self, q: float) -> float:
        return percentile([s.latency for s in self.ok], q)


def open_loop(
    url: str,
    *,
    secret: str,
    rate: float,
    count: int,
    make: Callable[[int], tuple[int, bytes]],
    connections: int,
    timeout: float = 60,
) -> OpenLoopResult:
    """``count`` requests due at ``rate`` per second (``rate`` <= 0: all due at once, a burst),
    over at most ``connections`` connections. ``make(i)`` returns (key, body)."""
    return asyncio.run(_open_loop(url, secret, rate, count, make, connections, timeout))


async def _open_loop(
    url: str,
    secret: str,
    rate: float,
    count: int,
    make: Callable[[int], tuple[int, bytes]],
    connections: int,
    timeout: float,
) -> OpenLoopResult:
    result = OpenLoopResult(rate=rate)
    headers = {**HEADERS, "X-Telegram-Bot-Api-Secret-Token": secret}
    connector = aiohttp.TCPConnector(limit=connections)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(i: int, due: float) -> None:
            key, data = make(i)
            status = 0
            try:
                async with session.post(url, data=data, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            result.sent.append(Sent(key, status, time.monotonic() - due, time.time()))

        start = time.monotonic()
        tasks = []
        for i in range(count):
            due = start + (i / rate if rate > 0 else 0.0)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.lag = max(result.lag, -delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        result.seconds = time.monotonic() - start
    return result
