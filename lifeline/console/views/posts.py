"""Posts to the public Telegram channels: the press office proposes, a supervisor who did not
write a post approves it, the worker sends it; edits and deletions reach the channel the same
way. The page shows each post's sends and its history (who did what, when)."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from lifeline.audit.models import AuditEntry
from lifeline.channels import broadcast
from lifeline.channels.models import ChannelPost, OutboundStatus, PostStatus, ProposalState
from lifeline.core.channels import Language
from lifeline.core.models import Role, User

from ..decorators import role_required
from ..forms import ChannelPostForm

#: What the history and the sends say, in the reader's language (codes stay in the database).
HISTORY = {
    "post.drafted": gettext_lazy("drafted"),
    "post.changed": gettext_lazy("changed"),
    "post.submitted": gettext_lazy("sent for approval"),
    "post.withdrawn": gettext_lazy("taken back"),
    "post.edit_started": gettext_lazy("started a change"),
    "post.discarded": gettext_lazy("discarded the proposal"),
    "post.sent_back": gettext_lazy("sent back"),
    "post.approved": gettext_lazy("approved"),
    "post.deleted": gettext_lazy("deleted"),
    "post.retried": gettext_lazy("tried the failed sends again"),
}
ERRORS = {
    "cancelled": gettext_lazy("cancelled"),
    "superseded": gettext_lazy("replaced by a newer send"),
    "never sent": gettext_lazy("nothing to change: the message was never sent"),
    "no text": gettext_lazy("no text in this language"),
    "429 retry_after": gettext_lazy("Telegram asked to wait; will try again"),
    "forbidden (is the bot an admin of the channel?)": gettext_lazy(
        "refused: is the bot an admin of the channel?"
    ),
}


def _form_texts(post: ChannelPost) -> dict[str, str]:
    source = post.proposed if post.proposal else post.texts
    return {f"text_{lang}": str((source or {}).get(lang, "")) for lang in Language.values}


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def post_list(request: HttpRequest, actor: User) -> HttpResponse:
    form = ChannelPostForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            post = broadcast.post_create(
                actor=actor,
                texts=form.texts(),
                image=form.image_bytes(settings.LIFELINE_MEDIA_MAX_BYTES),
                publish_at=form.cleaned_data.get("publish_at"),
            )
        except ValueError as error:  # PostError or a too-large picture
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Draft saved."))
            return redirect("console:post_detail", post_id=post.pk)
    posts = ChannelPost.objects.select_related("created_by", "approved_by")[:100]
    return render(
        request,
        "console/posts/post_list.html",
        {
            "form": form,
            "posts": posts,
            "channels": sorted(broadcast.targets().items()),
            "failing": ChannelPost.objects.filter(deliveries__status=OutboundStatus.FAILED)
            .distinct()
            .count(),
        },
        status=400 if form.is_bound else 200,
    )


DONE = {
    "save": gettext_lazy("Draft saved."),
    "submit": gettext_lazy("Sent to a supervisor for approval."),
    "withdraw": gettext_lazy("Taken back: it is a draft again."),
    "edit": gettext_lazy("You can change the texts now; the channel changes after approval."),
    "discard": gettext_lazy("Proposal discarded."),
    "approve": gettext_lazy("Approved: the post goes to the channel at its time."),
    "send_back": gettext_lazy("Sent back to its writers."),
    "delete": gettext_lazy("Deleted: it is being taken off the channels."),
    "retry": gettext_lazy("The failed sends will be tried again."),
}


def _post(post_id: UUID) -> ChannelPost:
    post = (
        ChannelPost.objects.select_related("created_by", "approved_by").filter(pk=post_id).first()
    )
    if post is None:
        raise Http404
    return post


def _act(request: HttpRequest, actor: User, post: ChannelPost, form: ChannelPostForm) -> str | None:
    """Runs the POSTed action; returns an error message or None."""
    action = request.POST.get("action", "")
    simple = {
        "submit": broadcast.post_submit,
        "withdraw": broadcast.post_withdraw,
        "edit": broadcast.post_propose_edit,
        "discard": broadcast.post_discard,
        "delete": broadcast.post_delete,
        "retry": broadcast.post_retry,
    }
    # The digest of what the reviewer's page showed; a form without one saw nothing.
    seen = str(request.POST.get("seen", ""))
    try:
        if action == "save" and "text_ru" not in request.POST:
            return _("Choose what to do.")
        if action == "approve":
            broadcast.post_approve(actor=actor, post=post, seen=seen)
            return None
        if action in ("save", "submit") and "text_ru" in request.POST:
            if not form.is_valid():
                return _("Check the fields below.")
            broadcast.post_save(
                actor=actor,
                post=post,
                texts=form.texts(),
                image=form.image_bytes(settings.LIFELINE_MEDIA_MAX_BYTES),
                remove_image=bool(form.cleaned_data.get("remove_image")),
                publish_at=form.cleaned_data.get("publish_at")
                if post.status == PostStatus.DRAFT
                else post.publish_at,
            )
        if action == "send_back":
            broadcast.post_send_back(
                actor=actor, post=post, note=request.POST.get("note", ""), seen=seen
            )
        elif action in simple:
            simple[action](actor=actor, post=post)
        elif action != "save":
            return _("Choose what to do.")
    except ValueError as error:  # PostError or a too-large picture
        return str(error)
    return None


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def post_detail(request: HttpRequest, actor: User, post_id: UUID) -> HttpResponse:
    post = _post(post_id)
    initial = {**_form_texts(post), "publish_at": post.publish_at}
    form = ChannelPostForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        initial=initial,
    )
    error = None
    if request.method == "POST":
        error = _act(request, actor, post, form)
        if error is None:
            messages.success(request, DONE[request.POST["action"]])
            return redirect("console:post_detail", post_id=post.pk)
        post = _post(post_id)
    history = [
        (entry, HISTORY.get(entry.action, entry.action))
        for entry in AuditEntry.objects.filter(object_type="channel_post", object_id=str(post.pk))
        .select_related("actor")
        .order_by("seq")
    ]
    deliveries = [(d, ERRORS.get(d.error, d.error)) for d in post.deliveries.all()]
    return render(
        request,
        "console/posts/post_detail.html",
        {
            "post": post,
            "form": form,
            "error": error,
            "texts": sorted((post.texts or {}).items()),
            "proposed": sorted((post.proposed or {}).items()) if post.proposal else [],
            "deliveries": deliveries,
            "history": history,
            "seen": broadcast.digest(post),
            "channels": broadcast.targets(),
            "can_edit": post.proposal == ProposalState.EDITING,
            "can_propose": post.proposal == ProposalState.NONE
            and post.status in (PostStatus.SCHEDULED, PostStatus.PUBLISHED),
            "can_review": post.proposal == ProposalState.SUBMITTED
            and actor.role == Role.SUPERVISOR
            and actor.pk not in post.editors,
            "is_supervisor": actor.role == Role.SUPERVISOR,
            "has_failed": any(d.status == OutboundStatus.FAILED for d, _error in deliveries),
            "note_max": broadcast.NOTE_MAX,
        },
        status=400 if error else 200,
    )


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_GET
def post_image(request: HttpRequest, actor: User, post_id: UUID) -> HttpResponse:
    post = _post(post_id)
    if post.image is None:
        raise Http404
    response = HttpResponse(post.image, content_type="image/jpeg")
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    return response
