"""The information pages: every page in three languages, rendered from Markdown and sanitised
so that no text — whoever wrote it — can run a script or reference another host."""

from __future__ import annotations

import pytest
from django.test import Client

from lifeline.public import pages
from lifeline.stats.models import PageVisit
from tests.public.test_site import parse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
@pytest.mark.parametrize("slug", sorted(pages.PAGES))
def test_every_page_exists_in_each_language_with_the_quick_exit(slug: str, language: str) -> None:
    assert (pages.CONTENT / f"{slug}.{language}.md").exists()
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/p/{slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    links = parse(html)
    assert "quick-exit" in links.ids
    assert "<h1>" in html
    for url in links.resources:
        assert url == "data:," or (url.startswith("/") and not url.startswith("//")), url
    for url in links.anchors:
        assert url.startswith(("/", "#", "tel:", "https://t.me/")), url
        assert not url.startswith("//"), url


def test_the_menu_links_every_page_and_an_unknown_page_is_404() -> None:
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    for slug in pages.PAGES:
        assert f'href="/p/{slug}/"' in html
    assert Client().get("/p/nope/").status_code == 404
    assert Client().get("/p/../../settings/").status_code == 404


def test_a_page_view_is_counted_by_its_page() -> None:
    Client(HTTP_ACCEPT_LANGUAGE="uk").get("/p/safety/")
    assert PageVisit.objects.get(page="safety").language == "uk"


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("[x](javascript:alert(1))", "javascript:"),
        ("[x](https://evil.example/phish)", "evil.example"),
        ("[x](//evil.example/)", "evil.example"),
        ('<a href="/\\evil.example/">x</a>', "evil.example"),
        ("![pixel](https://tracker.example/p.gif)", "tracker.example"),
        ('<img src="https://tracker.example/p.gif">', "tracker.example"),
        ('<a href="/chat/" onclick="steal()">x</a>', "onclick"),
        ("<iframe src=/chat/></iframe>", "<iframe"),
        ('<p style="background:url(https://t.example/)">x</p>', "t.example"),
        ("<!-- note -->text", "note"),
    ],
)
def test_markdown_is_sanitised(markdown: str, forbidden: str) -> None:
    assert forbidden not in pages.render(markdown)


def test_markdown_keeps_structure_and_safe_links() -> None:
    html = pages.render("# Title\n\n**bold** [chat](/chat/) [call](tel:+380660000001)\n\n- a\n- b")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="/chat/"' in html
    assert 'href="tel:+380660000001"' in html
    assert "<li>a</li>" in html
