"""Call records do not outlive their purpose (issue 15, part 5): ``LIFELINE_RETENTION_CALL_DAYS``
after a call rang, once no application of the caller's is open, its caller's number (encrypted)
and its blind index are erased; the row stays for the counts (calls, missed calls, durations). A
call back done or cancelled loses its number and safe time after the same time. 0 days turns it
off."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifeline.cases.models import OPEN_STATUSES, Case
from lifeline.core import keystore

from .models import Call, CallbackRequest, CallbackStatus

#: Rows one rule changes at most in a pass.
BATCH = 5000


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
    with transaction.atomic():  # the numbers and the keys that sealed them go together
        erased_calls = Call.objects.filter(pk__in=calls).update(caller=None, caller_index="")
        keystore.shred_many(Call.objects.filter(pk__in=calls))
    callbacks = list(
        CallbackRequest.objects.filter(
            status__in=(CallbackStatus.DONE, CallbackStatus.CANCELLED),
        )
        .filter(Q(done_at__lt=cutoff) | Q(done_at=None, created_at__lt=cutoff))
        .exclude(number__isnull=True, number_index="", safe_time__isnull=True)
        .values_list("pk", flat=True)[:BATCH]
    )
    with transaction.atomic():
        erased_callbacks = CallbackRequest.objects.filter(pk__in=callbacks).update(
            number=None, number_index="", safe_time=None
        )
        keystore.shred_many(CallbackRequest.objects.filter(pk__in=callbacks))
    found = {"call_numbers": erased_calls, "callback_numbers": erased_callbacks}
    return {name: count for name, count in found.items() if count}
