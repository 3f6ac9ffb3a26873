"""Suspicion scoring (issue 15, part 2): reasons to look twice at an application, explained,
never acting alone. Nothing is merged, rejected or hidden because of a score: the verifier's
queue sorts the applications that raise no question first and gathers near-identical ones into
one row, so that a flood of fakes does not bury a genuine application.

Assessed once, when the application is opened (:func:`assess`, from ``case_create``), from what
is stored in clear or as keyed hashes — counts, times, blind indexes — and the values the intake
gave in that moment (the age, the group's size); stored on the case as a score and a list of
reasons with their counts, so that the queue needs no query per row and no decryption.

* ``repeat_applicant``: the same person opened other applications.
* ``number_elsewhere``: the same service number (its blind index) in applications from other
  contacts.
* ``similar_answers``: rank, unit and place (a keyed hash of them, normalised) the same as in
  other applications of the past week — what a script filling the form in bulk leaves.
* ``fast_intake``: the whole intake faster than a person types.
* ``burst``: part of a burst of new contacts on the channel within the hour.
* ``impossible_age`` / ``impossible_group``: an age no soldier has, a group no one surrenders
  with.
* ``failed_reidentifications``: the person's code words failed more than once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from lifeline.contacts.models import Contact, Identity

from .models import Case
from .models import answers_fingerprint as fingerprint_of

FAST_INTAKE_SECONDS = 90
BURST_CONTACTS_PER_HOUR = 30
SIMILAR_WITHIN = timedelta(days=7)
YOUNGEST, OLDEST = 16, 70
LARGEST_GROUP = 30

#: Weight of each reason in the score (for sorting only; never a verdict).
WEIGHTS = {
    "repeat_applicant": 1,
    "number_elsewhere": 2,
    "similar_answers": 3,
    "fast_intake": 2,
    "burst": 1,
    "impossible_age": 3,
    "impossible_group": 2,
    "failed_reidentifications": 2,
}


def answers_fingerprint(case: Case) -> str:
    """A keyed hash of the answers a bulk filler repeats (rank, unit, place): see
    :func:`lifeline.cases.models.answers_fingerprint`."""
    return fingerprint_of(case.rank, case.unit, case.location)


def _age(case: Case) -> int | None:
    if case.birth_date is None:
        return None
    today = timezone.now().date()
    born = case.birth_date
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def assess(case: Case) -> Case:
    """Score a new application (saved on it: ``suspicion``, ``suspicion_reasons``,
    ``answers_fingerprint``)."""
    reasons: list[list[Any]] = []
    others = Case.objects.exclude(pk=case.pk)
    if case.requester_id:
        n = others.filter(requester_id=case.requester_id).count()
        if n:
            reasons.append(["repeat_applicant", n])
        first = Contact.objects.filter(pk=case.requester_id).values_list("created_at", flat=True)
        started = first.first()
        if started is not None:
            seconds = (timezone.now() - started).total_seconds()
            if 0 <= seconds < FAST_INTAKE_SECONDS:
                reasons.append(["fast_intake", int(seconds)])
        # Through the contact's relations: cases sits below conversations and imports none of it.
        failed = (
            Contact.objects.filter(pk=case.requester_id).aggregate(
                n=Sum("conversations__runs__failed_reidentifications")
            )["n"]
            or 0
        )
        if failed >= 2:
            reasons.append(["failed_reidentifications", failed])
    if case.service_number_index:
        elsewhere = others.filter(service_number_index=case.service_number_index)
        if case.requester_id:
            elsewhere = elsewhere.exclude(requester_id=case.requester_id)
        n = elsewhere.count()
        if n:
            reasons.append(["number_elsewhere", n])
    fingerprint = answers_fingerprint(case)
    if fingerprint:
        n = others.filter(
            answers_fingerprint=fingerprint, created_at__gte=timezone.now() - SIMILAR_WITHIN
        ).count()
        if n >= 2:
            reasons.append(["similar_answers", n])
    hour_ago = timezone.now() - timedelta(hours=1)
    new_contacts = Identity.objects.filter(channel=case.channel, created_at__gte=hour_ago).count()
    if new_contacts > BURST_CONTACTS_PER_HOUR:
        reasons.append(["burst", new_contacts])
    age = _age(case)
    if age is not None and not YOUNGEST <= age <= OLDEST:
        reasons.append(["impossible_age", age])
    if case.group_size > LARGEST_GROUP:
        reasons.append(["impossible_group", case.group_size])
    case.answers_fingerprint = fingerprint
    case.suspicion_reasons = reasons
    case.suspicion = sum(WEIGHTS[code] for code, _n in reasons)
    Case.objects.filter(pk=case.pk).update(
        answers_fingerprint=fingerprint, suspicion_reasons=reasons, suspicion=case.suspicion
    )
    return case


def explain(code: str, n: int) -> str:
    """A reason in words, in the active language."""
    texts = {
        "repeat_applicant": ngettext(
            "The same person opened %(n)d other application.",
            "The same person opened %(n)d other applications.",
            n,
        ),
        "number_elsewhere": ngettext(
            "The same service number is in %(n)d application from another person.",
            "The same service number is in %(n)d applications from other people.",
            n,
        ),
        "similar_answers": ngettext(
            "Rank, unit and place as in %(n)d other application this week.",
            "Rank, unit and place as in %(n)d other applications this week.",
            n,
        ),
        "fast_intake": ngettext(
            "The whole application took %(n)d second: faster than a person types.",
            "The whole application took %(n)d seconds: faster than a person types.",
            n,
        ),
        "burst": ngettext(
            "Part of a burst: %(n)d new contact on this channel within the hour.",
            "Part of a burst: %(n)d new contacts on this channel within the hour.",
            n,
        ),
        "impossible_age": _("An age no soldier has: %(n)d."),
        "impossible_group": _("A group of %(n)d: larger than anyone surrenders with."),
        "failed_reidentifications": ngettext(
            "His code words failed %(n)d time.", "His code words failed %(n)d times.", n
        ),
    }
    return texts.get(code, code) % {"n": n}


def explained(case: Case) -> list[str]:
    return [explain(str(code), int(n)) for code, n in (case.suspicion_reasons or [])]
