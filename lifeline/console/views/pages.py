"""The site's pages in the console: the press office writes drafts, a supervisor who did not
write them approves or sends them back, and every version stays with who did what and when."""

from __future__ import annotations

import difflib

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from lifeline.core.channels import Language
from lifeline.core.models import Role, User
from lifeline.core.parsing import object_id
from lifeline.public import editing, pages
from lifeline.public.models import PageStatus, PageVersion

from ..decorators import role_required


def _row(slug: str, language: str, versions: list[PageVersion]) -> dict[str, object]:
    mine = [v for v in versions if v.slug == slug and v.language == language]
    return {
        "slug": slug,
        "language": language,
        "published": next((v for v in mine if v.status == PageStatus.PUBLISHED), None),
        "open": next((v for v in mine if v.status in PageStatus.open()), None),
    }


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_http_methods(["GET"])
def page_list(request: HttpRequest, actor: User) -> HttpResponse:
    versions = list(
        PageVersion.objects.filter(
            status__in=[PageStatus.PUBLISHED, *PageStatus.open()]
        ).select_related("author")
    )
    rows = [
        {"slug": slug, "label": label, "cells": [_row(slug, lang, versions) for lang in Language]}
        for slug, label in pages.PAGES.items()
    ]
    waiting = [v for v in versions if v.status == PageStatus.SUBMITTED]
    return render(
        request,
        "console/pages/page_list.html",
        {"rows": rows, "language_names": Language.choices, "waiting": waiting},
    )


def _known(slug: str, language: str) -> None:
    if slug not in pages.PAGES or language not in Language.values:
        raise Http404


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def page_history(request: HttpRequest, actor: User, slug: str, language: str) -> HttpResponse:
    _known(slug, language)
    if request.method == "POST":
        source = None
        if request.POST.get("from"):
            number = object_id(request.POST["from"])
            source = (
                PageVersion.objects.filter(pk=number, slug=slug, language=language).first()
                if number is not None
                else None
            )
            if source is None:
                raise Http404
        try:
            version = editing.draft_start(
                actor=actor, slug=slug, language=language, from_version=source
            )
        except editing.EditingError as error:
            messages.error(request, str(error))
            return redirect("console:page_history", slug=slug, language=language)
        return redirect("console:page_version", version_id=version.pk)
    versions = PageVersion.objects.filter(slug=slug, language=language).select_related(
        "author", "reviewed_by"
    )
    return render(
        request,
        "console/pages/page_history.html",
        {
            "slug": slug,
            "language": language,
            "label": pages.PAGES[slug],
            "language_label": Language(language).label,
            "versions": versions,
            "open": editing.open_version(slug, language),
            "shipped": not any(v.status == PageStatus.PUBLISHED for v in versions),
        },
    )


def _diff(before: str, after: str) -> list[tuple[str, str]]:
    """Lines of a unified diff with their kind, for the reviewer."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm="", n=2, fromfile="", tofile=""
    )
    out = []
    for line in list(lines)[2:]:
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx"
        out.append((kind, line))
    return out


def _act(request: HttpRequest, actor: User, version: PageVersion) -> tuple[str, str | None]:
    """Runs the POSTed action; returns (the text to show in the editor, an error or None)."""
    action = request.POST.get("action", "")
    text = request.POST.get("text", version.text)
    # The digest of the text the reviewer's page showed; a form without one saw nothing.
    seen = str(request.POST.get("seen", ""))
    steps = {
        "submit": lambda: editing.draft_submit(actor=actor, version=version),
        "withdraw": lambda: editing.draft_withdraw(actor=actor, version=version),
        "discard": lambda: editing.draft_discard(actor=actor, version=version),
        "approve": lambda: editing.version_approve(actor=actor, version=version, seen=seen),
        "send_back": lambda: editing.version_send_back(
            actor=actor, version=version, note=request.POST.get("note", ""), seen=seen
        ),
    }
    try:
        if action in ("save", "submit") and "text" in request.POST:
            editing.draft_save(actor=actor, version=version, text=text)
        elif action == "save":
            return text, _("Choose what to do.")
        if action in steps:
            steps[action]()
        elif action != "save":
            return text, _("Choose what to do.")
    except editing.EditingError as error:
        return (text if isinstance(text, str) else "")[: pages.MAX_TEXT + 1], str(error)
    return "", None


DONE = {
    "save": gettext_lazy("Draft saved."),
    "submit": gettext_lazy("Sent to a supervisor for approval."),
    "withdraw": gettext_lazy("Taken back: it is a draft again."),
    "discard": gettext_lazy("Draft discarded."),
    "approve": gettext_lazy("Published: the site shows it now."),
    "send_back": gettext_lazy("Sent back to its writers."),
}


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def page_version(request: HttpRequest, actor: User, version_id: int) -> HttpResponse:
    version = (
        PageVersion.objects.select_related("author", "reviewed_by").filter(pk=version_id).first()
    )
    if version is None:
        raise Http404
    error = None
    text = version.text
    if request.method == "POST":
        text, error = _act(request, actor, version)
        if error is None:
            messages.success(request, DONE[request.POST["action"]])
            return redirect("console:page_version", version_id=version.pk)
        version.refresh_from_db()
    current = pages.current_text(version.slug, version.language) or ""
    return render(
        request,
        "console/pages/page_version.html",
        {
            "version": version,
            "label": pages.PAGES.get(version.slug, version.slug),
            "text": text,
            "error": error,
            # Sanitised by the site's own renderer: what the visitor will see, and nothing more.
            # (The stored text, which passed the checks; after a refused save the editor keeps
            # what was typed, but it is never rendered.)
            "preview": mark_safe(pages.render(version.text)),  # noqa: S308
            "seen": pages.digest(version.text),
            "diff": _diff(current, version.text) if version.status in PageStatus.open() else [],
            "can_edit": version.status == PageStatus.DRAFT,
            "can_review": version.status == PageStatus.SUBMITTED
            and actor.role == Role.SUPERVISOR
            and actor.pk not in version.editors,
            "wrote_it": actor.pk in version.editors,
            "note_max": editing.NOTE_MAX,
            "text_max": pages.MAX_TEXT,
        },
        status=400 if error else 200,
    )
