"""The benchmark's own PostgreSQL databases, created and dropped by the benchmark.

``lifeline_bench_tpl`` is migrated once; every part starts from a fresh copy of it named
``lifeline_bench`` (``CREATE DATABASE … TEMPLATE``, under a second), so no part sees another's
rows. Both are dropped on exit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

TEMPLATE = "lifeline_bench_tpl"
NAME = "lifeline_bench"


def problem(admin_url: str) -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        psycopg.connect(admin_url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def url_for(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass
class BenchDatabases:
    """The bench keeps one connection of its own to each database, opened before the load
    starts, so that a server which exhausts PostgreSQL's connections cannot lock it out."""

    admin_url: str
    _admin_conn: psycopg.Connection[tuple[Any, ...]] | None = None
    _conn: psycopg.Connection[tuple[Any, ...]] | None = None

    @property
    def url(self) -> str:
        return url_for(self.admin_url, NAME)

    @property
    def template_url(self) -> str:
        return url_for(self.admin_url, TEMPLATE)

    def _admin(self, statement: sql.Composed | str) -> list[tuple[Any, ...]]:
        if self._admin_conn is None or self._admin_conn.closed:
            self._admin_conn = _connect(self.admin_url)
        cursor = self._admin_conn.execute(statement)
        return list(cursor.fetchall()) if cursor.description else []

    def _drop(self, name: str) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_template(self) -> None:
        self.drop_all()
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))

    def fresh(self) -> None:
        """``lifeline_bench`` as a new copy of the migrated template."""
        self._close()
        self._drop(NAME)
        for attempt in range(20):  # the template must have no session open; retry briefly
            try:
                self._admin(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(NAME), sql.Identifier(TEMPLATE)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        self._conn = _connect(self.url)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def drop_all(self) -> None:
        self._close()
        self._drop(NAME)
        self._drop(TEMPLATE)
        if self._admin_conn is not None:
            self._admin_conn.close()
            self._admin_conn = None

    def query(self, text: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self.url)
        return list(self._conn.execute(text, params).fetchall())

    def connections(self) -> int:
        """Sessions open on ``lifeline_bench`` now (the bench's own one excluded)."""
        rows = self._admin(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{NAME}'"  # noqa: S608
        )
        return int(rows[0][0]) - (1 if self._conn is not None else 0)

    def inbox_counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) FROM channels_inboundevent GROUP BY status")
        return {str(status): int(n) for status, n in rows}

    def outbox_counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) FROM channels_outboundmessage GROUP BY status")
        return {str(status): int(n) for status, n in rows}

    def processed_span(self) -> tuple[float, float] | None:
        rows = self.query(
            "SELECT extract(epoch FROM min(processed_at)), extract(epoch FROM max(processed_at))"
            " FROM channels_inboundevent WHERE status = 'done'"
        )
        first, last = rows[0]
        return None if first is None else (float(first), float(last))


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """Connect, waiting up to a minute for a free connection slot."""
    for attempt in range(120):
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            if attempt == 119:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")
