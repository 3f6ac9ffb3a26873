"""Reads of cases. Exact look-ups go through blind indexes: no plaintext is ever searched."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from lifeline.contacts.models import Identity, identity_index
from lifeline.core import crypto
from lifeline.core.channels import Channel

from .models import Case


def cases_by_service_number(service_number: str) -> QuerySet[Case]:
    try:
        index = crypto.service_number_index(service_number)
    except crypto.BlindIndexError:
        return Case.objects.none()
    return Case.objects.filter(service_number_index=index)


def cases_by_name_birth(full_name: str, birth_date: date) -> QuerySet[Case]:
    try:
        index = crypto.name_birth_index(full_name, birth_date)
    except crypto.BlindIndexError:
        return Case.objects.none()
    return Case.objects.filter(name_birth_index=index)


def _cases_by_identity(channel: str, address: str) -> QuerySet[Case]:
    try:
        index = identity_index(channel, address)
    except crypto.BlindIndexError:
        return Case.objects.none()
    contacts = Identity.objects.filter(channel=channel, address_index=index).values("contact_id")
    return Case.objects.filter(requester__in=contacts)


def cases_by_phone(phone: str) -> QuerySet[Case]:
    return _cases_by_identity(Channel.PHONE, phone)


def cases_by_telegram_id(telegram_id: str | int) -> QuerySet[Case]:
    return _cases_by_identity(Channel.TELEGRAM, str(telegram_id))


def case_duplicates(case: Case) -> QuerySet[Case]:
    """Other cases sharing the service number, name + birth date, or requester's addresses.
    Shown to verifiers as a warning; never merged automatically."""
    match = Q(pk__in=[])
    if case.service_number_index:
        match |= Q(service_number_index=case.service_number_index)
    if case.name_birth_index:
        match |= Q(name_birth_index=case.name_birth_index)
    if case.requester_id:
        indexes = Identity.objects.filter(contact_id=case.requester_id).values_list(
            "channel", "address_index"
        )
        for channel, index in indexes:
            if channel in (Channel.PHONE, Channel.TELEGRAM):
                match |= Q(
                    requester__identities__channel=channel,
                    requester__identities__address_index=index,
                )
    return Case.objects.filter(match).exclude(pk=case.pk).distinct()
