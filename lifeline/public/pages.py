"""The site's information pages: Markdown per page and language, rendered by Python-Markdown
and sanitised by nh3 (Ammonia). Only plain text structure survives — no script, style, image,
frame or attribute but a link's ``href``, and links only within this site or to ``tel:`` — so
a page can never reference another host or run anything, whoever wrote it.

The texts ship in ``content/<page>.<language>.md`` (the demo content); the press office's
editing in the console (drafts, approval, versions) is the next part of issue 11."""

from __future__ import annotations

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


def _same_host(tag: str, attribute: str, value: str) -> str | None:
    """A protocol-relative link ("//host", or "/\\host" which browsers read alike) would leave
    this host although it has no scheme: it loses its href."""
    if attribute == "href" and value.replace("\\", "/").lstrip().startswith("//"):
        return None
    return value


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
