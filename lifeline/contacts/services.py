"""Creating contacts and their channel identities."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from lifeline.core import crypto
from lifeline.stats.services import stat_record

from .models import Contact, Identity, identity_index


def identity_get_or_create(*, channel: str, address: str, language: str = "ru") -> Identity:
    """The identity for a channel address, creating it (and a new contact) the first time.
    The usual case, a known address, is one query (no savepoint): only creating needs one."""
    indexes = crypto.lookup(identity_index, channel, address)
    existing = Identity.objects.filter(channel=channel, address_index__in=indexes).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            contact = Contact.objects.create(language=language)
            identity = Identity.objects.create(contact=contact, channel=channel, address=address)
            stat_record(
                kind="contact.new", channel=channel, language=language, at=identity.created_at
            )
            return identity
    except IntegrityError:  # a concurrent first message from the same address won the race
        return Identity.objects.get(channel=channel, address_index__in=indexes)
