"""The staff console. ``ConsoleSecurityMiddleware`` has already required a verified second
factor for every view here except login and logout; each view checks roles, and the services
and selectors check again."""

from __future__ import annotations

import base64
import csv
from datetime import date
from typing import Any
from uuid import UUID

import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.labels import ACTION_LABELS, action_label, field_labels
from lifeline.audit.models import AuditEntry
from lifeline.audit.services import audit_record
from lifeline.cases import workflow
from lifeline.cases.errors import CaseError
from lifeline.cases.models import (
    VERIFICATION_CHECKLIST,
    VERIFICATION_LABELS,
    Case,
    CaseStatus,
    Disposition,
    DispositionKind,
    Exchange,
    OperationStatus,
)
from lifeline.cases.selectors import (
    CASE_ROLES,
    EventLine,
    case_duplicates,
    case_get_for,
    case_history,
    case_read,
    cases_visible_to,
)
from lifeline.conversations.models import Conversation
from lifeline.conversations.services import (
    CONVERSATION_ROLES,
    conversations_visible_to,
    media_for,
)
from lifeline.core.channels import Channel
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text, object_id

from .decorators import role_required
from .forms import CaseCreateForm, TokenForm
from .middleware import LOGIN_STARTED, SESSION_EXPIRED, pop_next_path
from .security import remember_device


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the middleware guarantees a logged-in user
    return user


