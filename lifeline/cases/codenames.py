"""Codenames: random words the applicant says later to prove he is the same person.

Six words from a list of 1024 easy Russian nouns: 60 bits, made by the server with ``secrets``.
Only a peppered scrypt hash is stored (``crypto.hash_secret``); the words are shown once.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path

WORDS_FILE = Path(__file__).with_name("codename_words_ru.txt")
WORD_COUNT = 6


@lru_cache(maxsize=1)
def words() -> tuple[str, ...]:
    items = tuple(
        w.strip() for w in WORDS_FILE.read_text(encoding="utf-8").splitlines() if w.strip()
    )
    if len(items) != 1024 or len(set(items)) != 1024:
        raise RuntimeError(f"{WORDS_FILE.name} must hold 1024 distinct words")
    return items


def bits() -> float:
    return WORD_COUNT * (len(words()).bit_length() - 1)


def generate() -> str:
    """A new codename: six words separated by spaces."""
    pool = words()
    return " ".join(secrets.choice(pool) for _ in range(WORD_COUNT))


def normalise(text: str) -> str:
    """How a codename is compared: case, ё/е, punctuation and spacing do not matter."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())
