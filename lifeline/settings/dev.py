"""The embedded default: SQLite and a key file under ./var/, one process. Used by `make run`."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    # A per-install secret kept beside the database, created by `manage.py init_keys`.
    _secret_file = VAR_DIR / "django_secret_key"
    SECRET_KEY = (
        _secret_file.read_text().strip() if _secret_file.exists() else "not-yet-initialised"
    )

if not env.str("LIFELINE_KEYS", default="") and not env.str("LIFELINE_KEY_FILE", default=""):
    LIFELINE_KEY_FILE = str(VAR_DIR / "keys.json")

# Serve static files straight from the source folders: no collectstatic step for a small install.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # type: ignore[assignment]

# Demo contacts for `make run` (obviously not real: replace them in the environment).
LIFELINE_BOT_USERNAME = env.str("LIFELINE_BOT_USERNAME", default="lifeline_demo_bot")
LIFELINE_TELEGRAM_CHANNELS = env.dict(
    "LIFELINE_TELEGRAM_CHANNELS", default={"ru": "@lifeline_demo_ru", "uk": "@lifeline_demo_uk"}
)
LIFELINE_PHONE_NUMBERS = env.list("LIFELINE_PHONE_NUMBERS", default=["+380 00 000 00 00"])
