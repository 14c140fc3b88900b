"""Headless Debian chromium driven by Playwright (sync API), for page tests.

Playwright is pointed at the system browser and never downloads one. A missing browser is a failed
test with a clear message, never a silent skip: ``scripts/setup.sh`` installs chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """A launched headless chromium, closed on exit; fails the test when the browser is not installed."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/setup.sh does) to run page tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def page(
    width: int = 1024, height: int = 768, *, headers: dict[str, str] | None = None
) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page at ``width`` x ``height`` (sending ``headers`` with every request, e.g. a bearer
    token) and the list its console errors and page errors collect into."""
    with chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": height}, extra_http_headers=headers or {})
        errors: list[str] = []
        new_page = context.new_page()
        new_page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        new_page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield new_page, errors
        finally:
            context.close()
