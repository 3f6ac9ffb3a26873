"""Cases: one serviceman's surrender request, its timeline, operations and what became of him.

Statuses change only through :mod:`lifeline.cases.workflow`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from lifeline.contacts.models import Contact
from lifeline.core import crypto
from lifeline.core.channels import Channel, Language
from lifeline.core.fields import (
    EncryptedDateField,
    EncryptedDateTimeField,
    EncryptedJSONField,
    EncryptedTextField,
)
from lifeline.core.models import KeyOwner, SealedModel

#: What a verifier must confirm before a case is verified.
VERIFICATION_CHECKLIST: tuple[str, ...] = (
    "identity_consistent",  # name, birth date and unit agree with each other and the story
    "service_number_checked",  # the service number has a plausible form and was checked
    "duplicates_reviewed",  # other cases with the same indexes were looked at
    "no_provocation_signs",  # no sign of an ambush, a provocation or a fake
)

#: What each checklist item asks, in words (the console's labels and the error messages).
VERIFICATION_LABELS: dict[str, Any] = {
    "identity_consistent": _(
        "Name, birth date and unit agree with each other and with what he wrote"
    ),
    "service_number_checked": _("The service number has a plausible form and was checked"),
    "duplicates_reviewed": _("Other cases with the same data were looked at"),
    "no_provocation_signs": _("No sign of an ambush, a provocation or a fake"),
}


_NOISE = re.compile(r"[^\w]+")


def _norm(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).casefold().replace("ё", "е")
    return _NOISE.sub("", text)


def answers_fingerprint(rank: str | None, unit: str | None, location: str | None) -> str:
    """A keyed hash of the answers a bulk filler repeats (rank, unit, place), normalised; ""
    when fewer than two of them were given (too little to call two applications alike)."""
    parts = [_norm(rank), _norm(unit), _norm(location)]
    if sum(1 for p in parts if p) < 2:
        return ""
    return crypto.blind_index("answers", "|".join(parts))


class CaseStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")  # stage 1 done: application received, not yet checked
    VERIFIED = "verified", _("Verified")  # a verifier confirmed the person and found no trap
    REJECTED = "rejected", _("Rejected")  # verification failed (fake, provocation, duplicate)
    READY = "ready", _("Ready")  # stage 2: he is at the front, re-identified, wants to go now
    OPERATION = "operation", _("In operation")  # a surrender meeting is approved and under way
    SURRENDERED = "surrendered", _("Surrendered")  # the liaison confirmed he was taken safely
    WITHDRAWN = "withdrawn", _("Withdrawn")  # the person changed his mind or asked to stop
    LOST_CONTACT = "lost_contact", _("Lost contact")  # no answer for too long, or expired


#: The subject's personal fields of a case (encrypted; see Case).
SUBJECT_FIELDS: tuple[str, ...] = (
    "full_name",
    "birth_date",
    "service_number",
    "rank",
    "unit",
    "location",
)

OPEN_STATUSES = frozenset(
    {CaseStatus.APPLIED, CaseStatus.VERIFIED, CaseStatus.READY, CaseStatus.OPERATION}
)


class MobilisationStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Not known")  # not asked or not answered
    MOBILISED = "mobilised", _("Mobilised")  # called up in a mobilisation
    CONTRACT = "contract", _("Contract soldier")  # signed a contract
    CONSCRIPT = "conscript", _("Conscript")  # serving compulsory service
    NOT_MOBILISED = "not_mobilised", _("Not yet mobilised")  # a civilian expecting the call-up


class PhoneSituation(models.TextChoices):
    UNKNOWN = "unknown", _("Not known")  # not asked
    OWN_PHONE = "own_phone", _("Has his own phone")  # not confiscated
    SECOND_PHONE = "second_phone", _("Phone confiscated, has a second one")  # safest to reach
    NO_PHONE = "no_phone", _("Phone confiscated, no second phone")  # reachable only via others
    VIA_RELATIVE = "via_relative", _("Reached only through a relative")  # the relative says so


class Urgency(models.TextChoices):
    NONE = "", _("Not said")  # stage 1, or not asked
    CAN_WAIT = "can_wait", _("Can wait")  # safe for now
    WOUNDED = "wounded", _("Wounded")  # needs help soon
    UNDER_FIRE = "under_fire", _("Under fire now")  # immediate danger
    ENCIRCLED = "encircled", _("Encircled")  # cut off


class RequesterRelation(models.TextChoices):
    SELF = "self", _("The serviceman himself")
    SPOUSE = "spouse", _("Wife or husband")
    PARENT = "parent", _("Mother or father")
    SIBLING = "sibling", _("Brother or sister")
    CHILD = "child", _("Son or daughter")
    OTHER_RELATIVE = "other_relative", _("Other relative")
    OTHER = "other", _("Someone else")


class Case(KeyOwner):
    """One serviceman's surrender request. Subject fields are encrypted at rest."""

    number = models.CharField(max_length=32, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.APPLIED)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.RU)

    requester = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases"
    )
    requester_relation = models.CharField(
        max_length=16, choices=RequesterRelation.choices, default=RequesterRelation.SELF
    )

    # The subject: personal data, encrypted.
    full_name = EncryptedTextField()
    birth_date = EncryptedDateField()
    service_number = EncryptedTextField()
    rank = EncryptedTextField()
    unit = EncryptedTextField()
    location = EncryptedTextField()
    # Categorical facts, not identifying on their own; kept clear for queues and figures.
    mobilisation_status = models.CharField(
        max_length=16, choices=MobilisationStatus.choices, default=MobilisationStatus.UNKNOWN
    )
    group_size = models.PositiveSmallIntegerField(default=1)
    phone_situation = models.CharField(
        max_length=16, choices=PhoneSituation.choices, default=PhoneSituation.UNKNOWN
    )
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.NONE)
    # A number the person agreed to be called back on (issue: phone line); encrypted.
    callback_phone = EncryptedTextField()

    # Blind indexes for exact look-ups and duplicate detection (never merged automatically).
    service_number_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    name_birth_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    # The codename, as a peppered scrypt hash only (see lifeline.cases.codenames).
    codename_hash = models.CharField(max_length=200, blank=True, default="", editable=False)
    # A 16-bit keyed tag of the codename (crypto.secret_tag): picks the one hash to check at
    # stage 2 among the cases sharing a service number, so that an attempt costs one hash.
    codename_tag = models.CharField(max_length=8, blank=True, default="", editable=False)
    # Suspicion (cases.suspicion): reasons to look twice, assessed when the application opened;
    # never a verdict. A keyed hash of rank, unit and place gathers near-identical applications.
    suspicion = models.PositiveSmallIntegerField(default=0)
    suspicion_reasons = models.JSONField(null=True, blank=True, editable=False)
    answers_fingerprint = models.CharField(max_length=32, blank=True, default="", editable=False)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    blind_index_columns = ("service_number_index", "name_birth_index")
    reindex_columns = ("service_number_index", "name_birth_index", "answers_fingerprint")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["answers_fingerprint", "created_at"], name="case_answers_seen"),
        ]

    def __str__(self) -> str:
        return self.number

    def refresh_blind_indexes(self) -> None:
        self.service_number_index = (
            crypto.service_number_index(self.service_number) if self.service_number else ""
        )
        self.name_birth_index = (
            crypto.name_birth_index(self.full_name, self.birth_date)
            if self.full_name and self.birth_date
            else ""
        )

    def reindex(self) -> None:
        self.refresh_blind_indexes()
        if self.answers_fingerprint:  # assessed once, when the application opened
            self.answers_fingerprint = answers_fingerprint(self.rank, self.unit, self.location)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class CaseNumberSequence(models.Model):
    """The last case number issued in a year; rows are locked while a number is taken."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class CaseEventKind(models.TextChoices):
    CREATED = "created", _("Application created")  # the case was opened
    STATUS = "status", _("Status changed")  # a workflow transition
    NOTE = "note", _("Note")  # staff note
    VERIFICATION = "verification", _("Verification")  # checklist results
    OPERATION = "operation", _("Operation")  # requested, approved, outcome
    DISPOSITION = "disposition", _("Disposition")  # what became of him
    CALL = "call", _("Call")  # a phone call linked to the case
    MESSAGE = "message", _("Message")  # a message linked to the case


class CaseEvent(SealedModel):
    """One line of a case's timeline. Written only by the workflow and services."""

    key_owner_path = "case"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=CaseEventKind.choices)
    from_status = models.CharField(max_length=16, choices=CaseStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=CaseStatus.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_label = models.CharField(max_length=64, blank=True)  # "intake flow" when no user
    note = EncryptedTextField()  # reasons and notes may name people: encrypted
    data = EncryptedJSONField()  # checklist answers, re-identification method, ...
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"


class OperationStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")  # waiting for a second supervisor's approval
    APPROVED = "approved", _("Approved")  # approved; the case is in operation
    CANCELLED = "cancelled", _("Cancelled")  # withdrawn before or after approval
    SUCCEEDED = "succeeded", _("Surrendered")  # the liaison confirmed the surrender
    FAILED = "failed", _("Failed")  # did not happen; the case went back to ready


class Operation(SealedModel):
    """A planned surrender meeting; needs a requester and a different approver."""

    key_owner_path = "case"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="operations")
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="operations_requested"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operations_approved",
    )
    meeting_point = EncryptedTextField()
    meeting_time = EncryptedDateTimeField()
    signal = EncryptedTextField()
    group_size = models.PositiveSmallIntegerField(default=1)
    outcome_note = EncryptedTextField()
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The two-person rule, enforced by the database too.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="operation_two_person_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"operation {str(self.pk)[:8]} ({self.status})"


