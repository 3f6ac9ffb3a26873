"""Headless Chromium for the browser tests (Debian's /usr/bin/chromium, driven by Playwright).

Without Chromium the tests are skipped, except under ``CI=true``, where they fail.
The Django ORM must not be used inside a ``browser_page`` block: Playwright's sync API runs an
event loop in this thread, and Django refuses database calls there. Set data up before it and
check the database after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium package to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@contextmanager
def browser_page(
    *, locale: str = "en-US", javascript: bool = True, viewport: tuple[int, int] = (1000, 800)
) -> Iterator[Page]:
    """A fresh page in headless Chromium; ``locale`` sets Accept-Language."""
    chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                locale=locale,
                java_script_enabled=javascript,
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()
