"""The site's information pages: Markdown per page and language, rendered by Python-Markdown
and sanitised by nh3 (Ammonia). Only plain text structure survives — no script, style, image,
frame or attribute but a link's ``href``, and links only within this site or to ``tel:`` — so
a page can never reference another host or run anything, whoever wrote it.

The texts ship in ``content/<page>.<language>.md`` (the demo content); the press office's
editing in the console (drafts, approval, versions) is the next part of issue 11."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import markdown
import nh3
from django.utils.translation import gettext_lazy as _

CONTENT = Path(__file__).resolve().parent / "content"

#: The pages, in the order of the site's menu, with their menu labels.
PAGES: dict[str, object] = {
    "how": _("How it works"),
    "guarantees": _("Guarantees"),
    "front": _("At the front"),
    "relatives": _("For relatives"),
    "safety": _("Safety"),
    "faq": _("Questions"),
    "testimonies": _("Testimonies"),
    "contacts": _("Contacts"),
}

ALLOWED_TAGS = {
    "h1", "h2", "h3", "p", "ul", "ol", "li", "strong", "em", "a", "code", "blockquote", "br", "hr",
}  # fmt: skip


@dataclass(frozen=True)
class Page:
    slug: str
    language: str
    title: str
    html: str


def render(text: str) -> str:
    """Markdown to safe HTML (see the module docstring)."""
    html = markdown.markdown(text, output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"tel"},  # plus relative links; any http(s) link loses its href
        link_rel="noreferrer",
        strip_comments=True,
        attribute_filter=_same_host,
    )


#: The only links a page may carry: a path on this site (not "//host", not "/\\host"), an
#: anchor, or a phone number. Anything else loses its href.
_SAFE_HREF = re.compile(r"(/(?![/\\])[^\x00-\x20\\\x7f]*|#[\w-]*|tel:\+?[0-9]{3,20})")


def _same_host(tag: str, attribute: str, value: str) -> str | None:
    """Browsers strip tabs, newlines and leading control characters from a URL and read a
    backslash as a slash, so "/&#9;/evil.example" would leave this host: only hrefs of the
    allowed shapes survive, checked on the value as the browser will read it."""
    if attribute != "href":
        return value
    return value if _SAFE_HREF.fullmatch(value) else None


@lru_cache(maxsize=64)
def _load(slug: str, language: str, mtime: float) -> Page:
    text = (CONTENT / f"{slug}.{language}.md").read_text(encoding="utf-8")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    title = first.lstrip("#").strip() if first.startswith("#") else str(PAGES[slug])
    return Page(slug, language, title, render(text))


def page(slug: str, language: str) -> Page | None:
    """The page in ``language`` (Russian if it has no such translation); None if unknown."""
    if slug not in PAGES:
        return None
    for lang in (language, "ru"):
        path = CONTENT / f"{slug}.{lang}.md"
        if path.exists():
            return _load(slug, lang, path.stat().st_mtime)
    return None
