"""The asyncio code that talks to PostgreSQL without Django (the webhook's accept server, the
senders' records) connects as Django does: DATABASE_URL's options (TLS, timeouts) included,
and every PostgreSQL connection gives up on a peer that stopped answering. (Found by the
adversarial review of issue 13: with TLS required, every webhook request would have been 503.)"""

from __future__ import annotations

import warnings

import environ
import psycopg
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.core.db import postgres_conninfo
from lifeline.settings.base import with_connection_timeouts

URL = (
    "postgres://lifeline:pw@db.internal:5432/lifeline"
    "?sslmode=verify-full&sslrootcert=/etc/lifeline/pg-ca.pem&connect_timeout=5"
)


def test_the_asyncio_connections_carry_djangos_connection_options(
    settings: SettingsWrapper,
) -> None:
    config = with_connection_timeouts(environ.Env.db_url_config(URL))
    config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 8}
    with warnings.catch_warnings():  # Django warns that DATABASES changed during tests
        warnings.simplefilter("ignore")
        settings.DATABASES = {**settings.DATABASES, "default": config}
    used = psycopg.conninfo.conninfo_to_dict(postgres_conninfo())
    assert used["sslmode"] == "verify-full"
    assert used["sslrootcert"] == "/etc/lifeline/pg-ca.pem"
    assert used["connect_timeout"] == "5"  # the URL's own value wins over the default
    assert used["keepalives"] == "1"
    assert used["tcp_user_timeout"] == "30000"
    assert "pool" not in used  # Django's own option, not libpq's
    assert (used["host"], used["dbname"], used["user"]) == ("db.internal", "lifeline", "lifeline")


def test_production_settings_give_every_postgresql_connection_timeouts() -> None:
    config = with_connection_timeouts(
        environ.Env.db_url_config("postgres://lifeline@127.0.0.1:5432/lifeline")
    )
    options = config["OPTIONS"]
    assert options["connect_timeout"] == 10
    assert (options["keepalives_idle"], options["keepalives_count"]) == (30, 3)
    sqlite = with_connection_timeouts(environ.Env.db_url_config("sqlite:////tmp/x.sqlite3"))
    assert "connect_timeout" not in sqlite.get("OPTIONS", {})
