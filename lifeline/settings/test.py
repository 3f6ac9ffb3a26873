"""Test settings: SQLite in memory unless DATABASE_URL names PostgreSQL. Keys are made per run."""

from __future__ import annotations

import atexit
import base64
import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-only-secret-key-not-for-any-install"  # noqa: S105 - tests only
DEBUG = False

if not env.str("DATABASE_URL", default=""):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}


def _fresh_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


# Fresh random keys for every test run: none are ever written down, so none can leak.
# (A test that starts worker processes hands its keys to them through the environment.)
LIFELINE_KEYS = env.str("LIFELINE_TEST_KEYS", default="") or f"1:{_fresh_key()}"
LIFELINE_BLIND_INDEX_KEY = env.str("LIFELINE_TEST_BLIND_INDEX_KEY", default="") or _fresh_key()
LIFELINE_CODENAME_PEPPER = env.str("LIFELINE_TEST_CODENAME_PEPPER", default="") or _fresh_key()
LIFELINE_KEY_FILE = ""
# A key store of this run's own (handed to the worker processes a test starts, like the keys),
# removed when the run ends.
LIFELINE_KEYSTORE = env.str("LIFELINE_TEST_KEYSTORE", default="")
if not LIFELINE_KEYSTORE:
    LIFELINE_KEYSTORE = str(
        Path(tempfile.gettempdir()) / f"lifeline-test-keystore-{os.getpid()}-{os.urandom(4).hex()}"
    )

    def _remove_keystore(path: str = LIFELINE_KEYSTORE) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)

    atexit.register(_remove_keystore)

# Fast hashing for staff passwords in tests only.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files come straight from the source folders (no collectstatic in tests).
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
LIFELINE_TELEGRAM_CHANNELS = {"ru": "@lifeline_test_ru", "uk": "@lifeline_test_uk", "en": "-1001"}
