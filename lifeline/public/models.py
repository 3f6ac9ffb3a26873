"""Versions of the site's information pages, written by the press office in the console and
published only after a supervisor who did not write them approves (four eyes: one stolen
account cannot change what a frightened man reads). Page texts are public, not personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifeline.core.channels import Language


class PageStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")  # being written; its editors may change it
    SUBMITTED = "submitted", _("Waiting for approval")  # a supervisor approves or sends back
    PUBLISHED = "published", _("Published")  # what the site shows (one per page and language)
    SUPERSEDED = "superseded", _("Replaced")  # was published; a newer version replaced it
    DISCARDED = "discarded", _("Discarded")  # a draft given up

    @classmethod
    def open(cls) -> list[str]:
        return [cls.DRAFT, cls.SUBMITTED]


class PageVersion(models.Model):
    slug = models.CharField(max_length=32)
    language = models.CharField(max_length=2, choices=Language.choices)
    number = models.PositiveIntegerField()  # 1, 2, … per page and language
    text = models.TextField()
    status = models.CharField(max_length=16, choices=PageStatus.choices, default=PageStatus.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    editors = models.JSONField(default=list)  # ids of everyone who changed it (none may approve)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True, default="")  # why sent back
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug", "language", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug", "language", "number"], name="page_version_unique_number"
            ),
            models.UniqueConstraint(
                fields=["slug", "language"],
                condition=Q(status="published"),
                name="page_version_one_published",
            ),
            models.UniqueConstraint(
                fields=["slug", "language"],
                condition=Q(status__in=["draft", "submitted"]),
                name="page_version_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slug}.{self.language} v{self.number}"
