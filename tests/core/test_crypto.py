"""The crypto module on its own: sealing, binding, tampering, key versions, blind indexes."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import TypedDict

import pytest

from lifeline.core import crypto


class Binding(TypedDict):
    table: str
    column: str
    pk: str


BIND: Binding = {"table": "cases_case", "column": "full_name", "pk": "1f0c"}


@pytest.fixture
def ring() -> crypto.KeyRing:
    return crypto.new_keyring()


def test_round_trip(ring: crypto.KeyRing) -> None:
    token = crypto.encrypt("Иван Петров".encode(), ring=ring, **BIND)
    assert token.startswith("lf1:1:")
    assert "Иван" not in token
    assert crypto.decrypt(token, ring=ring, **BIND).decode() == "Иван Петров"


def test_same_plaintext_gives_different_ciphertexts(ring: crypto.KeyRing) -> None:
    assert crypto.encrypt(b"x", ring=ring, **BIND) != crypto.encrypt(b"x", ring=ring, **BIND)


def _flip(token: str, position: int) -> str:
    prefix, version, body = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 0x01
    return f"{prefix}:{version}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])
def test_one_altered_byte_fails(ring: crypto.KeyRing, position: int) -> None:
    token = crypto.encrypt(b"secret service number", ring=ring, **BIND)
    with pytest.raises(crypto.DecryptionError, match="does not decrypt"):
        crypto.decrypt(_flip(token, position), ring=ring, **BIND)


@pytest.mark.parametrize(
    "other",
    [
        {**BIND, "pk": "2a7d"},  # moved to another row
        {**BIND, "column": "unit"},  # moved to another column
        {**BIND, "table": "contacts_identity"},  # moved to another table
    ],
)
def test_moved_ciphertext_fails(ring: crypto.KeyRing, other: dict[str, str]) -> None:
    token = crypto.encrypt(b"value", ring=ring, **BIND)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, ring=ring, **other)


def test_changing_the_version_label_fails(ring: crypto.KeyRing) -> None:
    ring2 = crypto.add_key_version(ring)
    token = crypto.encrypt(b"value", ring=ring, **BIND)
    relabelled = token.replace("lf1:1:", "lf1:2:", 1)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(relabelled, ring=ring2, **BIND)


def test_unknown_version_is_a_clear_error(ring: crypto.KeyRing) -> None:
    newer = crypto.add_key_version(ring)
    token = crypto.encrypt(b"value", ring=newer, **BIND)
    with pytest.raises(crypto.UnknownKeyVersionError, match="key version 2 is not in the key ring"):
        crypto.decrypt(token, ring=ring, **BIND)


def test_other_keys_fail(ring: crypto.KeyRing) -> None:
    token = crypto.encrypt(b"value", ring=ring, **BIND)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, ring=crypto.new_keyring(), **BIND)


@pytest.mark.parametrize("garbage", ["", "plain text", "lf1:x:abc", "lf1:1:!!!", "lf1:1:YWJj"])
def test_non_ciphertexts_never_fall_back(ring: crypto.KeyRing, garbage: str) -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(garbage, ring=ring, **BIND)


def test_error_messages_hold_no_plaintext(ring: crypto.KeyRing) -> None:
    token = crypto.encrypt(b"PLAINTEXT-MARKER", ring=ring, **BIND)
    with pytest.raises(crypto.DecryptionError) as info:
        crypto.decrypt(_flip(token, 30), ring=ring, **BIND)
    assert "PLAINTEXT-MARKER" not in str(info.value)


def test_old_versions_still_decrypt_and_new_writes_use_newest(ring: crypto.KeyRing) -> None:
    old = crypto.encrypt(b"old", ring=ring, **BIND)
    ring2 = crypto.add_key_version(ring)
    assert crypto.decrypt(old, ring=ring2, **BIND) == b"old"
    assert crypto.encrypt(b"new", ring=ring2, **BIND).startswith("lf1:2:")
    assert ring2.blind_index_key == ring.blind_index_key


def test_field_keys_differ_per_column(ring: crypto.KeyRing) -> None:
    assert ring.field_key(1, "t", "a") != ring.field_key(1, "t", "b")
    assert ring.field_key(1, "t", "a") != ring.root_keys[1]


def test_parse_keys_and_bad_configuration() -> None:
    k1, k2 = crypto.generate_key(), crypto.generate_key()
    assert sorted(crypto.parse_keys(f"1:{k1}, 2:{k2}")) == [1, 2]
    for bad in [
        "1",
        f"x:{k1}",
        "1:not-base64!",
        f"1:{base64.b64encode(b'short').decode()}",
        f"1:{k1},1:{k2}",
    ]:
        with pytest.raises(crypto.KeyConfigurationError):
            crypto.parse_keys(bad)
    with pytest.raises(crypto.KeyConfigurationError, match="no encryption key"):
        crypto.keyring_from_values(keys="", blind_index_key=k1, codename_pepper=k2)
    with pytest.raises(crypto.KeyConfigurationError, match="must differ"):
        crypto.keyring_from_values(keys=f"1:{k1}", blind_index_key=k1, codename_pepper=k2)


def test_key_file_round_trip_is_private(tmp_path: Path, ring: crypto.KeyRing) -> None:
    path = tmp_path / "keys.json"
    crypto.write_key_file(path, ring)
    assert path.stat().st_mode & 0o077 == 0
    assert crypto.read_key_file(path) == ring
    assert "root_keys" not in repr(ring)
    assert base64.b64encode(ring.root_keys[1]).decode() not in (repr(ring))


def test_missing_key_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(crypto.KeyConfigurationError, match="init_keys"):
        crypto.read_key_file(tmp_path / "absent.json")


# --- blind indexes ---


def test_service_number_normalisation() -> None:
    # Same number typed with Latin look-alikes, spaces, dashes, lower case.
    a = crypto.normalise_service_number("АВ-123456")
    assert a == crypto.normalise_service_number("ab 123 456")
    assert a == crypto.normalise_service_number(" АВ—123456 ")
    assert a != crypto.normalise_service_number("АВ-123457")


def test_phone_normalisation() -> None:
    assert crypto.normalise_phone("8 (999) 123-45-67") == "+79991234567"
    assert crypto.normalise_phone("+7 999 123 45 67") == "+79991234567"
    assert crypto.normalise_phone("+380 67 123 4567") == "+380671234567"
    with pytest.raises(crypto.BlindIndexError):
        crypto.normalise_phone("call me")


def test_name_normalisation() -> None:
    assert crypto.normalise_name("  Пётр   ИВАНОВ ") == crypto.normalise_name("петр иванов")
    assert crypto.normalise_name_birth("Пётр Иванов", date(1990, 1, 2)) == "петр иванов|1990-01-02"


def test_blind_index_is_keyed_truncated_and_kind_separated(ring: crypto.KeyRing) -> None:
    a = crypto.blind_index("service_number", "X1", ring=ring)
    assert a == crypto.blind_index("service_number", "X1", ring=ring)
    assert len(a) == 2 * crypto.BLIND_INDEX_BYTES
    assert a != crypto.blind_index("telegram_id", "X1", ring=ring)  # kinds do not collide
    assert a != crypto.blind_index("service_number", "X1", ring=crypto.new_keyring())


def test_only_allowlisted_kinds_get_an_index(ring: crypto.KeyRing) -> None:
    with pytest.raises(crypto.BlindIndexError, match="no blind index is allowed"):
        crypto.blind_index("unit", "в/ч 00001", ring=ring)


def test_secret_hash_verifies_and_uses_pepper(ring: crypto.KeyRing) -> None:
    encoded = crypto.hash_secret("синий ветер над рекой", ring=ring)
    assert "синий" not in encoded
    assert crypto.verify_secret("синий ветер над рекой", encoded, ring=ring)
    assert not crypto.verify_secret("синий ветер над рекою", encoded, ring=ring)
    assert not crypto.verify_secret("синий ветер над рекой", encoded, ring=crypto.new_keyring())
    assert not crypto.verify_secret("x", "garbage", ring=ring)
