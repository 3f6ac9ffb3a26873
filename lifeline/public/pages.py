"""The site's information pages: Markdown per page and language, rendered by Python-Markdown
and sanitised by nh3 (Ammonia). Only plain text structure survives — no script, style, image,
frame or attribute but a link's ``href``, and links only within this site or to ``tel:`` — so
a page can never reference another host or run anything, whoever wrote it.

The texts ship in ``content/<page>.<language>.md`` (the demo content). The press office changes
them in the console (``editing``): a version a supervisor approved is what the site shows; a
page and language with no published version shows the shipped file."""

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


#: The most a page's Markdown may hold, and the most its HTML may weigh (the page must stay
#: under 50 KB with the site's layout and styles, for a slow connection or a mirror).
MAX_TEXT = 30_000
MAX_HTML_BYTES = 40_000
#: Python-Markdown slows down quadratically on unclosed "[" (about 1 s at 100 on a text of
#: the largest size) and recurses on deep nesting: a text beyond these is refused.
MAX_BRACKETS = 100
MAX_NESTING = 8
_NESTED = re.compile(
    r"^(?:[ \t]*(?:[-*+>]|[0-9]{1,9}[.)])[ \t]+){" + str(MAX_NESTING + 1) + ",}", re.M
)


def too_complex(text: str) -> bool:
    """Whether rendering this Markdown could take long or recurse too deep."""
    return text.count("[") > MAX_BRACKETS or _NESTED.search(text) is not None


def digest(text: str) -> str:
    """A short fingerprint of a text: an approval is bound to the text the reviewer saw."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _title(slug: str, text: str) -> str:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("#").strip()[:200] if first.startswith("#") else str(PAGES[slug])


@lru_cache(maxsize=128)
def build(slug: str, language: str, text: str) -> Page:
    """The page for this Markdown (cached by its text: a new version renders once)."""
    return Page(slug, language, _title(slug, text), render(text))


def shipped_text(slug: str, language: str) -> str:
    """The demo text that ships with Lifeline for this page ("" if there is none)."""
    path = CONTENT / f"{slug}.{language}.md"
    return path.read_text(encoding="utf-8") if slug in PAGES and path.exists() else ""


def current_text(slug: str, language: str) -> str | None:
    """What the site shows for this page in exactly this language: the published version, or
    else the shipped file; None if neither exists."""
    from .models import PageStatus, PageVersion

    text = (
        PageVersion.objects.filter(slug=slug, language=language, status=PageStatus.PUBLISHED)
        .values_list("text", flat=True)
        .first()
    )
    if text is not None:
        return text
    return shipped_text(slug, language) or None


def page(slug: str, language: str) -> Page | None:
    """The page in ``language`` (Russian if it has no such translation); None if unknown."""
    if slug not in PAGES:
        return None
    for lang in (language, "ru"):
        text = current_text(slug, lang)
        if text is not None:
            return build(slug, lang, text)
    return None
