"""Exact look-ups through blind indexes, and duplicate detection."""

from __future__ import annotations

from datetime import date

import pytest

from lifeline.cases import selectors
from lifeline.cases.models import Case
from lifeline.contacts.services import identity_get_or_create
from lifeline.core.channels import Channel
from tests.factories import create_case

pytestmark = pytest.mark.django_db


def test_by_service_number_whatever_the_typing() -> None:
    case = create_case(service_number="АВ-123456")
    create_case(service_number="АВ-123457")
    assert list(selectors.cases_by_service_number("ab 123456")) == [case]
    assert not selectors.cases_by_service_number("").exists()


def test_by_name_and_birth_date() -> None:
    case = create_case(full_name="Пётр Сидоров", birth_date=date(1990, 2, 3))
    create_case(full_name="Пётр Сидоров", birth_date=date(1990, 2, 4))
    assert list(selectors.cases_by_name_birth("петр  СИДОРОВ", date(1990, 2, 3))) == [case]


def test_by_phone_and_telegram_id() -> None:
    phone = identity_get_or_create(channel=Channel.PHONE, address="+7 999 555-11-22")
    tg = identity_get_or_create(channel=Channel.TELEGRAM, address="123456789")
    by_phone = create_case(requester=phone.contact, channel=Channel.PHONE)
    by_tg = create_case(requester=tg.contact)
    assert list(selectors.cases_by_phone("89995551122")) == [by_phone]
    assert list(selectors.cases_by_telegram_id(123456789)) == [by_tg]
    assert not selectors.cases_by_phone("not a number").exists()


def test_identity_is_reused_per_address() -> None:
    a = identity_get_or_create(channel=Channel.PHONE, address="+79995551122")
    b = identity_get_or_create(channel=Channel.PHONE, address="8 999 555 11 22")
    assert a.pk == b.pk
    assert a.address_index
    assert "9995551122" not in a.address_index


def test_duplicates_are_found_not_merged() -> None:
    phone = identity_get_or_create(channel=Channel.PHONE, address="+79995550000")
    first = create_case(service_number="АВ-000001", full_name="А Б", birth_date=date(1990, 1, 1))
    same_number = create_case(service_number="ab 000001", full_name="В Г")
    same_person = create_case(
        service_number="ДУ-000002", full_name="а  б", birth_date=date(1990, 1, 1)
    )
    by_phone_1 = create_case(requester=phone.contact, service_number="ДУ-000003")
    by_phone_2 = create_case(requester=phone.contact, service_number="ДУ-000004")
    unrelated = create_case(service_number="ДУ-000005")
    assert set(selectors.case_duplicates(first)) == {same_number, same_person}
    assert set(selectors.case_duplicates(by_phone_1)) == {by_phone_2}
    assert not selectors.case_duplicates(unrelated).exists()
    assert Case.objects.count() == 6


def test_changing_a_field_updates_its_index() -> None:
    case = create_case(service_number="ИЗ-000001")
    case.service_number = "ИЗ-000002"
    case.save()
    assert list(selectors.cases_by_service_number("ИЗ-000002")) == [case]
    assert not selectors.cases_by_service_number("ИЗ-000001").exists()
