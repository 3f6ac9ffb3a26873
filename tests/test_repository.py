"""No key material and no runtime data are committed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A 32-byte key in base64 (44 characters ending in '='), or a PEM private key.
KEY_PATTERNS = [
    re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}="),
    re.compile("PRIVATE" + " KEY-"),
]


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out.splitlines()


def test_no_key_material_is_tracked() -> None:
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if path.suffix in {".mo"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for pattern in KEY_PATTERNS:
            if pattern.search(text):
                offenders.append(name)
    assert offenders == []


def test_runtime_folders_are_not_tracked() -> None:
    assert not [n for n in tracked_files() if n.startswith(("var/", ".venv/"))]
