"""`manage.py check --deploy` is clean with the production settings."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.processes import clean_env

ROOT = Path(__file__).resolve().parent.parent


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def production_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="hotline.example",
        DATABASE_URL="postgres://lifeline@127.0.0.1:5432/lifeline",
        LIFELINE_KEYS=f"1:{key()}",
        LIFELINE_BLIND_INDEX_KEY=key(),
        LIFELINE_CODENAME_PEPPER=key(),
        LIFELINE_CACHE_URL="redis://127.0.0.1:6379/0",
        **extra,
    )
    return env


def check_deploy(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = check_deploy(production_env(), "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_sqlite() -> None:
    env = clean_env()
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DATABASE_URL="sqlite:////tmp/x.db",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Production runs on PostgreSQL" in result.stderr


def test_check_deploy_refuses_a_key_store_it_cannot_write(tmp_path: Path) -> None:
    locked = tmp_path / "a-file"  # a file where a folder should be: unwritable even for root
    locked.write_text("")
    result = check_deploy(
        production_env(LIFELINE_KEYSTORE=str(locked / "sub" / "keystore.sqlite3"))
    )
    assert result.returncode != 0
    assert "lifeline.E002" in result.stderr
    # On the main database's server, under any database name: its backups would hold the keys.
    for same in (
        "postgres://lifeline@127.0.0.1:5432/lifeline",
        "postgres://keys@localhost/lifeline_keys",
    ):
        assert "lifeline.E001" in check_deploy(production_env(LIFELINE_KEYSTORE=same)).stderr
    apart = "postgres://keys@keys.internal:5432/lifeline"  # another server, the same name
    assert "lifeline.E001" not in check_deploy(production_env(LIFELINE_KEYSTORE=apart)).stderr
