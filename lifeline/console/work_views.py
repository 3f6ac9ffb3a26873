"""The operators' working screens: the queue, a conversation, the phone script, searching,
case transitions and the liaison's operations list."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifeline.audit.services import audit_record
from lifeline.cases import selectors, workflow
from lifeline.cases.errors import CaseError
from lifeline.cases.models import Case, CaseStatus, DispositionKind, Exchange, Operation
from lifeline.channels.models import OutboundMessage, OutboundStatus
from lifeline.conversations import services as conversations
from lifeline.conversations.host import Reply, run_input, start_flow
from lifeline.conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    FlowRun,
    FlowRunStatus,
    MediaStatus,
)
from lifeline.core.models import Role, User
from lifeline.core.parsing import ascii_int, clean_text, object_id
from lifeline.phone import callbacks

from .decorators import role_required
from .views import _user, case_page

WORK_ROLES = (Role.OPERATOR, Role.SUPERVISOR)


def _uuid(value: str | None) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(_("That record does not exist.")) from None


def _int(value: str | None) -> int:
    """A primary key from a form; 0 (matches nothing) for anything else, "²" included."""
    return object_id(value) or 0


# --- Queue and conversations --------------------------------------------------------------------


@role_required(*WORK_ROLES)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    rows = conversations.queue_rows(_user(request))
    return render(
        request,
        "console/queue.html",
        {
            "rows": rows,
            # For the tab title and the sound: how many wait for someone to take them.
            "waiting": sum(1 for r in rows if r.conversation.assignee_id is None),
            "unread": sum(r.unread for r in rows),
            "on_shift": User.objects.filter(
                is_active=True, on_shift=True, role__in=WORK_ROLES
            ).order_by("username"),
        },
    )


@role_required(*WORK_ROLES)
@require_GET
def queue_next(request: HttpRequest) -> HttpResponse:
    """The next item: an unassigned one waiting, or one of his own with unread messages."""
    item = conversations.next_for(_user(request))
    if item is None:
        messages.info(request, _("Nobody is waiting."))
        return redirect("console:queue")
    return redirect("console:conversation", conversation_id=item.pk)


@role_required(*WORK_ROLES)
@require_http_methods(["GET", "POST"])
def conversation(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    user = _user(request)
    item = conversations.get_for(user, conversation_id)
    if request.method == "POST":
        action = request.POST.get("action")
        notice = ""
        try:
            if action == "take":
                conversations.conversation_take(conversation=item, actor=user)
            elif action == "reply":
                conversations.conversation_reply(
                    conversation=item, actor=user, text=request.POST.get("text", "")
                )
            elif action == "note":
                conversations.note_add(
                    conversation=item, actor=user, text=request.POST.get("note", "")
                )
                notice = _("Note kept. It is not sent to the person.")
            elif action == "bot":
                conversations.conversation_return_to_bot(conversation=item, actor=user)
                # The bot has it now: the operator's next place is the queue, not a page he
                # may no longer open.
                messages.success(request, _("The bot has the conversation again."))
                return redirect("console:queue")
            elif action == "close":
                conversations.conversation_close(conversation=item, actor=user)
                messages.success(request, _("Conversation closed."))
                return redirect("console:queue")
            elif action == "reidentify":
                conversations.conversation_reidentify(
                    conversation=item,
                    actor=user,
                    service_number=request.POST.get("service_number", ""),
                    codename=request.POST.get("codename", ""),
                )
                notice = _("Re-identified: his case is linked to this conversation.")
            elif action == "callback":
                callbacks.callback_request(
                    actor=user,
                    conversation=item,
                    number=request.POST.get("number", ""),
                    safe_time=request.POST.get("safe_time", ""),
                )
                notice = _("Call back recorded. It is on the Missed calls page.")
            elif action == "assign" and user.role == Role.SUPERVISOR:
                assignee = User.objects.get(pk=_int(request.POST.get("assignee")))
                conversations.conversation_assign(conversation=item, actor=user, assignee=assignee)
            else:
                raise ValueError(_("Unknown action."))
        except (PermissionDenied, ValueError, User.DoesNotExist) as error:
            messages.error(request, str(error) or _("Not allowed."))
            return render(
                request,
                "console/conversation.html",
                _conversation_context(
                    user,
                    item,
                    draft=request.POST.get("text", ""),
                    note=request.POST.get("note", "") if action == "note" else "",
                    callback=(
                        request.POST.get("number", ""),
                        request.POST.get("safe_time", ""),
                    )
                    if action == "callback"
                    else None,
                ),
                status=400,
            )
        if notice:
            messages.success(request, notice)
        return redirect("console:conversation", conversation_id=item.pk)
    partial = request.GET.get("partial") == "1"
    version = _transcript_version(item)
    conversations.mark_read(conversation=item, actor=user)
    if partial and request.GET.get("v") == version:
        # Nothing new: no swap, no decryption, no audit entry, no photo fetched again.
        return HttpResponse(status=204)
    context = _conversation_context(
        user, item, canned=None if partial else _object_id_or_none(request.GET.get("canned"))
    )
    context["version"] = version
    template = "console/_transcript.html" if partial else "console/conversation.html"
    return render(request, template, context)


def _transcript_version(item: Conversation) -> str:
    """Changes whenever what the transcript shows changes: a message, a note, a fetched
    photo, a reply that failed."""
    messages_ = item.messages.aggregate(n=Count("pk"), last=Max("created_at"))
    parts = (
        messages_["n"],
        messages_["last"],
        item.notes.count(),
        Attachment.objects.filter(message__conversation=item)
        .exclude(status=MediaStatus.PENDING)
        .count(),
        OutboundMessage.objects.filter(conversation=item, status=OutboundStatus.FAILED).count(),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@role_required(Role.OPERATOR, Role.SUPERVISOR, Role.VERIFIER)
@require_GET
def media(request: HttpRequest, attachment_id: UUID) -> HttpResponse:
    """A photo or voice message, for those who may read the conversation it came in (or, for a
    verifier, the application it belongs to while he checks it). Each opening is audited."""
    user = _user(request)
    attachment = (
        Attachment.objects.select_related("message__conversation")
        .filter(pk=attachment_id, status=MediaStatus.READY)
        .first()
    )
    if attachment is None:
        raise Http404
    if not _may_see_media(user, attachment.message.conversation):
        raise PermissionDenied
    audit_record(
        actor=user,
        action="conversation.media_read",
        object_type="attachment",
        object_id=attachment.pk,
        fields=["media"],
    )
    response = HttpResponse(attachment.content or b"", content_type=attachment.content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response


def _may_see_media(user: User, conversation: Conversation) -> bool:
    if user.role in WORK_ROLES and (
        conversations.conversations_visible_to(user).filter(pk=conversation.pk).exists()
    ):
        return True
    cases = selectors.cases_visible_to(user).filter(requester_id=conversation.contact_id)
    if user.role == Role.VERIFIER:
        cases = cases.filter(status=CaseStatus.APPLIED)
    elif user.role not in WORK_ROLES:
        return False
    return cases.exists()


def _object_id_or_none(value: str | None) -> int | None:
    return object_id(value) if value else None


def _conversation_context(
    user: User,
    item: Any,
    draft: str = "",
    note: str = "",
    canned: int | None = None,
    callback: tuple[str, str] | None = None,
) -> dict[str, Any]:
    # His own applications, and the case he re-identified himself for here (stage 2).
    cases = Case.objects.filter(
        Q(requester=item.contact) | (Q(runs__conversation=item) & ~Q(runs__reidentified_by=""))
    )
    visible = selectors.cases_visible_to(user).filter(pk__in=cases)
    reidentified = set(
        FlowRun.objects.filter(conversation=item)
        .exclude(reidentified_by="")
        .values_list("case_id", flat=True)
    )
    answers = list(conversations.canned_for(item.language))
    if canned is not None and not draft:
        # Without JavaScript, choosing a canned answer puts it in the box to edit first.
        draft = next((a.text for a in answers if a.pk == canned), "")
    return {
        "item": item,
        "lines": conversations.transcript(user, item),
        # Replies the channel never took: shown as "not delivered" on their lines.
        "undelivered": set(
            OutboundMessage.objects.filter(
                conversation=item, status=OutboundStatus.FAILED, message__isnull=False
            ).values_list("message_id", flat=True)
        ),
        "cases": visible,
        "reidentified": reidentified,
        "draft": draft,
        "note": note,
        "callback": callback,
        "canned": answers,
        "operators": User.objects.filter(is_active=True, role__in=WORK_ROLES)
        if user.role == Role.SUPERVISOR
        else [],
        "can_reply": item.assignee_id == user.pk or user.role == Role.SUPERVISOR,
        # Stage 2 that the bot could not confirm: the operator may check the code words here.
        "can_reidentify": item.priority > 0 and not reidentified,
        "open": item.status != ConversationStatus.CLOSED,
    }


@role_required(*WORK_ROLES)
@require_POST
def shift(request: HttpRequest) -> HttpResponse:
    conversations.set_on_shift(actor=_user(request), on=request.POST.get("on") == "1")
    return redirect("console:queue")


# --- Phone script -------------------------------------------------------------------------------


@role_required(*WORK_ROLES)
@require_POST
def call_new(request: HttpRequest) -> HttpResponse:
    """Start the operator_call script (a call without a chat)."""
    user = _user(request)
    start_flow(None, "operator_call", language=request.LANGUAGE_CODE, operator=user)
    run = FlowRun.objects.filter(operator=user, flow="operator_call").order_by("-started_at")[0]
    return redirect("console:call", run_id=run.pk)


@role_required(*WORK_ROLES)
@require_http_methods(["GET", "POST"])
def call(request: HttpRequest, run_id: UUID) -> HttpResponse:
    user = _user(request)
    run = FlowRun.objects.filter(pk=run_id, operator=user).first()
    if run is None:
        raise PermissionDenied
    replies: list[Reply] = []
    if request.method == "POST" and run.status == FlowRunStatus.ACTIVE:
        answer = request.POST.get("choice") or request.POST.get("text") or ""
        replies = run_input(run, answer)
        run.refresh_from_db()
        # The session keeps only placeholders: code words are shown in this answer, once.
        request.session[f"call:{run.pk}"] = [(r.stored_text, list(r.buttons)) for r in replies]
        if not any(r.secret for r in replies):
            return redirect("console:call", run_id=run.pk)
        return _call_page(request, user, run, [(r.text, list(r.buttons)) for r in replies])
    shown: list[tuple[str, list[str]]] | None = request.session.get(f"call:{run.pk}")
    if shown is None:
        from lifeline.conversations.engine import runner
        from lifeline.conversations.host import pinned_flow

        if run.state:
            state = runner.RunState.from_dict(run.state)
            prompt = runner.prompt(pinned_flow(run.flow, run.version), state)
            shown = [(m.text, list(m.buttons)) for m in prompt]
        else:
            shown = []
    return _call_page(request, user, run, shown)


def _call_page(
    request: HttpRequest, user: User, run: FlowRun, shown: list[tuple[str, list[str]]]
) -> HttpResponse:
    return render(
        request,
        "console/call.html",
        {
            "run": run,
            "shown": shown,
            "active": run.status == FlowRunStatus.ACTIVE,
            "case": run.case
            if run.case is not None
            and selectors.cases_visible_to(user).filter(pk=run.case.pk).exists()
            else None,
        },
    )


# --- Search -------------------------------------------------------------------------------------


@role_required(*selectors.CASE_ROLES)
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    """What is searched for (a service number, a phone, a name) is personal: it travels in a
    POST body (CSRF-protected) and the results come back in that response — never in a URL,
    where browser history, proxies and access logs would keep it. A GET shows the empty form."""
    user = _user(request)
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
    visible = selectors.cases_visible_to(user).filter(pk__in=found.values("pk"))
    return render(
        request,
        "console/search.html",
        {
            "q": query,
            "name": name,
            "born": born,
            "cases": visible[:100],
            "searched": bool(query or (name and born)),
        },
    )


# --- Case transitions -----------------------------------------------------------------------


@role_required(*selectors.CASE_ROLES)
@require_POST
def case_action(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user = _user(request)
    case = selectors.case_get_for(actor=user, case_id=case_id)
    action = request.POST.get("action", "")
    post = request.POST
    try:
        if action == "verify":
            ticked = frozenset(k for k in workflow.VERIFICATION_CHECKLIST if post.get(k) == "on")
            try:
                workflow.case_verify(
                    case=case,
                    actor=user,
                    note=post.get("note") or None,
                    checklist=dict.fromkeys(ticked, True),
                )
            except CaseError as error:
                # The page comes back with his ticks and note, and says what is missing.
                messages.error(request, str(error))
                case.refresh_from_db()
                return case_page(
                    request,
                    user,
                    case,
                    status=400,
                    ticked=ticked,
                    verify_note=clean_text(post.get("note") or "", max_length=4000),
                )
        elif action == "reject":
            workflow.case_reject(case=case, actor=user, reason=post.get("reason", ""))
        elif action == "mark_ready":
            workflow.case_mark_ready(
                case=case,
                actor=user,
                codename=post.get("codename") or None,
                service_number=post.get("service_number") or None,
            )
        elif action == "request_operation":
            when = parse_datetime(post.get("meeting_time", ""))
            if when is not None and timezone.is_naive(when):
                when = timezone.make_aware(when)
            workflow.operation_request(
                case=case,
                actor=user,
                meeting_point=post.get("meeting_point", ""),
                meeting_time=when,  # type: ignore[arg-type]
                signal=post.get("signal", ""),
                group_size=_group_size(post.get("group_size")),
            )
        elif action == "approve":
            operation = Operation.objects.get(pk=_uuid(post.get("operation")), case=case)
            workflow.operation_approve(operation=operation, actor=user)
        elif action in ("surrendered", "failed"):
            operation = Operation.objects.get(pk=_uuid(post.get("operation")), case=case)
            workflow.operation_record_outcome(
                operation=operation,
                actor=user,
                surrendered=action == "surrendered",
                note=post.get("note", ""),
            )
        elif action == "withdraw":
            workflow.case_withdraw(case=case, actor=user, reason=post.get("reason", ""))
        elif action == "lose_contact":
            workflow.case_mark_lost_contact(case=case, actor=user, reason=post.get("reason", ""))
        elif action == "note":
            workflow.case_add_note(case=case, actor=user, text=post.get("text", ""))
        elif action == "assign":
            workflow.case_assign(
                case=case,
                actor=user,
                assignee=User.objects.filter(pk=_int(post.get("assignee"))).first(),
            )
        elif action == "disposition":
            exchange = Exchange.objects.filter(pk=_int(post.get("exchange"))).first()
            workflow.case_set_disposition(
                case=case,
                actor=user,
                kind=post.get("kind", ""),
                exchange=exchange,
                note=post.get("note") or None,
            )
        else:
            raise ValueError(_("Unknown action."))
    except (CaseError, ValueError, Operation.DoesNotExist) as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Done."))
    # The liaison comes from the operations list and no longer sees the case once it is done.
    if request.POST.get("next") == "operations":
        return redirect("console:operations")
    return redirect("console:case_detail", case_id=case.pk)


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


# --- Liaison --------------------------------------------------------------------------------


@role_required(Role.LIAISON, Role.SUPERVISOR)
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    cases = selectors.cases_visible_to(user).filter(status=CaseStatus.OPERATION)
    return render(
        request,
        "console/operations.html",
        {
            "views": [selectors.case_read(actor=user, case=c) for c in cases],
            "dispositions": DispositionKind.choices,
        },
    )
