"""Call records do not outlive their purpose (issue 15, part 5): ``LIFELINE_RETENTION_CALL_DAYS``
after a call rang, once no application of the caller's is open, its caller's number (encrypted)
and its blind index are erased; the row stays for the counts (calls, missed calls, durations). A
call back done or cancelled loses its number and safe time after the same time. 0 days turns it
off."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifeline.cases.models import OPEN_STATUSES, Case
from lifeline.core import keystore

from .models import Call, CallbackRequest, CallbackStatus

#: Rows one rule changes at most in a pass.
BATCH = 5000


def _shred_owners(model: type[Call] | type[CallbackRequest], pks: list[Any]) -> None:
    """The data keys that sealed the erased numbers go (older copies lose them too): the row's
    own key, or its caller's (what else he has is re-sealed under a fresh one)."""
    contacts = {}
    for row in model.objects.filter(pk__in=pks).select_related("contact"):
        if row.contact is not None:
            contacts[row.contact.pk] = row.contact
        elif row.data_key is not None:
            with transaction.atomic():
                keystore.shred(row)
    for contact in contacts.values():
        with transaction.atomic():
            keystore.shred(contact)


def purge(now: datetime | None = None) -> dict[str, int]:
    days = int(settings.LIFELINE_RETENTION_CALL_DAYS)
    if days <= 0:
        return {}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # (Not while the caller's application is open: an operator may need to know it was him.)
    open_matter = Case.objects.filter(requester=OuterRef("contact"), status__in=OPEN_STATUSES)
    calls = list(
        Call.objects.filter(ringing_at__lt=cutoff)
        .exclude(caller__isnull=True, caller_index="")
        .filter(~Exists(open_matter))
        .values_list("pk", flat=True)[:BATCH]
    )
    erased_calls = Call.objects.filter(pk__in=calls).update(caller=None, caller_index="")
    _shred_owners(Call, calls)
    callbacks = list(
        CallbackRequest.objects.filter(
            status__in=(CallbackStatus.DONE, CallbackStatus.CANCELLED),
        )
        .filter(Q(done_at__lt=cutoff) | Q(done_at=None, created_at__lt=cutoff))
        .exclude(number__isnull=True, number_index="", safe_time__isnull=True)
        .values_list("pk", flat=True)[:BATCH]
    )
    erased_callbacks = CallbackRequest.objects.filter(pk__in=callbacks).update(
        number=None, number_index="", safe_time=None
    )
    _shred_owners(CallbackRequest, callbacks)
    found = {"call_numbers": erased_calls, "callback_numbers": erased_callbacks}
    return {name: count for name, count in found.items() if count}
