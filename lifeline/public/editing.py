"""The press office's changes to the site's pages: draft → submitted → published, every step
audited with who and when.

* Press officers and supervisors write drafts (one open version per page and language, which
  any of them may continue); the Markdown is checked by rendering it as the site will.
* A supervisor who did not change the draft approves it (four eyes) and it replaces the
  published version at once, or sends it back with a reason.
* Going back to an earlier text is a new draft from that version, approved like any other.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.channels import Language
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text
from lifeline.core.staff import staff_linked_to_any

from . import pages
from .models import PageStatus, PageVersion

WRITER_ROLES = frozenset({Role.PRESS, Role.SUPERVISOR})
NOTE_MAX = 500


class EditingError(ValueError):
    """A step that cannot be taken now; the message says why, in the user's language."""


def _writer(actor: User) -> None:
    if not (actor.is_active and actor.role in WRITER_ROLES):
        raise PermissionDenied


def _reviewer(actor: User, version: PageVersion) -> None:
    if not (actor.is_active and actor.role == Role.SUPERVISOR):
        raise PermissionDenied
    if staff_linked_to_any(actor, version.editors):
        # Nor by an account he controls or that controls his (staff sponsorship).
        raise EditingError(_("Another supervisor must approve a text you wrote or changed."))


def _known(slug: str, language: str) -> None:
    if slug not in pages.PAGES or language not in Language.values:
        raise EditingError(_("There is no such page."))


def _audit(actor: User, action: str, version: PageVersion, fields: list[str] | None = None) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="page",
        object_id=f"{version.slug}.{version.language}.v{version.number}",
        fields=fields or [],
    )


def _locked(version: PageVersion) -> PageVersion:
    return PageVersion.objects.select_for_update().get(pk=version.pk)


def check_text(text: object) -> str:
    """The Markdown as it will be stored, or EditingError saying what is wrong with it."""
    cleaned = clean_text(text or "", max_length=pages.MAX_TEXT + 1).replace("\r\n", "\n").strip()
    if not cleaned:
        raise EditingError(_("The page needs a text."))
    if len(cleaned) > pages.MAX_TEXT:
        raise EditingError(
            _("The text is too long: at most %(max)d characters.") % {"max": pages.MAX_TEXT}
        )
    if pages.too_complex(cleaned):
        raise EditingError(
            _(
                "The text has too many links or brackets (at most %(links)d) or lists nested too"
                " deep (at most %(depth)d levels)."
            )
            % {"links": pages.MAX_BRACKETS, "depth": pages.MAX_NESTING}
        )
    try:
        html = pages.render(cleaned)
    except RecursionError:
        raise EditingError(_("The text is nested too deeply to show.")) from None
    if len(html.encode("utf-8")) > pages.MAX_HTML_BYTES:
        raise EditingError(_("The page would be too heavy for a slow connection: shorten it."))
    return cleaned + "\n"


def open_version(slug: str, language: str) -> PageVersion | None:
    return PageVersion.objects.filter(
        slug=slug, language=language, status__in=PageStatus.open()
    ).first()


@transaction.atomic
def draft_start(
    *, actor: User, slug: str, language: str, from_version: PageVersion | None = None
) -> PageVersion:
    """The open draft of this page (started from what the site shows, or from an earlier
    version's text); the one already open if someone started it."""
    _writer(actor)
    _known(slug, language)
    found = open_version(slug, language)
    if found is not None:
        return found
    if from_version is not None and (from_version.slug, from_version.language) != (slug, language):
        raise EditingError(_("That version belongs to another page."))
    text = from_version.text if from_version is not None else pages.current_text(slug, language)
    last = PageVersion.objects.filter(slug=slug, language=language).aggregate(n=Max("number"))["n"]
    try:
        with transaction.atomic():
            version = PageVersion.objects.create(
                slug=slug,
                language=language,
                number=(last or 0) + 1,
                text=text or f"# {pages.PAGES[slug]}\n",
                author=actor,
                editors=[actor.pk],
            )
    except IntegrityError:  # someone started one at the same moment: continue theirs
        found = open_version(slug, language)
        if found is None:
            raise
        return found
    _audit(actor, "page.draft_started", version)
    return version


