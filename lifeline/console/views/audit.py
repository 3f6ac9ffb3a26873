"""The audit log for supervisors: filters in words and a CSV export (itself audited)."""

from __future__ import annotations

import csv
from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from lifeline.audit.labels import ACTION_LABELS, action_label, field_labels
from lifeline.audit.models import AuditEntry
from lifeline.audit.services import audit_record
from lifeline.cases.models import (
    Case,
)
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text, object_id

from ..decorators import role_required


@role_required(Role.SUPERVISOR)
@require_GET
def audit_list(request: HttpRequest, actor: User) -> HttpResponse:
    """The audit log with filters (who, what, which case, from/to date) in words, and the same
    selection as CSV. Exporting is itself audited."""
    entries = AuditEntry.objects.select_related("actor").order_by("-seq")
    query = request.GET
    who = object_id(query.get("actor"))
    if who is not None:
        entries = entries.filter(actor_id=who)
    action = query.get("action", "")
    if action in ACTION_LABELS:
        entries = entries.filter(action=action)
    number = clean_text(query.get("case", "").strip(), max_length=32)
    if number:
        case = Case.objects.filter(number=number.upper()).first()
        entries = entries.filter(object_type="case", object_id=str(case.pk) if case else "-")
    since, until = _day(query.get("since")), _day(query.get("until"))
    if since is not None:
        entries = entries.filter(created_at__date__gte=since)
    if until is not None:
        entries = entries.filter(created_at__date__lte=until)
    rows = [
        {"entry": e, "action": action_label(e.action), "fields": field_labels(e.fields)}
        for e in entries[: 10_000 if query.get("format") == "csv" else 300]
    ]
    if query.get("format") == "csv":
        return _audit_csv(actor, rows)
    return render(
        request,
        "console/audit/audit_list.html",
        {
            "rows": rows,
            "actors": User.objects.order_by("username"),
            "actions": sorted(((k, str(v)) for k, v in ACTION_LABELS.items()), key=lambda a: a[1]),
            "selected": {
                "actor": who,
                "action": action,
                "case": number,
                "since": since.isoformat() if since else "",
                "until": until.isoformat() if until else "",
            },
            "csv_query": query.urlencode() + ("&" if query else "") + "format=csv",
        },
    )


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        return None


def _audit_csv(user: User, rows: list[dict[str, Any]]) -> HttpResponse:
    audit_record(actor=user, action="audit.exported", object_type="audit", fields=["audit"])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lifeline-audit.csv"'
    response.write("\ufeff")  # so that spreadsheet programs read the Cyrillic as UTF-8
    writer = csv.writer(response)
    writer.writerow([_("Number"), _("Time"), _("Who"), _("Action"), _("Record"), _("Fields")])
    for row in rows:
        e = row["entry"]
        writer.writerow(
            [
                e.seq,
                e.created_at.isoformat(),
                _csv_safe(e.actor.username if e.actor else e.actor_label),
                _csv_safe(row["action"]),
                _csv_safe(f"{e.object_type} {e.object_id}".strip()),
                _csv_safe(row["fields"]),
            ]
        )
    return response


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
