"""What every part of the benchmark shares: configuration, child processes (always cleaned up),
ports, percentiles, resident memory and the results table."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


@dataclass(frozen=True)
class Config:
    """Every knob comes from the environment; ``BENCH_QUICK=1`` shrinks the defaults."""

    quick: bool
    parts: frozenset[str]
    seconds: float  # each closed-loop load run (wrk)
    rate_target: int  # updates/s for the open-loop webhook latency run
    rate_seconds: float
    sustained_rate: int  # updates/s for ack -> first reply
    sustained_seconds: float
    burst: int  # updates in the burst
    reply_wait: float  # longest wait for replies after the last update was acknowledged
    backlog_chats: int
    backlog_inputs: int
    web_processes: int
    worker_processes: int
    server: str  # the webhook's server in part (c): accept (production), gunicorn or uvicorn
    paid_per_second: int  # part (c): the paid lane (LIFELINE_TELEGRAM_PAID_PER_SECOND)
    admin_url: str  # a PostgreSQL database to create and drop the bench databases from
    redis_url: str
    crypto_rows: int

    @classmethod
    def from_env(cls) -> Config:
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false", "no")
        parts = os.environ.get("BENCH_PARTS", "crypto,webhook,flow,latency,figures,search")
        return cls(
            quick=quick,
            parts=frozenset(p.strip() for p in parts.split(",") if p.strip()),
            seconds=env_float("BENCH_SECONDS", 5 if quick else 15),
            rate_target=env_int("BENCH_RATE", 500),
            rate_seconds=env_float("BENCH_RATE_SECONDS", 5 if quick else 20),
            sustained_rate=env_int("BENCH_SUSTAINED_RATE", 100),
            sustained_seconds=env_float("BENCH_SUSTAINED_SECONDS", 10 if quick else 60),
            burst=env_int("BENCH_BURST", 300 if quick else 2000),
            reply_wait=env_float("BENCH_REPLY_WAIT", 60 if quick else 300),
            backlog_chats=env_int("BENCH_BACKLOG_CHATS", 50 if quick else 200),
            backlog_inputs=env_int("BENCH_BACKLOG_INPUTS", 10),
            web_processes=env_int("BENCH_WEB_PROCESSES", 2),
            worker_processes=env_int("BENCH_WORKERS", 2),
            server=os.environ.get("BENCH_SERVER", "accept"),
            paid_per_second=env_int("BENCH_PAID_PER_SECOND", 200),
            admin_url=os.environ.get(
                "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
            ),
            redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            crypto_rows=env_int("BENCH_ROWS", 500 if quick else 2000),
        )


def say(text: str) -> None:
    print(text, flush=True)


# --- child processes -------------------------------------------------------------------------

_children: list[subprocess.Popen[bytes]] = []


def spawn(
    args: Sequence[str], env: dict[str, str], *, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (so that its own children go with it)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
        list(args),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if log:
        out.close()  # type: ignore[union-attr]
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Grandchildren that outlived their parent (uvicorn's or gunicorn's workers).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc in _children:
        _children.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(_children)):
        stop(proc, timeout=5)


@contextlib.contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in reversed(procs):
            stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


# --- resident memory -------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of one process in MB (MiB); (0, 0) once it is gone."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


@dataclass
class MemoryWatch:
    """The largest VmRSS seen per process kind (e.g. "web", "worker") over repeated samples."""

    peak: dict[str, float] = field(default_factory=dict)
    hwm: dict[str, float] = field(default_factory=dict)

    def sample(self, kind: str, roots: Sequence[subprocess.Popen[bytes]]) -> None:
        for root in roots:
            for pid in process_tree(root.pid):
                rss, hwm = rss_mb(pid)
                self.peak[kind] = max(self.peak.get(kind, 0.0), rss)
                self.hwm[kind] = max(self.hwm.get(kind, 0.0), hwm)


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Row:
    part: str
    what: str
    figure: str
    target: str = ""
    verdict: str = ""  # PASS / MISS / "" (no target) / n/a


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, part: str, what: str, figure: str, target: str = "", ok: bool | None = None
    ) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append(Row(part, what, figure, target, verdict))
        say(f"  {what}: {figure}" + (f"   [{verdict}: {target}]" if verdict else ""))

    def note(self, text: str) -> None:
        self.notes.append(text)
        say(f"  note: {text}")

    def render(self) -> str:
        widths = [
            max(len(getattr(r, name)) for r in [*self.rows, Row("part", "what", "figure")])
            for name in ("part", "what", "figure")
        ]
        lines = []
        header = Row("part", "what", "figure", "target", "verdict")
        for row in [header, *self.rows]:
            lines.append(
                f"{row.part:<{widths[0]}}  {row.what:<{widths[1]}}  {row.figure:<{widths[2]}}"
                f"  {row.verdict:<7} {row.target}".rstrip()
            )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"
