"""System checks of the install (``manage.py check --deploy``)."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

_LOCAL = {"", "localhost", "127.0.0.1", "::1"}


def _same_server(url: str, main: dict[str, Any]) -> bool:
    parts = urlsplit(url)
    host, main_host = parts.hostname or "", str(main.get("HOST") or "")
    port, main_port = parts.port or 5432, int(main.get("PORT") or 5432)
    same_host = host == main_host or (host in _LOCAL and main_host in _LOCAL)
    return same_host and port == main_port


@register(Tags.database, deploy=True)
def keystore_is_usable(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The key store opens for writing, and is not the main database (ADR 18)."""
    from . import keystore

    location = str(settings.LIFELINE_KEYSTORE)
    main = settings.DATABASES["default"]
    if location.startswith(("postgres://", "postgresql://")):
        if main.get("ENGINE", "").endswith("postgresql") and _same_server(location, main):
            return [
                Error(
                    "LIFELINE_KEYSTORE is on the main database's server: its backups and "
                    "archived write-ahead log would keep the keys that erasure destroys. Give "
                    "the key store a PostgreSQL server of its own (docs/operations.md).",
                    id="lifeline.E001",
                )
            ]
        return []  # a server of its own: opened on first use, not at every check
    try:
        keystore.KeyStore(location).count()
    except (OSError, sqlite3.Error) as exc:
        return [
            Error(
                f"the key store {location} cannot be opened for writing ({type(exc).__name__}):"
                " every new case and person would fail. Set LIFELINE_KEYSTORE to a writable "
                "file on a persistent volume shared by every process.",
                id="lifeline.E002",
            )
        ]
    return []
