"""Reading a person's answer for each router kind. Pure functions; None means "does not fit"."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .model import Category, Router

YES = frozenset({"yes", "y", "да", "д", "ага", "так", "т", "ok", "ок", "конечно", "звісно"})
NO = frozenset({"no", "n", "нет", "н", "ні", "не", "nope"})
#: A yes/no answer read from its first word has at most this many words ("нет, не знаю").
YESNO_MAX_WORDS = 3
DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d %m %Y")


@dataclass(frozen=True)
class Answer:
    exit: str  # category name, or "*"
    value: Any  # what is stored as the result (JSON-serialisable)


def is_yes(text: str) -> bool:
    """A plain yes to a question the host asks itself ("erase everything?"), read with the
    same words as a flow's yes/no question; "1" is the first (yes) of two numbered buttons."""
    words = _norm(text).split(" ")
    return bool(words) and (words[0] in YES or words == ["1"])


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w\s+\-./:]", " ", text).split())


def read(router: Router, text: str, *, today: date) -> Answer | None:
    text = (text or "").strip()
    if not text:
        return None
    kind = router.kind
    if kind == "text":
        return _text(router, text)
    if kind == "choice":
        return _choice(router.categories, text)
    if kind == "yesno":
        return _yesno(router.categories, text)
    if kind == "number":
        return _number(router, text)
    if kind == "date":
        return _date(router, text, today)
    if kind == "phone":
        return _phone(router, text)
    if kind == "regex":
        pattern = str(router.options["pattern"])
        return Answer("*", text) if re.fullmatch(pattern, text, re.IGNORECASE) else None
    if kind == "keyword":
        return _keyword(router.categories, text)
    raise ValueError(f"unknown router {kind}")


def _text(router: Router, text: str) -> Answer | None:
    low = int(router.options.get("min_length", 1))
    high = int(router.options.get("max_length", 500))
    return Answer("*", text) if low <= len(text) <= high else None


def _choice(categories: tuple[Category, ...], text: str) -> Answer | None:
    wanted = _norm(text)
    if wanted.isdigit() and 1 <= int(wanted) <= len(categories):
        return Answer(categories[int(wanted) - 1].name, categories[int(wanted) - 1].name)
    for category in categories:
        labels = category.label.values.values() if category.label else ()
        if wanted == category.name or any(wanted == _norm(label) for label in labels):
            return Answer(category.name, category.name)
    return None


def _yesno(categories: tuple[Category, ...], text: str) -> Answer | None:
    wanted = _norm(text)
    # The buttons are shown numbered: "1" is the first (yes), "2" the second (no).
    if wanted in ("1", "2") and len(categories) == 2:
        chosen = categories[int(wanted) - 1]
        return Answer(chosen.name, chosen.name == "yes")
    for category in categories:
        labels = {_norm(v) for v in category.label.values.values()} if category.label else set()
        if wanted in labels:
            return Answer(category.name, category.name == "yes")
    if wanted in YES:
        return Answer("yes", True)
    if wanted in NO:
        return Answer("no", False)
    # "да, конечно" is yes; "не помню точно, 1998 год" is not a no: it says something the
    # question did not ask for, so it is not read as yes or no (it is asked again, and the
    # words stay in the transcript for the operator).
    words = wanted.split(" ") if wanted else []
    if not words or len(words) > YESNO_MAX_WORDS or any(c.isdigit() for c in wanted):
        return None
    if words[0] in YES:
        return Answer("yes", True)
    if words[0] in NO:
        return Answer("no", False)
    return None


def _number(router: Router, text: str) -> Answer | None:
    digits = re.sub(r"[\s_]", "", text)
    if not re.fullmatch(r"-?\d{1,9}", digits):
        return None
    value = int(digits)
    low, high = router.options.get("min"), router.options.get("max")
    if (low is not None and value < int(low)) or (high is not None and value > int(high)):
        return None
    return Answer("*", value)


def _date(router: Router, text: str, today: date) -> Answer | None:
    cleaned = re.sub(r"\s*([./\-])\s*", r"\1", text.strip())
    parsed = None
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(cleaned, fmt).date()  # noqa: DTZ007 - a calendar date
            break
        except ValueError:
            continue
    if parsed is None:
        return None
    options = router.options
    after, before = options.get("after"), options.get("before")
    if isinstance(after, date) and parsed <= after:
        return None
    if isinstance(before, date) and parsed >= before:
        return None
    if parsed > today:
        return None
    age = today.year - parsed.year - ((today.month, today.day) < (parsed.month, parsed.day))
    if "min_age" in options and age < int(options["min_age"]):
        return None
    if "max_age" in options and age > int(options["max_age"]):
        return None
    return Answer("*", parsed.isoformat())


def _phone(router: Router, text: str) -> Answer | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, str(router.options.get("region", "RU")))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return Answer("*", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _keyword(categories: tuple[Category, ...], text: str) -> Answer | None:
    normalised = _norm(text)
    words = normalised.split(" ")
    for category in categories:
        for keyword in category.keywords:
            if " " in keyword:
                if keyword in normalised:
                    return Answer(category.name, category.name)
            # A keyword matches a word or the start of one ("фронт" in "фронте"): Russian and
            # Ukrainian words change their endings.
            elif any(w == keyword or (len(keyword) >= 4 and w.startswith(keyword)) for w in words):
                return Answer(category.name, category.name)
    if any(c.name == "other" for c in categories):
        return Answer("other", text)
    return None