@transaction.atomic
def draft_save(*, actor: User, version: PageVersion, text: object) -> PageVersion:
    _writer(actor)
    version = _locked(version)
    if version.status != PageStatus.DRAFT:
        raise EditingError(_("This version can no longer be changed."))
    cleaned = check_text(text)
    if cleaned == version.text:
        return version
    version.text = cleaned
    if actor.pk not in version.editors:
        version.editors = [*version.editors, actor.pk]
    version.save(update_fields=["text", "editors", "updated_at"])
    _audit(actor, "page.draft_changed", version, ["text"])
    return version


@transaction.atomic
def draft_submit(*, actor: User, version: PageVersion) -> PageVersion:
    _writer(actor)
    version = _locked(version)
    if version.status != PageStatus.DRAFT:
        raise EditingError(_("Only a draft can be sent for approval."))
    check_text(version.text)
    version.status = PageStatus.SUBMITTED
    version.submitted_at = timezone.now()
    version.review_note = ""
    version.save(update_fields=["status", "submitted_at", "review_note", "updated_at"])
    _audit(actor, "page.submitted", version)
    return version


@transaction.atomic
def draft_withdraw(*, actor: User, version: PageVersion) -> PageVersion:
    """Back to a draft before anyone approved it (to fix a mistake)."""
    _writer(actor)
    version = _locked(version)
    if version.status != PageStatus.SUBMITTED:
        raise EditingError(_("Only a text waiting for approval can be taken back."))
    version.status = PageStatus.DRAFT
    version.save(update_fields=["status", "updated_at"])
    _audit(actor, "page.withdrawn", version)
    return version


@transaction.atomic
def draft_discard(*, actor: User, version: PageVersion) -> PageVersion:
    _writer(actor)
    version = _locked(version)
    if version.status not in PageStatus.open():
        raise EditingError(_("Only an open draft can be discarded."))
    version.status = PageStatus.DISCARDED
    version.save(update_fields=["status", "updated_at"])
    _audit(actor, "page.discarded", version)
    return version


def _seen(version: PageVersion, seen: str | None) -> None:
    """The reviewer decides on the text he read: if it changed since (taken back, changed and
    sent again while his page was open), he must read it again."""
    if seen is not None and seen != pages.digest(version.text):
        raise EditingError(_("The text changed while you were reading it: read it again."))


@transaction.atomic
def version_approve(*, actor: User, version: PageVersion, seen: str | None = None) -> PageVersion:
    """Publish: the site shows this text from the next request on. ``seen``: the digest of
    the text the reviewer read (the console always sends it)."""
    version = _locked(version)
    _reviewer(actor, version)
    _seen(version, seen)
    if version.status != PageStatus.SUBMITTED:
        raise EditingError(_("Only a text waiting for approval can be published."))
    now = timezone.now()
    PageVersion.objects.select_for_update().filter(
        slug=version.slug, language=version.language, status=PageStatus.PUBLISHED
    ).update(status=PageStatus.SUPERSEDED, updated_at=now)
    version.status = PageStatus.PUBLISHED
    version.reviewed_by = actor
    version.reviewed_at = version.published_at = now
    version.save(
        update_fields=["status", "reviewed_by", "reviewed_at", "published_at", "updated_at"]
    )
    _audit(actor, "page.published", version)
    return version


@transaction.atomic
def version_send_back(
    *, actor: User, version: PageVersion, note: object, seen: str | None = None
) -> PageVersion:
    version = _locked(version)
    _reviewer(actor, version)
    _seen(version, seen)
    if version.status != PageStatus.SUBMITTED:
        raise EditingError(_("Only a text waiting for approval can be sent back."))
    reason = " ".join(clean_text(note or "", max_length=NOTE_MAX).split())
    if not reason:
        raise EditingError(_("Say what should change."))
    version.status = PageStatus.DRAFT
    version.reviewed_by = actor
    version.reviewed_at = timezone.now()
    version.review_note = reason
    version.save(
        update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "updated_at"]
    )
    _audit(actor, "page.sent_back", version, ["review_note"])
    return version
