"""Every string exists in Russian, Ukrainian and English; compiled catalogues are current."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "lifeline" / "locale"
LANGUAGES = ["ru", "uk", "en"]


def parse_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr (``context\x04msgid`` for an entry with a context, as gettext keys
    them); fuzzy entries map to '' (they do not count as translated)."""
    entries: dict[str, str] = {}
    for block in path.read_text().split("\n\n"):
        fuzzy = "#, fuzzy" in block or re.search(r"^#,.*\bfuzzy\b", block, re.M) is not None
        key: str | None = None
        parts: dict[str, list[str]] = {"msgctxt": [], "msgid": [], "msgstr": [], "other": []}
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            # Plural entries: the singular msgid, and the first plural form as the msgstr.
            match = re.match(
                r"^(msgctxt|msgid|msgstr|msgstr\[0\]|msgid_plural|msgstr\[\d\]) (\".*\")$",
                line,
            )
            if match:
                key = {
                    "msgstr[0]": "msgstr",
                    "msgid": "msgid",
                    "msgstr": "msgstr",
                    "msgctxt": "msgctxt",
                }.get(match.group(1), "other")
                parts[key].append(ast.literal_eval(match.group(2)))
            elif line.startswith('"') and key:
                parts[key].append(ast.literal_eval(line))
        msgid = "".join(parts["msgid"])
        if msgid:
            if parts["msgctxt"]:
                msgid = "".join(parts["msgctxt"]) + "\x04" + msgid
            entries[msgid] = "" if fuzzy else "".join(parts["msgstr"])
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    entries = parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(entries) > 50
    untranslated = [msgid for msgid, msgstr in entries.items() if not msgstr]
    assert untranslated == [], f"untranslated in {language}: {untranslated}"
    for msgid, msgstr in entries.items():
        assert set(re.findall(r"%\(\w+\)s", msgid)) == set(re.findall(r"%\(\w+\)s", msgstr)), (
            f"placeholders differ in {language}: {msgid!r}"
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_the_source(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    for msgid, msgstr in parse_po(folder / "django.po").items():
        context, _sep, text = msgid.rpartition("\x04")
        found = compiled.pgettext(context, text) if context else compiled.gettext(text)
        assert found == msgstr, f"run `make messages`: {msgid!r} is stale"
