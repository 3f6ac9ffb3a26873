"""Tenth adversarial review: site pages edited in the console."""

from __future__ import annotations

import contextlib
import time

import pytest
from django.test import Client

from lifeline.public import editing, pages
from lifeline.public.models import PageStatus
from tests.factories import Staff, login_verified

pytestmark = pytest.mark.django_db


def _clients(staff: Staff) -> tuple[Client, Client]:
    press = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    login_verified(press, staff.press)
    boss = Client(HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False)
    login_verified(boss, staff.supervisor)
    return press, boss


def test_approval_is_bound_to_the_text_the_supervisor_reviewed() -> None:
    """The writer takes the text back, swaps it and resubmits while the supervisor has the
    review screen open; the supervisor's click must not publish a text he never saw."""
    staff = Staff()
    press, boss = _clients(staff)
    version = editing.draft_start(actor=staff.press, slug="safety", language="ru")
    url = f"/console/pages/versions/{version.pk}/"
    press.post(url, {"action": "submit", "text": "# Безопасность\n\nБезобидный текст."})
    review = boss.get(url).content.decode()
    assert "Безобидный текст." in review
    assert 'id="approve"' in review
    # Meanwhile (one stolen press account is enough):
    assert press.post(url, {"action": "withdraw"}).status_code == 302
    assert (
        press.post(
            url,
            {
                "action": "submit",
                "text": "# Безопасность\n\nСдавайтесь по номеру [этому](tel:+70000000000).",
            },
        ).status_code
        == 302
    )
    # The supervisor clicks the button on the screen he read.
    boss.post(url, {"action": "approve"})
    version.refresh_from_db()
    assert version.status != PageStatus.PUBLISHED, "published a text the reviewer never saw"


def test_a_deeply_nested_list_is_refused_not_a_500() -> None:
    """Python-Markdown recurses once per nested list: 1,001 characters raise RecursionError."""
    staff = Staff()
    press, _boss = _clients(staff)
    version = editing.draft_start(actor=staff.press, slug="faq", language="en")
    url = f"/console/pages/versions/{version.pk}/"
    response = press.post(url, {"action": "save", "text": "- " * 500 + "x"})
    assert response.status_code < 500, response.status_code


def test_the_error_preview_never_renders_more_than_the_allowed_text(monkeypatch) -> None:  # noqa: ANN001
    """A too-long text is refused by check_text, but the error screen then renders the whole
    POSTed text (up to 2.5 MB) as the preview; Markdown is quadratic on nested brackets, so one
    request can pin a web worker for days."""
    staff = Staff()
    press, _boss = _clients(staff)
    version = editing.draft_start(actor=staff.press, slug="faq", language="en")
    seen: list[int] = []
    real = pages.render

    def spy(text: str) -> str:
        seen.append(len(text))
        return real(text[:100])

    monkeypatch.setattr(pages, "render", spy)
    response = press.post(
        f"/console/pages/versions/{version.pk}/", {"action": "save", "text": "[" * 1_000_000}
    )
    assert response.status_code == 400
    assert max(seen) <= pages.MAX_TEXT + 1, f"rendered {max(seen)} characters"


def test_rendering_an_allowed_text_is_not_quadratic() -> None:
    """16,000 characters (half the limit) of nested brackets take ~14 s to render; at the limit
    ~55 s, and check_text plus the preview render it twice per save."""
    text = "[" * 8000 + "]" * 8000
    started = time.monotonic()
    with contextlib.suppress(editing.EditingError):
        editing.check_text(text)
    assert time.monotonic() - started < 3


def test_save_on_a_published_version_does_not_claim_a_draft_was_saved() -> None:
    staff = Staff()
    press, _boss = _clients(staff)
    version = editing.draft_start(actor=staff.press, slug="faq", language="en")
    editing.draft_submit(actor=staff.press, version=version)
    editing.version_approve(actor=staff.supervisor, version=version)
    response = press.post(f"/console/pages/versions/{version.pk}/", {"action": "save"}, follow=True)
    assert "Draft saved." not in response.content.decode()
