"""The production files in deploy/ stay true to the code: the example environment lists every
variable the settings read, the units are hardened, and the compose file parses."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
HARDENING = {
    "User": "lifeline",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ReadWritePaths": "/var/lib/lifeline",
}


def settings_variables() -> set[str]:
    """Every variable named in an env(...)/env.<cast>(...) call under lifeline/settings/."""
    names: set[str] = set()
    for path in (ROOT / "lifeline" / "settings").glob("*.py"):
        names.update(re.findall(r"env(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", path.read_text()))
    return {n for n in names if not n.startswith("LIFELINE_TEST_")}  # test settings only


def example_variables() -> set[str]:
    text = (DEPLOY / "lifeline.env.example").read_text()
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_example_environment_lists_every_setting() -> None:
    found = settings_variables()
    assert {"DATABASE_URL", "LIFELINE_CACHE_URL", "TELEGRAM_BOT_TOKEN"} <= found
    assert found - example_variables() == set()


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_the_units_exist() -> None:
    names = {p.name for p in UNITS}
    assert {
        "lifeline-web.service",
        "lifeline-webhook.service",
        "lifeline-worker@.service",
        "lifeline-telegram-setup.service",
        "lifeline-telegram-poll.service",
        "lifeline-asterisk.service",
    } <= names


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_are_hardened(path: Path) -> None:
    service = unit(path)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, (path.name, key)
    assert service.get("EnvironmentFile") == "/etc/lifeline/lifeline.env"
    if service.get("Type") != "oneshot":
        assert service.get("Restart") == "always", path.name
    # Every ${VAR} a unit uses is in the example environment.
    used = set(re.findall(r"\$\{([A-Z0-9_]+)\}", path.read_text()))
    assert used <= example_variables(), path.name


def test_compose_file_parses_with_every_service() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "webhook", "worker"} <= set(services)
    assert "webhook_server" in services["webhook"]["command"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["web"]["environment"]["LIFELINE_CACHE_URL"].startswith("redis://")
    assert services["web"]["env_file"] == "lifeline.env"
    # One key store shared by every container that writes or reads personal data, on a volume
    # (the containers' own filesystems are read-only and their own).
    for name in ("migrate", "web", "webhook", "worker"):
        service = services[name]
        assert service["environment"]["LIFELINE_KEYSTORE"] == "/keys/keystore.sqlite3", name
        assert "keys:/keys" in service["volumes"], name
    assert "keys" in compose["volumes"]


def test_wsgi_entry_point_loads() -> None:
    from lifeline.wsgi import application

    assert callable(application)
