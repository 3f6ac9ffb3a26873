"""The staff session store: Django's database sessions, accepting only keys Django could have
issued. A forged cookie (NUL bytes, any length, any alphabet) is treated as no session at all,
instead of reaching the database — PostgreSQL refuses NUL in text and would answer 500."""

from __future__ import annotations

import re

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

# Django makes keys of 32 characters from [a-z0-9] (sessions.backends.base.VALID_KEY_CHARS).
_SESSION_KEY = re.compile(r"[a-z0-9]{32}")


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(key) and _SESSION_KEY.fullmatch(key or "") is not None
