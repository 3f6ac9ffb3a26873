"""The webhook's durable accept costs one database statement and no aiogram import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels.models import InboundEvent
from tests.channels.fake_telegram import callback, update
from tests.processes import clean_env

pytestmark = pytest.mark.django_db

SECRET = "accept-test-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def post(client: Client, data: object) -> int:
    return client.post(
        "/telegram/webhook/",
        data=json.dumps(data),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    ).status_code


def test_one_statement_per_update_and_redeliveries_insert_nothing(
    settings: SettingsWrapper,
) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    client = Client()
    post(client, update(1, 4001, "warm-up"))  # first request: URL resolver, settings caches
    with CaptureQueriesContext(connection) as queries:
        assert post(client, update(2, 4001, "Здравствуйте")) == 200
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("INSERT")
    assert post(client, update(2, 4001, "Здравствуйте")) == 200  # Telegram redelivers
    assert InboundEvent.objects.filter(external_id="2").count() == 1
    assert post(client, callback(3, 4001, "b:0", 77, "Кто вы?")) == 200
    assert InboundEvent.objects.filter(external_id="3").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"update_id": 5, "message": {"chat": {"id": "x"}}},
        {"update_id": 5, "message": {"chat": {"id": 2**63}}},
        {"update_id": 5, "message": "text"},
        {"update_id": 5, "callback_query": {"from": {}}},
        {"update_id": -5, "message": {"chat": {"id": 1}}},
    ],
)
def test_a_malformed_handled_update_is_a_400(settings: SettingsWrapper, body: object) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    assert post(Client(), body) == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="its own test database: checked in the SQLite run"
)
def test_the_webhook_does_not_import_aiogram(tmp_path: Path) -> None:
    """Importing aiogram took seconds: the first webhook after a restart must not pay for it."""
    code = f"""
import json, sys, django
django.setup()
from django.test.utils import setup_test_environment
from django.test.runner import DiscoverRunner
setup_test_environment()
runner = DiscoverRunner(verbosity=0)
old = runner.setup_databases()
from django.test import Client
from django.conf import settings
settings.TELEGRAM_WEBHOOK_SECRET = {SECRET!r}
response = Client().post("/telegram/webhook/", data=json.dumps({{"update_id": 9,
    "message": {{"message_id": 1, "date": 0, "chat": {{"id": 5, "type": "private"}},
    "text": "hi"}}}}), content_type="application/json",
    HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN={SECRET!r})
assert response.status_code == 200, response.status_code
assert not any(m == "aiogram" or m.startswith("aiogram.") for m in sys.modules), "aiogram"
runner.teardown_databases(old)
"""
    env = clean_env()
    env["DJANGO_SETTINGS_MODULE"] = "lifeline.settings.test"
    env["LIFELINE_VAR_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
