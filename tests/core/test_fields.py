"""Encrypted model fields against a real database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection

from lifeline.cases.models import Case, Operation
from lifeline.channels.models import ChannelPost, InboundEvent
from lifeline.core import crypto
from lifeline.core.fields import Sealed
from lifeline.core.models import Role
from tests.factories import create_case, create_user

pytestmark = pytest.mark.django_db


def _db_pk(pk: uuid.UUID) -> Any:
    return Case._meta.pk.get_db_prep_value(pk, connection)


def raw(table: str, column: str, pk: uuid.UUID) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [_db_pk(pk)])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])


def write_raw(table: str, column: str, pk: uuid.UUID, value: str) -> None:
    with connection.cursor() as cursor:
        sql = f"UPDATE {table} SET {column} = %s WHERE id = %s"  # noqa: S608
        cursor.execute(sql, [value, _db_pk(pk)])
        assert cursor.rowcount == 1


def test_values_are_stored_sealed_and_read_back() -> None:
    case = create_case(full_name="Андрей Маркеров", birth_date=date(1990, 5, 6), unit="в/ч 12345")
    stored = raw("cases_case", "full_name", case.pk)
    # Sealed under the case's own data key, named in the token and in the case's row.
    assert case.data_key is not None
    assert stored.startswith(f"lf2:{case.data_key.hex}:")
    assert "Андрей" not in stored
    loaded = Case.objects.get(pk=case.pk)
    assert loaded.full_name == "Андрей Маркеров"
    assert loaded.birth_date == date(1990, 5, 6)
    assert loaded.unit == "в/ч 12345"


def test_null_stays_null() -> None:
    case = create_case(rank=None)
    assert Case.objects.get(pk=case.pk).rank is None


def test_json_and_datetime_fields_round_trip() -> None:
    event = InboundEvent.objects.create(channel="web", external_id="e1", payload={"text": "привет"})
    assert InboundEvent.objects.get(pk=event.pk).payload == {"text": "привет"}
    when = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    op = Operation.objects.create(
        case=create_case(), requested_by=create_user(Role.SUPERVISOR), meeting_time=when
    )
    assert Operation.objects.get(pk=op.pk).meeting_time == when


def test_ciphertext_swapped_between_rows_does_not_decrypt() -> None:
    a, b = create_case(full_name="Первый"), create_case(full_name="Второй")
    write_raw("cases_case", "full_name", a.pk, raw("cases_case", "full_name", b.pk))
    loaded = Case.objects.get(pk=a.pk)
    with pytest.raises(crypto.DecryptionError, match="cases_case.full_name"):
        _ = loaded.full_name


def test_ciphertext_moved_to_another_column_does_not_decrypt() -> None:
    case = create_case(full_name="Имя", unit="Часть")
    write_raw("cases_case", "unit", case.pk, raw("cases_case", "full_name", case.pk))
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=case.pk).unit


def test_one_altered_byte_does_not_decrypt() -> None:
    case = create_case(full_name="Имя Фамилия")
    token = raw("cases_case", "full_name", case.pk)
    body = token.split(":")[2]
    swapped = ("B" if body[10] != "B" else "C").join([body[:10], body[11:]])
    write_raw("cases_case", "full_name", case.pk, token.rsplit(":", 1)[0] + ":" + swapped)
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=case.pk).full_name


def test_plaintext_in_the_column_is_an_error_not_a_fallback() -> None:
    case = create_case()
    write_raw("cases_case", "full_name", case.pk, "Plain Text Name")
    with pytest.raises(crypto.DecryptionError):
        _ = Case.objects.get(pk=case.pk).full_name


def test_queryset_update_with_plaintext_is_refused() -> None:
    case = create_case()
    with pytest.raises(crypto.CryptoError, match="refusing to write a plaintext"):
        Case.objects.filter(pk=case.pk).update(full_name="Clear Text")


def test_filtering_on_ciphertext_is_refused() -> None:
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError):
        list(Case.objects.filter(full_name="x"))
    assert Case.objects.filter(rank__isnull=True).count() == 0


def test_values_list_gives_sealed_tokens_not_plaintext() -> None:
    create_case(full_name="Скрытое Имя")
    (value,) = Case.objects.values_list("full_name", flat=True)
    assert isinstance(value, Sealed)
    assert "Скрытое" not in repr(value)


def test_deferred_field_loads_and_decrypts() -> None:
    case = create_case(full_name="Отложенный")
    loaded = Case.objects.only("number").get(pk=case.pk)
    assert loaded.full_name == "Отложенный"


def test_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError):
        create_case(birth_date="1990-01-01")


def test_saving_reseals_under_newest_key() -> None:
    # A row that belongs to nobody (a channel post: public text) is sealed under the root key.
    post = ChannelPost.objects.create(texts={"ru": "Пост"}, created_by=create_user(Role.PRESS))
    assert raw("channels_channelpost", "texts", post.pk).startswith("lf1:1:")
    crypto.set_keyring(crypto.add_key_version(crypto.keyring()))
    loaded = ChannelPost.objects.get(pk=post.pk)
    loaded.save()
    assert raw("channels_channelpost", "texts", post.pk).startswith("lf1:2:")
    assert ChannelPost.objects.get(pk=post.pk).texts == {"ru": "Пост"}


def test_root_key_rotation_rewraps_data_keys_without_touching_fields() -> None:
    from lifeline.core import keystore

    case = create_case(full_name="Ротация")
    before = raw("cases_case", "full_name", case.pk)
    assert keystore.store().stale_count() == 0
    crypto.set_keyring(crypto.add_key_version(crypto.keyring()))
    keystore.store().forget_cache()
    assert keystore.store().stale_count() >= 1  # wrapped under version 1 still
    assert keystore.store().rewrap() >= 1
    assert keystore.store().stale_count() == 0
    # Version 1 is gone: only the re-wrapped key can open the field, which was not re-sealed.
    ring = crypto.keyring()
    crypto.set_keyring(
        crypto.KeyRing(
            root_keys={2: ring.root_keys[2]},
            blind_index_key=ring.blind_index_key,
            codename_pepper=ring.codename_pepper,
        )
    )
    keystore.store().forget_cache()
    assert raw("cases_case", "full_name", case.pk) == before
    assert Case.objects.get(pk=case.pk).full_name == "Ротация"
