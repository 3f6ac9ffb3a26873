"""The operators' queue and a conversation: preview, unread, next item, notes, closing,
canned answers, call backs, re-identification by hand, photos and voice messages."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifeline.audit.services import audit_record
from lifeline.cases import selectors
from lifeline.cases.models import (
    Case,
    CaseStatus,
)
from lifeline.channels.models import OutboundMessage, OutboundStatus
from lifeline.contacts import blocks
from lifeline.contacts.models import BlockReason
from lifeline.conversations import services as conversations
from lifeline.conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    FlowRun,
    MediaStatus,
)
from lifeline.core.models import Role, User
from lifeline.phone import callbacks

from ..decorators import role_required
from .common import (
    WORK_ROLES,
    _int,
    _object_id_or_none,
)


@role_required(*WORK_ROLES)
@require_GET
def queue(request: HttpRequest, actor: User) -> HttpResponse:
    rows = conversations.queue_rows(actor)
    return render(
        request,
        "console/queue/queue.html",
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
def queue_next(request: HttpRequest, actor: User) -> HttpResponse:
    """The next item: an unassigned one waiting, or one of his own with unread messages."""
    item = conversations.next_for(actor)
    if item is None:
        messages.info(request, _("Nobody is waiting."))
        return redirect("console:queue")
    return redirect("console:conversation", conversation_id=item.pk)


@role_required(*WORK_ROLES)
@require_POST
def shift(request: HttpRequest, actor: User) -> HttpResponse:
    conversations.set_on_shift(actor=actor, on=request.POST.get("on") == "1")
    return redirect("console:queue")


@role_required(*WORK_ROLES)
@require_http_methods(["GET", "POST"])
def conversation(request: HttpRequest, actor: User, conversation_id: UUID) -> HttpResponse:
    item = conversations.get_for(actor, conversation_id)
    if request.method == "POST":
        action = request.POST.get("action")
        notice = ""
        try:
            if action == "take":
                conversations.conversation_take(conversation=item, actor=actor)
            elif action == "reply":
                conversations.conversation_reply(
                    conversation=item, actor=actor, text=request.POST.get("text", "")
                )
            elif action == "note":
                conversations.note_add(
                    conversation=item, actor=actor, text=request.POST.get("note", "")
                )
                notice = _("Note kept. It is not sent to the person.")
            elif action == "bot":
                conversations.conversation_return_to_bot(conversation=item, actor=actor)
                # The bot has it now: the operator's next place is the queue, not a page he
                # may no longer open.
                messages.success(request, _("The bot has the conversation again."))
                return redirect("console:queue")
            elif action == "close":
                conversations.conversation_close(conversation=item, actor=actor)
                messages.success(request, _("Conversation closed."))
                return redirect("console:queue")
            elif action == "reidentify":
                conversations.conversation_reidentify(
                    conversation=item,
                    actor=actor,
                    service_number=request.POST.get("service_number", ""),
                    codename=request.POST.get("codename", ""),
                )
                notice = _("Re-identified: his case is linked to this conversation.")
            elif action == "callback":
                callbacks.callback_request(
                    actor=actor,
                    conversation=item,
                    number=request.POST.get("number", ""),
                    safe_time=request.POST.get("safe_time", ""),
                )
                notice = _("Call back recorded. It is on the Missed calls page.")
            elif action == "block" and item.identity is not None:
                block = blocks.block_sender(
                    actor=actor,
                    identity=item.identity,
                    hours=request.POST.get("hours"),
                    reason=request.POST.get("reason"),
                )
                notice = _(
                    "Blocked until %(until)s: his messages are acknowledged and dropped unread."
                ) % {"until": timezone.localtime(block.until).strftime("%Y-%m-%d %H:%M")}
            elif action == "erase" and actor.role == Role.SUPERVISOR:
                if request.POST.get("confirm") != "erase":
                    raise ValueError(_("Tick the box to confirm: the erasure cannot be undone."))
                conversations.contact_erase(conversation=item, actor=actor)
                messages.success(
                    request,
                    _(
                        "Erased: his messages, notes, answers, call backs and the personal "
                        "data of his applications. The counts stay in the figures."
                    ),
                )
                return redirect("console:queue")
            elif action == "assign" and actor.role == Role.SUPERVISOR:
                assignee = User.objects.get(pk=_int(request.POST.get("assignee")))
                conversations.conversation_assign(conversation=item, actor=actor, assignee=assignee)
            else:
                raise ValueError(_("Unknown action."))
        except (PermissionDenied, ValueError, User.DoesNotExist) as error:
            messages.error(request, str(error) or _("Not allowed."))
            return render(
                request,
                "console/queue/conversation.html",
                _conversation_context(
                    actor,
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
    conversations.mark_read(conversation=item, actor=actor)
    if partial and request.GET.get("v") == version:
        # Nothing new: no swap, no decryption, no audit entry, no photo fetched again.
        return HttpResponse(status=204)
    context = _conversation_context(
        actor, item, canned=None if partial else _object_id_or_none(request.GET.get("canned"))
    )
    context["version"] = version
    template = "console/queue/_transcript.html" if partial else "console/queue/conversation.html"
    return render(request, template, context)


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
        # Supervisors block a sender for a time; everyone sees that he is blocked.
        "block": blocks.active_blocks().filter(identity_id=item.identity_id).first()
        if item.identity_id
        else None,
        "can_block": user.role == Role.SUPERVISOR and item.identity_id is not None,
        "can_erase": user.role == Role.SUPERVISOR,
        "block_durations": list(blocks.DURATIONS.items()),
        "block_reasons": BlockReason.choices,
        # Stage 2 that the bot could not confirm: the operator may check the code words here.
        "can_reidentify": item.priority > 0 and not reidentified,
        "open": item.status != ConversationStatus.CLOSED,
    }


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
def media(request: HttpRequest, actor: User, attachment_id: UUID) -> HttpResponse:
    """A photo or voice message, for those who may read the conversation it came in (or, for a
    verifier, the application it belongs to while he checks it). Each opening is audited."""
    attachment = (
        Attachment.objects.select_related("message__conversation")
        .filter(pk=attachment_id, status=MediaStatus.READY)
        .first()
    )
    if attachment is None:
        raise Http404
    if not _may_see_media(actor, attachment.message.conversation):
        raise PermissionDenied
    audit_record(
        actor=actor,
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