class Exchange(models.Model):
    """A prisoner exchange, as publicly announced: no personal data."""

    date = models.DateField()
    released_by_ukraine = models.PositiveIntegerField()
    released_by_russia = models.PositiveIntegerField()
    place = models.CharField(max_length=120, blank=True, default="")  # as announced, if known
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"exchange {self.date}"


class DispositionKind(models.TextChoices):
    AWAITING_EXCHANGE = "awaiting_exchange", _("Awaiting exchange")  # in a POW camp, listed
    EXCHANGED = "exchanged", _("Exchanged")  # released in a recorded exchange
    RETURNED_HOME = "returned_home", _("Returned home")  # went home by other means
    DETAINED = "detained", _("Stays in Ukraine, detained")  # chose not to be exchanged
    ASYLUM = "asylum", _("Asylum")  # asked for or received asylum
    EMIGRATED = "emigrated", _("Emigrated")  # left for a third country


class Disposition(SealedModel):
    """What became of a surrendered person."""

    key_owner_path = "case"

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="disposition")
    kind = models.CharField(max_length=24, choices=DispositionKind.choices)
    exchange = models.ForeignKey(
        Exchange, on_delete=models.PROTECT, null=True, blank=True, related_name="dispositions"
    )
    note = EncryptedTextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="exchanged", exchange__isnull=False) | ~Q(kind="exchanged"),
                name="disposition_exchanged_needs_exchange",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.kind}"
