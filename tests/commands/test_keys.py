"""init_keys and rotate_keys, on a real key file."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.cases.models import Case, CaseEvent
from lifeline.core import crypto, keystore
from tests.factories import create_case

pytestmark = pytest.mark.django_db


def versions_in_use() -> set[int]:
    """The root key versions the cases depend on: those wrapping the data keys that seal their
    fields, and those of any field sealed under a root key itself."""
    found = set()
    for model in (Case, CaseEvent):
        columns = [f.attname for f in model.encrypted_fields()]
        for row in model.objects.values_list(*columns):
            for value in row:
                if value is None:
                    continue
                key_id = crypto.token_data_key(value.token)
                found.add(
                    crypto.token_version(value.token)
                    if key_id is None
                    else keystore.store().root_version(key_id)
                )
    return found


def test_init_keys_creates_a_key_file_once(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.LIFELINE_KEYS = ""
    settings.VAR_DIR = tmp_path
    settings.LIFELINE_KEY_FILE = str(tmp_path / "keys.json")
    err = StringIO()
    call_command("init_keys", stdout=StringIO(), stderr=err)
    assert "WARNING" in err.getvalue()
    assert "keys.json" in err.getvalue()
    first = (tmp_path / "keys.json").read_text()
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "django_secret_key").exists()
    out = StringIO()
    call_command("init_keys", stdout=out, stderr=StringIO())
    assert "Keeping the existing key file" in out.getvalue()
    assert (tmp_path / "keys.json").read_text() == first


def test_rotate_keys_re_encrypts_everything(key_file: Path) -> None:
    cases = [create_case(full_name=f"Имя {i}", unit=f"Часть {i}") for i in range(5)]
    assert versions_in_use() == {1}
    out = StringIO()
    call_command("rotate_keys", "--add-key", "--batch", "2", stdout=out)
    assert "every row is under key version 2" in out.getvalue()
    assert versions_in_use() == {2}
    # Nothing depends on the old key any more: a ring without version 1 reads every row.
    ring = crypto.read_key_file(key_file)
    crypto.set_keyring(
        crypto.KeyRing(
            root_keys={2: ring.root_keys[2]},
            blind_index_key=ring.blind_index_key,
            codename_pepper=ring.codename_pepper,
        )
    )
    for i, case in enumerate(cases):
        loaded = Case.objects.get(pk=case.pk)
        assert (loaded.full_name, loaded.unit) == (f"Имя {i}", f"Часть {i}")
        assert all(e.data is None or isinstance(e.data, dict) for e in loaded.events.all())
    # Blind indexes did not change (separate key): look-ups still work.
    assert Case.objects.filter(service_number_index=cases[0].service_number_index).count() == 1


def test_rotate_keys_resumes_after_an_interruption(key_file: Path, monkeypatch: Any) -> None:
    for i in range(6):
        create_case(full_name=f"Имя {i}")
    real_wrap = keystore._wrap
    calls = {"n": 0}

    def crash_after_some(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("operator pressed Ctrl+C")
        return real_wrap(*args, **kwargs)

    monkeypatch.setattr(keystore, "_wrap", crash_after_some)
    # Six data keys, re-wrapped two at a time: the third batch is cut off mid-way.
    with pytest.raises(KeyboardInterrupt):
        call_command("rotate_keys", "--add-key", "--batch", "2", stdout=StringIO())
    monkeypatch.setattr(keystore, "_wrap", real_wrap)
    assert versions_in_use() == {1, 2}  # half done, each batch committed or not at all
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert versions_in_use() == {2}
    assert "every row is under key version 2" in out.getvalue()


def test_add_key_needs_a_key_file(settings: SettingsWrapper) -> None:
    assert settings.LIFELINE_KEYS
    with pytest.raises(CommandError, match="LIFELINE_KEYS"):
        call_command("rotate_keys", "--add-key", stdout=StringIO())