def bad_request(request: HttpRequest) -> HttpResponse:
    """400 for a malformed parameter: a plain page, no detail, no traceback in the log."""
    return render(request, "400.html", status=400)


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: the console page first asked for, kept in the session by
    ``ConsoleSecurityMiddleware`` (a path, no query string), never a ``?next=`` parameter."""
    return pop_next_path(request) or reverse("console:home")


# --- Signing in -----------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        self.request.session[LOGIN_STARTED] = timezone.now().isoformat()
        audit_record(
            actor=form.get_user(),
            action="staff.login",
            object_type="user",
            object_id=form.get_user().pk,
        )
        return response

    def get_success_url(self) -> str:
        return _next_url(self.request)

    def get_redirect_url(self) -> str:
        return ""  # no ``?next=``: the target is kept in the session (see _next_url)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Set by the middleware when the absolute session limit ended the last session.
        context["expired"] = bool(self.request.session.pop(SESSION_EXPIRED, False))
        return context


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(
            actor=request.user, action="staff.logout", object_type="user", object_id=request.user.pk
        )
    logout(request)
    return redirect("console:login")


def _signed_in(request: HttpRequest, user: User) -> HttpResponse:
    """Both factors passed: on to the console, and this browser becomes a known device for the
    account (its own lockout bucket, see ``console/security.py``)."""
    response = HttpResponseRedirect(_next_url(request))
    remember_device(request, response, user.get_username())
    return response


@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    """First login: enrol a TOTP authenticator from a QR code, confirmed by one code."""
    user = _user(request)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("console:otp_verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="console", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["otp_token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            audit_record(
                actor=user,
                action="staff.totp_enrolled",
                object_type="user",
                object_id=user.pk,
                fields=["totp_device"],
            )
            return _signed_in(request, user)
        form.add_error(
            "otp_token",
            _("That code is not right. Check the time on your phone and enter the code shown now."),
        )
    secret = base64.b32encode(device.bin_key).decode()
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "console/otp_setup.html",
        {
            "form": form,
            "qr_data_uri": qr.svg_data_uri(scale=5, border=2),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        },
    )


@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Every login: the current code from the enrolled authenticator. A code works once."""
    user = _user(request)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("console:otp_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _info = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["otp_token"]):
            otp_login(request, device)
            audit_record(
                actor=user, action="staff.second_factor", object_type="user", object_id=user.pk
            )
            return _signed_in(request, user)
        audit_record(
            actor=user, action="staff.second_factor_failed", object_type="user", object_id=user.pk
        )
        message = (
            _("That code is not right, or it was already used. Wait for the next code.")
            if allowed
            else _("Too many wrong codes. Wait a little and try again.")
        )
        form.add_error("otp_token", message)
    return render(request, "console/otp_verify.html", {"form": form})


# --- Home -------------------------------------------------------------------------------------


#: Roles shown live counts of cases per status (how many are in operation right now is
#: operational information). Press and admin see none: the press gets published figures only.
LIVE_COUNT_ROLES = CASE_ROLES


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    # Counts only, no personal field is read; and only for roles that work with cases.
    rows: list[tuple[Any, int]] = []  # (lazy status label, count)
    if _user(request).role in LIVE_COUNT_ROLES:
        counts = dict(Case.objects.values_list("status").annotate(n=Count("pk")).order_by())
        rows = [(status.label, counts.get(status.value, 0)) for status in CaseStatus]
    return render(request, "console/home.html", {"rows": rows})


# --- Cases ------------------------------------------------------------------------------------


@role_required(*CASE_ROLES)
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    cases = cases_visible_to(user).select_related("assignee").order_by("-created_at")
    status = request.GET.get("status", "")
    if status in CaseStatus.values:
        cases = cases.filter(status=status)
    channel = request.GET.get("channel", "")
    if channel in Channel.values:
        cases = cases.filter(channel=channel)
    assignee = request.GET.get("assignee", "")
    if assignee == "none":
        cases = cases.filter(assignee__isnull=True)
    elif assignee:
        assignee_id = object_id(assignee)
        if assignee_id is None:  # "²" passes str.isdigit(); "9" * 40 overflows the column
            return bad_request(request)
        cases = cases.filter(assignee_id=assignee_id)
    # Only clear metadata here: no personal field is decrypted for a list.
    return render(
        request,
        "console/case_list.html",
        {
            "cases": cases[:200],
            "statuses": CaseStatus.choices,
            "status": status,
            "channels": Channel.choices,
            "channel": channel,
            "assignees": User.objects.filter(role__in=workflow.ASSIGNABLE_ROLES).order_by(
                "username"
            ),
            "assignee": assignee,
        },
    )


@role_required(Role.OPERATOR, Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = CaseCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = workflow.case_create(
                actor=user,
                channel=Channel.CONSOLE,
                language=data["language"],
                full_name=data["full_name"],
                birth_date=data["birth_date"],
                service_number=data["service_number"],
                rank=data["rank"],
                unit=data["unit"],
                location=data["location"],
                mobilisation_status=data["mobilisation_status"],
                group_size=data["group_size"],
                phone_situation=data["phone_situation"],
                requester_relation=data["requester_relation"],
            )
        except CaseError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, _("Application %(number)s created.") % {"number": case.number}
            )
            return redirect("console:case_detail", case_id=case.pk)
    return render(request, "console/case_create.html", {"form": form})


@role_required(Role.VERIFIER, Role.SUPERVISOR)
@require_GET
def verification_queue(request: HttpRequest) -> HttpResponse:
    """Applications waiting for verification, the longest wait first, with how many other
    cases share their details (never merged automatically: the verifier looks)."""
    user = _user(request)
    waiting = list(
        cases_visible_to(user)
        .filter(status=CaseStatus.APPLIED)
        .select_related("assignee")
        .order_by("created_at")[:200]
    )
    rows = [{"case": case, "duplicates": case_duplicates(case).count()} for case in waiting]
    return render(
        request,
        "console/verification_queue.html",
        {"rows": rows, "total": cases_visible_to(user).filter(status=CaseStatus.APPLIED).count()},
    )


@role_required(*CASE_ROLES)
@require_GET
def case_detail(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user = _user(request)
    return case_page(request, user, case_get_for(actor=user, case_id=case_id))


def case_page(
    request: HttpRequest,
    user: User,
    case: Case,
    *,
    status: int = 200,
    ticked: frozenset[str] = frozenset(),
    verify_note: str = "",
) -> HttpResponse:
    """The case page: everything recorded that this role may read, and the steps it may take.
    After a refused verification the ticks and the note come back as they were sent."""
    view = case_read(actor=user, case=case)
    event_lines, operation_lines = case_history(actor=user, case=case)
    pending = case.operations.filter(status=OperationStatus.REQUESTED).first()
    approved = case.operations.filter(status=OperationStatus.APPROVED).first()
    duplicates = case_duplicates(case)
    disposition = Disposition.objects.filter(case=case).select_related("exchange").first()
    return render(
        request,
        "console/case_detail.html",
        {
            "view": view,
            "case": case,
            "timeline": _timeline(user, case, event_lines),
            "operation_lines": operation_lines,
            "disposition": disposition,
            "transitions": {t.name for t in workflow.allowed_transitions(case=case, actor=user)},
            # Duplicates: how many exist, and links only to those this person may open.
            "duplicates": cases_visible_to(user).filter(pk__in=duplicates.values("pk")),
            "duplicate_count": duplicates.count(),
            "checklist": [
                (item, VERIFICATION_LABELS[item], item in ticked) for item in VERIFICATION_CHECKLIST
            ],
            "verify_note": verify_note,
            "pending_operation": pending,
            "approved_operation": approved,
            "can_request": user.role in workflow.OPERATION_REQUEST_ROLES
            and case.status == CaseStatus.READY
            and pending is None
            and approved is None,
            "can_approve": pending is not None
            and user.role == Role.SUPERVISOR
            and pending.requested_by_id != user.pk,
            "own_request": pending is not None and pending.requested_by_id == user.pk,
            "can_note": user.role in workflow.NOTE_ROLES,
            "can_assign": user.role == Role.SUPERVISOR,
            "assignable": User.objects.filter(is_active=True, role__in=workflow.ASSIGNABLE_ROLES),
            "can_dispose": user.role in workflow.DISPOSITION_ROLES
            and case.status == CaseStatus.SURRENDERED,
            "dispositions": DispositionKind.choices,
            "exchanges": Exchange.objects.all()[:50],
        },
        status=status,
    )


def _timeline(user: User, case: Case, events: list[EventLine]) -> list[dict[str, Any]]:
    """Case events, and the requester's messages for those who work with conversations (and
    for the verifier while the application waits for him: he checks the details against what
    the man wrote), in one time line. Reading the messages is audited."""
    from lifeline.conversations.models import Message

    rows: list[dict[str, Any]] = [
        {"at": e.event.created_at, "kind": "event", "line": e} for e in events
    ]
    reads_messages = user.role in CONVERSATION_ROLES or (
        user.role == Role.VERIFIER and case.status == CaseStatus.APPLIED
    )
    if case.requester_id and reads_messages:
        # Whoever may open this case (checked by the caller) and works with conversations
        # sees its requester's messages.
        visible = Conversation.objects.filter(contact_id=case.requester_id)
        messages_ = list(
            Message.objects.filter(conversation__in=visible)
            .select_related("sender")
            .order_by("created_at")[:500]
        )
        if messages_:
            audit_record(
                actor=user,
                action="conversation.read",
                object_type="case",
                object_id=case.pk,
                fields=["messages"],
            )
        # A link to the conversation only where this reader may open it (no dead ends).
        openable = (
            set(
                conversations_visible_to(user)
                .filter(pk__in={m.conversation_id for m in messages_})
                .values_list("pk", flat=True)
            )
            if user.role in CONVERSATION_ROLES
            else set()
        )
        media = media_for([m.pk for m in messages_ if m.direction == "in"])
        rows += [
            {
                "at": m.created_at,
                "kind": "message",
                "message": m,
                "media": media.get(m.pk),
                "openable": m.conversation_id in openable,
            }
            for m in messages_
        ]
        from lifeline.phone.models import Call

        rows += [
            {"at": c.ringing_at, "kind": "call", "call": c}
            for c in Call.objects.filter(contact_id=case.requester_id).select_related(
                "answered_by"
            )[:200]
        ]
    return sorted(rows, key=lambda row: row["at"])


# --- Audit ------------------------------------------------------------------------------------


@role_required(Role.SUPERVISOR)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit log with filters (who, what, which case, from/to date) in words, and the same
    selection as CSV. Exporting is itself audited."""
    entries = AuditEntry.objects.select_related("actor").order_by("-seq")
    query = request.GET
    actor = object_id(query.get("actor"))
    if actor is not None:
        entries = entries.filter(actor_id=actor)
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
        return _audit_csv(_user(request), rows)
    return render(
        request,
        "console/audit_list.html",
        {
            "rows": rows,
            "actors": User.objects.order_by("username"),
            "actions": sorted(((k, str(v)) for k, v in ACTION_LABELS.items()), key=lambda a: a[1]),
            "selected": {
                "actor": actor,
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
