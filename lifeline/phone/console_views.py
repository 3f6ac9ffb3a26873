"""The phone line in the console: missed calls, the caller pop-up, the block list."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from lifeline.audit.services import audit_record
from lifeline.cases.models import Case
from lifeline.cases.selectors import cases_visible_to
from lifeline.console.decorators import role_required
from lifeline.console.views.common import bad_request
from lifeline.contacts import blocks as blocks_
from lifeline.contacts.models import SenderBlock
from lifeline.conversations.models import Conversation
from lifeline.core.models import Role, User
from lifeline.core.parsing import object_id

from . import callbacks, cti
from .models import BlockRule, Call, CallStatus

WORK_ROLES = (Role.OPERATOR, Role.SUPERVISOR)


@role_required(*WORK_ROLES)
@require_http_methods(["GET", "POST"])
def missed(request: HttpRequest, actor: User) -> HttpResponse:
    """Missed calls, and the call backs people asked for. A missed call is only marked seen:
    it is offered for a call back only if that number has an open call-back request."""
    calls = Call.objects.filter(status=CallStatus.MISSED)
    shown: dict[UUID, tuple[str, str]] = {}
    if request.method == "POST":
        action = request.POST.get("action", "seen")
        if action in ("show", "done", "cancel"):
            wanted = _uuid_or_none(request.POST.get("callback"))
            item = callbacks.open_requests().filter(pk=wanted).first() if wanted else None
            if item is None:
                messages.error(request, _("This call back is already closed."))
                return redirect("console:calls_missed")
            if action == "show":
                # The number is shown in this answer only, never in a URL or a later page.
                try:
                    shown[item.pk] = callbacks.callback_show(actor=actor, request=item)
                except PermissionDenied as error:
                    messages.error(request, str(error))
                    return redirect("console:calls_missed")
            else:
                try:
                    callbacks.callback_close(actor=actor, request=item, done=action == "done")
                except PermissionDenied as error:
                    messages.error(request, str(error))
                else:
                    messages.success(request, _("Done."))
                return redirect("console:calls_missed")
        else:
            now = timezone.now()
            target = request.POST.get("call")
            pk = None if target == "all" else _uuid_or_none(target)
            if target == "all":
                changed = calls.filter(seen_at__isnull=True).update(seen_at=now)
            else:
                changed = calls.filter(pk=pk, seen_at__isnull=True).update(seen_at=now) if pk else 0
            audit_record(
                actor=actor,
                action="phone.missed_seen",
                object_type="call",
                # Only what was parsed: a crafted value (a NUL) never reaches the log or database.
                object_id="all" if target == "all" else str(pk or ""),
                fields=["seen_at"],
            )
            messages.success(
                request,
                ngettext("%(n)d call marked as seen.", "%(n)d calls marked as seen.", changed)
                % {"n": changed},
            )
            return redirect("console:calls_missed")
    requested = callbacks.requested_indexes()
    rows = [
        (call, bool(call.caller_index) and call.caller_index in requested)
        for call in calls.select_related("contact").order_by("seen_at", "-ringing_at")[:200]
    ]
    return render(
        request,
        "console/calls/calls_missed.html",
        {
            "rows": rows,
            "callbacks": [
                (item, shown.get(item.pk), callbacks.may_show(actor, item))
                for item in callbacks.open_requests().select_related("created_by")[:200]
            ],
        },
    )


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


@role_required(*WORK_ROLES)
@require_GET
def popup(request: HttpRequest, actor: User) -> HttpResponse:
    """The call this operator has just answered: who is calling, as far as we know."""
    call = (
        Call.objects.filter(answered_by=actor, status=CallStatus.ANSWERED)
        .select_related("contact")
        .order_by("-answered_at")
        .first()
    )
    cases = []
    state = "none"
    if call is not None:
        if call.contact_id:
            known = Case.objects.filter(requester_id=call.contact_id)
            cases = list(cases_visible_to(actor).filter(pk__in=known.values("pk")))
            state = "known" if cases else "maybe"
        else:
            state = "new"
        audit_record(
            actor=actor,
            action="phone.popup",
            object_type="call",
            object_id=call.pk,
            fields=["contact"],
        )
    return render(
        request, "console/calls/_call_popup.html", {"call": call, "state": state, "cases": cases}
    )


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def blocks(request: HttpRequest, actor: User) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("action") == "unblock":
            pk = object_id(request.POST.get("block"))
            if pk is None:
                return bad_request(request)
            found = SenderBlock.objects.filter(pk=pk).first()
            if found is not None:
                blocks_.unblock_sender(actor=actor, block=found)
                messages.success(request, _("Unblocked: his messages are read again."))
            return redirect("console:blocks")
        if request.POST.get("action") == "remove":
            pk = object_id(request.POST.get("rule"))
            if pk is None:  # "x", "²", or beyond the column
                return bad_request(request)
            rule = BlockRule.objects.filter(pk=pk).first()
            if rule is not None:
                audit_record(
                    actor=actor,
                    action="phone.unblocked",
                    object_type="block_rule",
                    object_id=rule.pk,
                    fields=["rule"],
                )
                rule.delete()
        else:
            try:
                cti.block_number(
                    actor=actor,
                    number=request.POST.get("number", "").strip(),
                    prefix=request.POST.get("prefix", "").strip(),
                    note=request.POST.get("note", ""),
                )
            except (ValueError, PermissionDenied):
                messages.error(request, _("Give a phone number, or a prefix of digits."))
            else:
                messages.success(request, _("Blocked."))
        return redirect("console:blocks")
    return render(
        request,
        "console/calls/blocks.html",
        {
            "rules": BlockRule.objects.select_related("created_by").order_by("-created_at"),
            "senders": blocks_.active_blocks().annotate(
                conversation_id=Subquery(
                    Conversation.objects.filter(identity_id=OuterRef("identity_id"))
                    .order_by("-created_at")
                    .values("pk")[:1]
                )
            ),
        },
    )
