"""The layers of docs/architecture.md, checked on the source: lower apps never import upper
ones (not even inside a function), the engine imports no Django, the public side no console."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "lifeline"

#: app -> apps it must never import. (core's services write audit entries: audit sits between
#: core's models and core's services.) Management commands are entry points and may import any.
UPPER = {"conversations", "channels", "cases", "phone", "public", "console"}
FORBIDDEN = {
    "core": {"contacts", *UPPER},
    "audit": {"contacts", *UPPER},
    "stats": {"conversations", "channels", "cases", "phone", "public", "console"},
    "contacts": {"conversations", "channels", "cases", "phone", "public", "console"},
    "cases": {"conversations", "channels", "phone", "public", "console"},
    "conversations": {"channels", "phone", "public", "console"},
    "channels": {"phone", "public", "console"},
    "public": {"console"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_lower_apps_do_not_import_upper_ones(app: str) -> None:
    offences = []
    for path in (APPS / app).rglob("*.py"):
        if "migrations" in path.parts or "management" in path.parts:
            continue
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "lifeline" and len(parts) > 1 and parts[1] in FORBIDDEN[app]:
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_the_engine_imports_without_django() -> None:
    code = (
        "import sys; import lifeline.conversations.engine.runner, "
        "lifeline.conversations.engine.loader; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
