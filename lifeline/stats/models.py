"""Statistics events: what happened, where and when, and nothing about who."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StatEvent(models.Model):
    """One personal-data-free event. Deliberately no link to a case, contact or user: an event
    row must not be joinable back to a person. Time is kept to the hour only."""

    kind = models.CharField(max_length=64)  # e.g. "case.applied", "case.surrendered"
    channel = models.CharField(max_length=16, blank=True, default="")
    language = models.CharField(max_length=2, blank=True, default="")
    hour = models.DateTimeField()  # truncated to the hour, UTC
    value = models.PositiveIntegerField(null=True, blank=True)  # e.g. seconds to answer
    rolled = models.BooleanField(default=False)  # counted into StatRollup by the worker

    class Meta:
        indexes = [
            models.Index(fields=["kind", "hour"]),
            models.Index(fields=["id"], condition=models.Q(rolled=False), name="stat_unrolled"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.hour:%Y-%m-%d %H}:00"


class PageVisit(models.Model):
    """Visits to a public page, counted per day, page, language and (only if a trusted reverse
    proxy says so) country. Never an address, a browser description or a cookie: one counter
    per combination, nothing per visitor."""

    day = models.DateField()
    page = models.CharField(max_length=32)
    language = models.CharField(max_length=2, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "page", "language", "country"], name="page_visit_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.page} {self.language} {self.day}: {self.count}"


class StatRollup(models.Model):
    """Events counted per day, kind, channel and language, kept up to date by the worker
    (``rollups.rollup``), so that figures read O(days) rows, not O(events). Sums of the events'
    values (seconds to answer, call length) give averages."""

    day = models.DateField()
    kind = models.CharField(max_length=64)
    channel = models.CharField(max_length=16, blank=True, default="")
    language = models.CharField(max_length=2, blank=True, default="")
    count = models.PositiveIntegerField(default=0)
    value_sum = models.BigIntegerField(default=0)
    value_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "kind", "channel", "language"], name="stat_rollup_day_unique"
            )
        ]
        indexes = [
            # (PostgreSQL reads the sums from the index alone)
            models.Index(
                fields=["kind", "day"],
                include=["count", "value_sum", "value_count"],
                name="stat_rollup_kind_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day}: {self.count}"


class StatDayTotal(models.Model):
    """Events counted per day and kind, all channels and languages together: what totals,
    series, the funnel and averages read (a ninth of ``StatRollup``'s rows)."""

    day = models.DateField()
    kind = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    value_sum = models.BigIntegerField(default=0)
    value_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "day"], name="stat_day_total")]
        indexes = [
            models.Index(
                fields=["kind", "day"],
                include=["count", "value_sum", "value_count"],
                name="stat_day_total_sums",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day}: {self.count}"


class StatHourRollup(models.Model):
    """Events counted per day, kind and hour of the day (UTC): when people write and call."""

    day = models.DateField()
    kind = models.CharField(max_length=64)
    hour = models.PositiveSmallIntegerField()  # 0-23, UTC
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "hour"], name="stat_hour_unique")
        ]
        indexes = [
            models.Index(fields=["kind", "day"], include=["hour", "count"], name="stat_hour_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day} {self.hour:02d}h: {self.count}"


class PublishedFigure(models.Model):
    """A kind of count a supervisor chose to show on the public figures page."""

    kind = models.CharField(max_length=64, unique=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    published_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.kind
