"""The press office edits the site's pages: draft → preview → submitted → approved by another
supervisor → the site shows it; versions keep who and when; every step is audited; links and
markup that could reach another host never survive; bad input gets its reason, never a 5xx."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from lifeline.audit.models import AuditEntry
from lifeline.public import editing, pages
from lifeline.public.models import PageStatus, PageVersion
from tests.factories import Staff, create_user, login_verified

pytestmark = pytest.mark.django_db


def _publish(staff: Staff, slug: str, language: str, text: str) -> PageVersion:
    version = editing.draft_start(actor=staff.press, slug=slug, language=language)
    editing.draft_save(actor=staff.press, version=version, text=text)
    editing.draft_submit(actor=staff.press, version=version)
    return editing.version_approve(actor=staff.supervisor, version=version)


def test_the_site_shows_the_shipped_text_until_a_version_is_approved(client: Client) -> None:
    staff = Staff()

    def main() -> str:
        body = client.get("/p/faq/", HTTP_ACCEPT_LANGUAGE="uk").content.decode()
        return body.split("<main", 1)[1]

    shipped = main()
    version = editing.draft_start(actor=staff.press, slug="faq", language="uk")
    assert version.text == pages.shipped_text("faq", "uk")  # the draft starts from it
    editing.draft_save(actor=staff.press, version=version, text="# Питання\n\nНовий **текст**.")
    editing.draft_submit(actor=staff.press, version=version)
    # Written and submitted, not approved: the visitor still reads the shipped page.
    assert main() == shipped
    editing.version_approve(actor=staff.supervisor, version=version)
    body = client.get("/p/faq/", HTTP_ACCEPT_LANGUAGE="uk").content.decode()
    assert "Новий <strong>текст</strong>." in body
    assert "<title>Питання" in body
    # The other languages are untouched.
    assert "Новий" not in client.get("/p/faq/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_versions_keep_who_and_when_and_a_new_one_replaces_the_old() -> None:
    staff = Staff()
    first = _publish(staff, "safety", "en", "# Safety\n\nOne.")
    second = _publish(staff, "safety", "en", "# Safety\n\nTwo.")
    first.refresh_from_db()
    assert (first.number, first.status) == (1, PageStatus.SUPERSEDED)
    assert (second.number, second.status) == (2, PageStatus.PUBLISHED)
    assert second.author == staff.press
    assert second.reviewed_by == staff.supervisor
    assert second.published_at is not None
    assert second.submitted_at is not None
    assert pages.current_text("safety", "en") == "# Safety\n\nTwo.\n"
    # Going back: a draft from version 1, approved like any other.
    back = editing.draft_start(actor=staff.press, slug="safety", language="en", from_version=first)
    assert back.number == 3
    assert back.text == first.text
    actions = list(
        AuditEntry.objects.filter(object_type="page")
        .order_by("seq")
        .values_list("action", "object_id")
    )
    assert actions[:4] == [
        ("page.draft_started", "safety.en.v1"),
        ("page.draft_changed", "safety.en.v1"),
        ("page.submitted", "safety.en.v1"),
        ("page.published", "safety.en.v1"),
    ]
    assert actions[-1] == ("page.draft_started", "safety.en.v3")


def test_four_eyes_and_roles() -> None:
    staff = Staff()
    version = editing.draft_start(actor=staff.supervisor, slug="how", language="ru")
    editing.draft_save(actor=staff.supervisor, version=version, text="# Как\n\nТекст.")
    editing.draft_submit(actor=staff.supervisor, version=version)
    with pytest.raises(editing.EditingError):  # a supervisor cannot approve her own text
        editing.version_approve(actor=staff.supervisor, version=version)
    with pytest.raises(PermissionDenied):
        editing.version_approve(actor=staff.press, version=version)
    for role in ("operator", "verifier", "liaison", "admin"):
        with pytest.raises(PermissionDenied):
            editing.draft_start(actor=create_user(role), slug="how", language="en")
    # Sent back with a reason, changed, approved by a supervisor who did not write it.
    other = create_user("supervisor")
    with pytest.raises(editing.EditingError):
        editing.version_send_back(actor=other, version=version, note="  ")
    editing.version_send_back(actor=other, version=version, note="Fix the title")
    version.refresh_from_db()
    assert version.status == PageStatus.DRAFT
    assert version.review_note == "Fix the title"
    editing.draft_save(actor=staff.press, version=version, text="# Как это работает\n\nТекст.")
    editing.draft_submit(actor=staff.press, version=version)
    editing.version_approve(actor=other, version=version)
    assert pages.page("how", "ru").title == "Как это работает"  # type: ignore[union-attr]


def test_one_open_draft_per_page_which_the_team_continues() -> None:
    staff = Staff()
    mine = editing.draft_start(actor=staff.press, slug="front", language="ru")
    theirs = editing.draft_start(actor=staff.supervisor, slug="front", language="ru")
    assert mine.pk == theirs.pk
    editing.draft_save(actor=staff.supervisor, version=theirs, text="# Фронт\n\nИзменено.")
    editing.draft_submit(actor=staff.press, version=mine)
    with pytest.raises(editing.EditingError):  # she changed it: another supervisor approves
        editing.version_approve(actor=staff.supervisor, version=mine)


@pytest.mark.parametrize(
    "text",
    [
        "[x](https://evil.example/)",
        "[x](//evil.example/)",
        "[x](javascript:alert(1))",
        "<img src=https://evil.example/p.gif>",
        "<script>alert(1)</script>",
        '<a href="/&#9;/evil.example">x</a>',
        "<iframe src=//evil.example></iframe>",
        "<style>body{background:url(https://evil.example/)}</style>",
    ],
)
def test_nothing_written_in_the_console_reaches_another_host(client: Client, text: str) -> None:
    _publish(Staff(), "contacts", "ru", f"# Контакты\n\n{text}\n")
    body = client.get("/p/contacts/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "evil.example" not in body.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<script>alert" not in body
    assert "javascript:" not in body


def test_bad_texts_are_refused_with_a_reason() -> None:
    staff = Staff()
    version = editing.draft_start(actor=staff.press, slug="faq", language="en")
    for bad in ("", " \x00 ", "x" * (pages.MAX_TEXT + 1)):
        with pytest.raises(editing.EditingError):
            editing.draft_save(actor=staff.press, version=version, text=bad)
    with pytest.raises(editing.EditingError):  # too heavy once rendered
        editing.draft_save(
            actor=staff.press, version=version, text="[a](/p/faq/) " * (pages.MAX_TEXT // 13)
        )
    with pytest.raises(editing.EditingError):
        editing.draft_start(actor=staff.press, slug="nope", language="en")
    with pytest.raises(editing.EditingError):
        editing.draft_start(actor=staff.press, slug="faq", language="de")


def test_the_console_screens_edit_preview_submit_and_approve(client: Client) -> None:
    staff = Staff()
    press = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(press, staff.press)
    response = press.post("/console/pages/guarantees/en/")
    version = PageVersion.objects.get(slug="guarantees", language="en")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{version.pk}/")
    url = f"/console/pages/versions/{version.pk}/"
    response = press.post(url, {"action": "save", "text": "# Guarantees\n\n**New** words."})
    assert response.status_code == 302
    page = press.get(url).content.decode()
    assert "<strong>New</strong> words." in page  # the preview, rendered as the site will
    assert 'class="diff-add"' in page
    # A bad text keeps what was typed and says why.
    response = press.post(url, {"action": "save", "text": ""})
    assert response.status_code == 400
    assert "needs a text" in response.content.decode()
    press.post(url, {"action": "submit", "text": "# Guarantees\n\n**New** words."})
    boss = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(boss, staff.supervisor)
    review = boss.get(url).content.decode()
    assert 'id="approve"' in review
    assert 'id="approve"' not in press.get(url).content.decode()
    match = re.search(r'name="seen" value="([0-9a-f]+)"', review)
    assert match is not None
    assert press.post(url, {"action": "approve", "seen": match.group(1)}).status_code == 403
    # An approval must name the text its page showed.
    assert boss.post(url, {"action": "approve"}).status_code == 400
    assert boss.post(url, {"action": "approve", "seen": match.group(1)}).status_code == 302
    assert (
        "<strong>New</strong> words."
        in client.get("/p/guarantees/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    listing = boss.get("/console/pages/").content.decode()
    assert re.search(rf'href="/console/pages/guarantees/en/">[^<]* {version.number}<', listing)


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("post", "/console/pages/faq/ru/", {"from": "99999999999999999999"}),
        ("post", "/console/pages/faq/ru/", {"from": "\x00"}),
        ("get", "/console/pages/faq/xx/", {}),
        ("get", "/console/pages/nope/ru/", {}),
        ("get", "/console/pages/versions/99999999999999999999/", {}),
        ("get", "/console/pages/versions/0/", {}),
    ],
)
def test_crafted_requests_get_a_4xx(method: str, url: str, data: dict[str, str]) -> None:
    client = Client()
    login_verified(client, Staff().press)
    response = getattr(client, method)(url, data)
    assert 400 <= response.status_code < 500, response.status_code


def test_crafted_actions_on_a_version_get_a_4xx() -> None:
    staff = Staff()
    version = editing.draft_start(actor=staff.press, slug="faq", language="ru")
    client = Client()
    login_verified(client, staff.press)
    url = f"/console/pages/versions/{version.pk}/"
    for data in (
        {"action": "save", "text": ["a", "b"]},
        {"action": "\x00"},
        {"action": "approve"},
        {"action": "send_back", "note": "x" * 10000},
        {"action": "withdraw"},
    ):
        response = client.post(url, data)
        assert 400 <= response.status_code < 500 or response.status_code == 302, (data, response)


def test_a_sockpuppet_supervisor_cannot_approve_its_sponsors_page_or_post() -> None:
    """A supervisor who asked for another supervisor's account (and so held its enrolment link)
    must not publish through it: the four-eyes rule follows staff sponsorship."""
    from lifeline.channels import broadcast
    from tests.console.test_staff_changes import requested_account

    staff = Staff()
    puppet = requested_account(staff.supervisor, staff.supervisor2, "bee", "supervisor")
    version = editing.draft_start(actor=staff.supervisor, slug="faq", language="ru")
    editing.draft_save(actor=staff.supervisor, version=version, text="# Вопросы\n\nНовое.")
    editing.draft_submit(actor=staff.supervisor, version=version)
    with pytest.raises(editing.EditingError):
        editing.version_approve(actor=puppet, version=version)
    post = broadcast.post_create(actor=puppet, texts={"ru": "Пост"})
    broadcast.post_submit(actor=puppet, post=post)
    with pytest.raises(broadcast.PostError):
        broadcast.post_approve(actor=staff.supervisor, post=post)
    # The supervisor who only approved the account is independent of both.
    editing.version_approve(actor=staff.supervisor2, version=version)
    broadcast.post_approve(actor=staff.supervisor2, post=post)
