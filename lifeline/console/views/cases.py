"""Case lists, a new application, the case page with every step its reader may take, search."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifeline.audit.services import audit_record
from lifeline.cases import selectors, workflow
from lifeline.cases.errors import CaseError
from lifeline.cases.models import (
    VERIFICATION_CHECKLIST,
    VERIFICATION_LABELS,
    Case,
    CaseStatus,
    Disposition,
    DispositionKind,
    Exchange,
    Operation,
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
from lifeline.conversations.models import (
    Conversation,
)
from lifeline.conversations.services import (
    CONVERSATION_ROLES,
    conversations_visible_to,
    media_for,
)
from lifeline.core.channels import Channel
from lifeline.core.models import Role, User
from lifeline.core.parsing import ascii_int, clean_text, object_id

from ..decorators import role_required
from ..forms import CaseCreateForm
from .common import (
    _int,
    _uuid,
    bad_request,
)


@role_required(*CASE_ROLES)
@require_GET
def case_list(request: HttpRequest, actor: User) -> HttpResponse:
    cases = cases_visible_to(actor).select_related("assignee").order_by("-created_at")
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
        "console/cases/case_list.html",
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
def case_create(request: HttpRequest, actor: User) -> HttpResponse:
    form = CaseCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = workflow.case_create(
                actor=actor,
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
    return render(request, "console/cases/case_create.html", {"form": form})


@role_required(*CASE_ROLES)
@require_GET
def case_detail(request: HttpRequest, actor: User, case_id: UUID) -> HttpResponse:
    return case_page(request, actor, case_get_for(actor=actor, case_id=case_id))


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
    may = selectors.case_abilities(actor=user, case=case)
    duplicates = case_duplicates(case)
    disposition = Disposition.objects.filter(case=case).select_related("exchange").first()
    return render(
        request,
        "console/cases/case_detail.html",
        {
            "view": view,
            "case": case,
            "timeline": _timeline(user, case, event_lines),
            "operation_lines": operation_lines,
            "disposition": disposition,
            "transitions": may.transitions,
            # Duplicates: how many exist, and links only to those this person may open.
            "duplicates": cases_visible_to(user).filter(pk__in=duplicates.values("pk")),
            "duplicate_count": duplicates.count(),
            # Reasons to look twice, for those who decide on the application.
            "hints": selectors.suspicion_hints(case)
            if case.status == CaseStatus.APPLIED and user.role in (Role.VERIFIER, Role.SUPERVISOR)
            else [],
            "checklist": [
                (item, VERIFICATION_LABELS[item], item in ticked) for item in VERIFICATION_CHECKLIST
            ],
            "verify_note": verify_note,
            "pending_operation": may.pending_operation,
            "approved_operation": may.approved_operation,
            "can_request": may.can_request,
            "can_approve": may.can_approve,
            "own_request": may.own_request,
            "can_note": may.can_note,
            "can_assign": may.can_assign,
            "assignable": User.objects.filter(is_active=True, role__in=workflow.ASSIGNABLE_ROLES),
            "can_dispose": may.can_dispose,
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


@role_required(*selectors.CASE_ROLES)
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest, actor: User) -> HttpResponse:
    """What is searched for (a service number, a phone, a name) is personal: it travels in a
    POST body (CSRF-protected) and the results come back in that response — never in a URL,
    where browser history, proxies and access logs would keep it. A GET shows the empty form."""
    form = request.POST if request.method == "POST" else QueryDict()
    query = clean_text(form.get("q") or "", max_length=200).strip()
    name = clean_text(form.get("name") or "", max_length=300).strip()
    born = clean_text(form.get("born") or "", max_length=20).strip()
    found = Case.objects.none()
    if query:
        found = (
            Case.objects.filter(number__iexact=query)
            | selectors.cases_by_service_number(query)
            | selectors.cases_by_phone(query)
            | selectors.cases_by_telegram_id(query)
        )
    elif name and born:
        from datetime import date as date_type

        try:
            parsed = (
                datetime.strptime(born, "%d.%m.%Y").replace(tzinfo=UTC).date()
                if "." in born
                else date_type.fromisoformat(born)
            )
        except ValueError:
            messages.error(request, _("Write the birth date like 12.03.1995."))
        else:
            found = selectors.cases_by_name_birth(name, parsed)
    visible = selectors.cases_visible_to(actor).filter(pk__in=found.values("pk"))
    return render(
        request,
        "console/cases/search.html",
        {
            "q": query,
            "name": name,
            "born": born,
            "cases": visible[:100],
            "searched": bool(query or (name and born)),
        },
    )


@role_required(*selectors.CASE_ROLES)
@require_POST
def case_action(request: HttpRequest, actor: User, case_id: UUID) -> HttpResponse:
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    handler = CASE_ACTIONS.get(request.POST.get("action", ""))
    try:
        if handler is None:
            raise ValueError(_("Unknown action."))
        page = handler(request, actor, case, request.POST)
    except (CaseError, ValueError, Operation.DoesNotExist) as error:
        messages.error(request, str(error))
    else:
        if page is not None:
            return page
        messages.success(request, _("Done."))
    # The liaison comes from the operations list and no longer sees the case once it is done.
    if request.POST.get("next") == "operations":
        return redirect("console:operations")
    return redirect("console:case_detail", case_id=case.pk)


def _verify(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    ticked = frozenset(k for k in workflow.VERIFICATION_CHECKLIST if post.get(k) == "on")
    try:
        workflow.case_verify(
            case=case,
            actor=actor,
            note=post.get("note") or None,
            checklist=dict.fromkeys(ticked, True),
        )
    except CaseError as error:
        # The page comes back with his ticks and note, and says what is missing.
        messages.error(request, str(error))
        case.refresh_from_db()
        return case_page(
            request,
            actor,
            case,
            status=400,
            ticked=ticked,
            verify_note=clean_text(post.get("note") or "", max_length=4000),
        )
    return None


def _reject(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    workflow.case_reject(case=case, actor=actor, reason=post.get("reason", ""))
    return None


def _mark_ready(
    request: HttpRequest, actor: User, case: Case, post: QueryDict
) -> HttpResponse | None:
    workflow.case_mark_ready(
        case=case,
        actor=actor,
        codename=post.get("codename") or None,
        service_number=post.get("service_number") or None,
    )
    return None


def _request_operation(
    request: HttpRequest, actor: User, case: Case, post: QueryDict
) -> HttpResponse | None:
    when = parse_datetime(post.get("meeting_time", ""))
    if when is not None and timezone.is_naive(when):
        when = timezone.make_aware(when)
    workflow.operation_request(
        case=case,
        actor=actor,
        meeting_point=post.get("meeting_point", ""),
        meeting_time=when,  # type: ignore[arg-type]
        signal=post.get("signal", ""),
        group_size=_group_size(post.get("group_size")),
    )
    return None


def _approve(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    operation = Operation.objects.get(pk=_uuid(post.get("operation")), case=case)
    workflow.operation_approve(operation=operation, actor=actor)
    return None


def _outcome(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    operation = Operation.objects.get(pk=_uuid(post.get("operation")), case=case)
    workflow.operation_record_outcome(
        operation=operation,
        actor=actor,
        surrendered=post.get("action") == "surrendered",
        note=post.get("note", ""),
    )
    return None


def _withdraw(
    request: HttpRequest, actor: User, case: Case, post: QueryDict
) -> HttpResponse | None:
    workflow.case_withdraw(case=case, actor=actor, reason=post.get("reason", ""))
    return None


def _lose_contact(
    request: HttpRequest, actor: User, case: Case, post: QueryDict
) -> HttpResponse | None:
    workflow.case_mark_lost_contact(case=case, actor=actor, reason=post.get("reason", ""))
    return None


def _note(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    workflow.case_add_note(case=case, actor=actor, text=post.get("text", ""))
    return None


def _assign(request: HttpRequest, actor: User, case: Case, post: QueryDict) -> HttpResponse | None:
    workflow.case_assign(
        case=case,
        actor=actor,
        assignee=User.objects.filter(pk=_int(post.get("assignee"))).first(),
    )
    return None


def _disposition(
    request: HttpRequest, actor: User, case: Case, post: QueryDict
) -> HttpResponse | None:
    exchange = Exchange.objects.filter(pk=_int(post.get("exchange"))).first()
    workflow.case_set_disposition(
        case=case,
        actor=actor,
        kind=post.get("kind", ""),
        exchange=exchange,
        note=post.get("note") or None,
    )
    return None


#: One handler per case action (each reads its own fields); a handler returns a page to show
#: instead of going back to the case (a refused verification keeps the verifier's ticks).
CASE_ACTIONS: dict[str, Callable[[HttpRequest, User, Case, QueryDict], HttpResponse | None]] = {
    "verify": _verify,
    "reject": _reject,
    "mark_ready": _mark_ready,
    "request_operation": _request_operation,
    "approve": _approve,
    "surrendered": _outcome,
    "failed": _outcome,
    "withdraw": _withdraw,
    "lose_contact": _lose_contact,
    "note": _note,
    "assign": _assign,
    "disposition": _disposition,
}


def _group_size(value: str | None) -> int:
    """0 (the workflow then asks for it) unless ASCII digits; too large is refused here."""
    size = ascii_int((value or "").strip(), maximum=10**9)
    if size is not None and size > MAX_GROUP_SIZE:
        raise ValueError(
            _("Give the group size as a number from 1 to %(max)d.") % {"max": MAX_GROUP_SIZE}
        )
    return size or 0


#: Beyond any real group; keeps the value within the database column.
MAX_GROUP_SIZE = 100
