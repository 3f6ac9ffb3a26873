"""System checks of the install (``manage.py check --deploy``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.database, deploy=True)
def keystore_is_usable(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The key store opens for writing, and is not the main database (ADR 18)."""
    from . import keystore

    location = str(settings.LIFELINE_KEYSTORE)
    main = settings.DATABASES["default"]
    if location.startswith(("postgres://", "postgresql://")):
        name = location.rsplit("/", 1)[-1].split("?", 1)[0]
        if main.get("ENGINE", "").endswith("postgresql") and name == main.get("NAME"):
            return [
                Error(
                    "LIFELINE_KEYSTORE names the main database: erasure would not reach its "
                    "backups. Give the key store a database of its own.",
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
