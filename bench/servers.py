"""Starting what is measured: Lifeline's web server (uvicorn or gunicorn), its workers, the fake
Bot API and the aiogram reference bot — each a child process on 127.0.0.1, production settings,
fresh random keys, the benchmark's own database."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, free_port, say, spawn, stop, wait_for_port

LOG_DIR = ROOT / "var" / "bench"
BOT_TOKEN = "123456:BENCH-lifeline-bot-token"  # noqa: S105 - talks to the fake Bot API only
# Everything goes to 127.0.0.1: never through a proxy named in the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def lifeline_env(*, database_url: str, redis_url: str, api_base: str) -> dict[str, str]:
    """Production settings (lifeline/settings/prod.py) with fresh keys made for this run only.
    Nothing of this machine's own Lifeline or Django configuration leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "LIFELINE_", "DJANGO_", "TELEGRAM_", "BENCH_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        LIFELINE_CACHE_URL=redis_url,
        LIFELINE_KEYS=f"1:{_key()}",
        LIFELINE_BLIND_INDEX_KEY=_key(),
        LIFELINE_CODENAME_PEPPER=_key(),
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_WEBHOOK_SECRET=secrets.token_urlsafe(32),
        LIFELINE_TELEGRAM_API_BASE=api_base,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def log_file(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{name}.log"
    path.write_bytes(b"")
    return path


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    out = subprocess.run(  # noqa: S603 - our own manage.py
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def helper(env: dict[str, str], *args: str, timeout: float = 900) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own helper module
        [PYTHON, "-m", "bench.lifeline_helper", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"bench.lifeline_helper {args[0]} failed:\n{out.stdout}\n{out.stderr}")
    result: dict[str, Any] = json.loads(line[len("BENCH ") :])
    return result


@dataclass
class FakeBotApi:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1
            f"{self.base}/_bench/reset", data=b"", method="POST"
        )
        with OPENER.open(request, timeout=10):
            pass

    def first_sends(self) -> tuple[dict[int, float], dict[str, int]]:
        with OPENER.open(f"{self.base}/_bench/first", timeout=30) as resp:
            data = json.loads(resp.read())
        return {int(k): float(v) for k, v in data["first"].items()}, data["counts"]

    def busiest_free_second(self) -> int:
        """The most sendMessage calls without the paid lane within any one second."""
        with OPENER.open(f"{self.base}/_bench/first", timeout=30) as resp:
            return int(json.loads(resp.read())["busiest_free_second"])


def start_fake_bot_api() -> FakeBotApi:
    port = free_port()
    proc = spawn(
        [PYTHON, "-m", "bench.fake_bot_api", "--port", str(port)],
        os.environ.copy(),
        log=log_file("fake_bot_api"),
    )
    wait_for_port(port, proc)
    return FakeBotApi(proc, port)


def start_reference_bot(api: FakeBotApi, secret: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = spawn(
        [
            PYTHON,
            "-m",
            "bench.reference_aiogram_bot",
            "--port",
            str(port),
            "--api",
            api.base,
            "--secret",
            secret,
        ],
        os.environ.copy(),
        log=log_file("reference_aiogram_bot"),
    )
    wait_for_port(port, proc)
    return proc, port


def server_command(server: str, port: int, processes: int, settings: str) -> list[str]:
    if server == "uvicorn":
        # ASGI, as `manage.py serve` runs it (the embedded default).
        return [
            PYTHON,
            "-m",
            "uvicorn",
            "lifeline.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(processes),
            "--no-access-log",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ]
    if server in ("accept", "bare-asgi"):
        # The webhook's own accept server (production: lifeline-webhook.service runs
        # `manage.py webhook_server`, which starts uvicorn exactly so), or the bare ASGI
        # one-INSERT app under the same server (bench/bare_asgi.py).
        app = (
            "lifeline.channels.webhook_asgi:application"
            if server == "accept"
            else "bench.bare_asgi:application"
        )
        return [
            PYTHON,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(processes),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--lifespan",
            "on",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ]
    if server == "gunicorn":
        # WSGI, sync workers (one request at a time per process), as in production
        # (deploy/systemd/lifeline-web.service).
        return [
            PYTHON,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(processes),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--no-control-socket",
            "lifeline.wsgi:application",
        ]
    raise ValueError(server)


def start_web(
    server: str,
    env: dict[str, str],
    processes: int,
    *,
    settings: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    child_env = {**env, **(extra_env or {})}
    if settings:
        child_env["DJANGO_SETTINGS_MODULE"] = settings
    proc = spawn(
        server_command(server, port, processes, child_env["DJANGO_SETTINGS_MODULE"]),
        child_env,
        log=log_file(f"web-{server}"),
    )
    wait_for_port(port, proc)
    return proc, port


def warm_up(url: str, secret: str, count: int, first_update_id: int) -> None:
    """A few updates, one at a time, until every server process has answered (the first
    request of a process imports what it needs)."""
    from .updates import body

    deadline = time.monotonic() + 120
    ok = 0
    i = 0
    while ok < count and time.monotonic() < deadline:
        i += 1
        request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1
            url,
            data=body(first_update_id + i, 699_000_000 + i, "/start"),
            headers={
                "Content-Type": "application/json",
                "X-Forwarded-Proto": "https",
                "X-Telegram-Bot-Api-Secret-Token": secret,
            },
            method="POST",
        )
        try:
            with OPENER.open(request, timeout=60) as resp:
                ok += 200 <= resp.status < 300
        except OSError as exc:
            say(f"  (warm-up: {exc})")
            time.sleep(0.5)
    if ok < count:
        raise RuntimeError(f"{url} did not answer 2xx during warm-up")


def start_workers(
    env: dict[str, str], count: int, extra_env: dict[str, str] | None = None
) -> list[subprocess.Popen[bytes]]:
    return [
        spawn(
            [PYTHON, "manage.py", "worker"],
            {**env, **(extra_env or {})},
            log=log_file(f"worker-{i}"),
        )
        for i in range(count)
    ]


def stop_many(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        stop(proc)
