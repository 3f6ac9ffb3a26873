"""Human words for audit actions and field names, for the console's audit log and its export.
The log itself keeps the stable codes; this is only how they are shown."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

ACTION_LABELS: dict[str, Any] = {
    "audit.head_rebuilt": _("Audit chain head rebuilt"),
    "audit.exported": _("Audit log exported"),
    "case.created": _("Application created"),
    "case.read": _("Case opened"),
    "case.history.read": _("Case notes read"),
    "case.updated": _("Case details changed"),
    "case.assigned": _("Case assigned"),
    "case.codename_issued": _("Code words issued"),
    "case.erased": _("Personal data erased"),
    "case.disposition": _("Disposition recorded"),
    "case.note": _("Note added"),
    "case.verified": _("Verified"),
    "case.rejected": _("Rejected"),
    "case.ready": _("Marked ready (stage 2)"),
    "case.operation": _("Operation approved"),
    "case.surrendered": _("Surrender recorded"),
    "case.withdrawn": _("He withdrew"),
    "case.lost_contact": _("Contact lost"),
    "case.applied": _("Back to waiting for verification"),
    "conversation.read": _("Messages read"),
    "conversation.taken": _("Conversation taken"),
    "conversation.assigned": _("Conversation assigned"),
    "conversation.replied": _("Reply sent"),
    "conversation.returned_to_bot": _("Conversation returned to the bot"),
    "conversation.note_added": _("Note left on a conversation"),
    "conversation.closed": _("Conversation closed"),
    "conversation.reidentified": _("Re-identified by an operator"),
    "conversation.reidentify_failed": _("Re-identification by an operator failed"),
    "conversation.media_read": _("Photo or voice message opened"),
    "canned.created": _("Canned answer written"),
    "canned.changed": _("Canned answer changed"),
    "canned.retired": _("Canned answer retired"),
    "canned.restored": _("Canned answer brought back"),
    "callback.requested": _("Call back requested"),
    "callback.read": _("Call-back number shown"),
    "callback.done": _("Called back"),
    "callback.cancelled": _("Call back cancelled"),
    "exchange.recorded": _("Exchange recorded"),
    "exchange.changed": _("Exchange corrected"),
    "failure.retried": _("Failed message tried again"),
    "failure.discarded": _("Failed message discarded"),
    "operation.requested": _("Operation requested"),
    "operation.approved": _("Operation approved"),
    "phone.blocked": _("Number blocked"),
    "phone.unblocked": _("Number unblocked"),
    "phone.missed_seen": _("Missed calls seen"),
    "phone.popup": _("Caller card shown"),
    "staff.login": _("Signed in"),
    "staff.logout": _("Signed out"),
    "staff.second_factor": _("Second factor accepted"),
    "staff.second_factor_failed": _("Second factor refused"),
    "staff.totp_enrolled": _("Authenticator set up"),
    "staff.created": _("Account created"),
    "staff.enrolment_link_issued": _("Enrolment link issued"),
    "staff.enrolled": _("Enrolment completed"),
    "staff.role_changed": _("Role changed"),
    "staff.disabled": _("Account disabled"),
    "staff.enabled": _("Account enabled"),
    "staff.password_reset": _("Password reset"),
    "staff.totp_reset": _("Authenticator reset"),
    "staff.unlocked": _("Sign-in lock cleared"),
    "staff.shift_on": _("Shift started"),
    "staff.shift_off": _("Shift ended"),
    "staff.change_requested": _("Staff change requested"),
    "staff.change_approved": _("Staff change approved"),
    "staff.change_refused": _("Staff change refused"),
    "staff.change_cancelled": _("Staff change withdrawn"),
    "staff.change_direct": _("Staff change made directly"),
}

FIELD_LABELS: dict[str, Any] = {
    "full_name": _("Full name"),
    "birth_date": _("Date of birth"),
    "service_number": _("Service number"),
    "rank": _("Rank"),
    "unit": _("Unit"),
    "location": _("Where he is now"),
    "status": _("Status"),
    "note": _("Note"),
    "messages": _("Messages"),
    "codename": _("Code words"),
    "disposition": _("Disposition"),
    "assignee": _("Assigned to"),
    "role": _("Role"),
    "password": _("Password"),
    "meeting_point": _("Meeting point"),
    "meeting_time": _("Meeting time"),
    "signal": _("Signal"),
    "group_size": _("Group size"),
    "event.note": _("Notes"),
    "operation.meeting_point": _("Meeting point"),
    "operation.meeting_time": _("Meeting time"),
    "operation.signal": _("Signal"),
    "operation.outcome_note": _("Outcome note"),
    "date": _("Date"),
    "place": _("Place"),
    "released_by_ukraine": _("Released by Ukraine"),
    "released_by_russia": _("Released by Russia"),
    "language": _("Language"),
    "title": _("Title"),
    "text": _("Text"),
    "position": _("Order"),
    "active": _("In use"),
    "number": _("Phone number"),
    "safe_time": _("Safe time to call"),
    "media": _("Photo or voice message"),
}


def action_label(action: str) -> str:
    """The action in words; an action without words yet is shown as its code."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def field_labels(fields: object) -> str:
    names = fields if isinstance(fields, list) else []
    return ", ".join(str(FIELD_LABELS.get(str(name), str(name))) for name in names)
