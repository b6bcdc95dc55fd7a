"""The browser tests (Debian's Chromium driven by Playwright): one Chromium per module (Playwright's
sync API holds an event loop while it runs: it must stop before the asyncio tests), and a fresh
context per test that fails the test on any JavaScript error, CSP refusal or dialog."""
from __future__ import annotations

from typing import Any, Iterator, List

import pytest

from tests.browser import kit


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    why = kit.missing()
    for item in items:
        if item.path.parent.name == "browser" and "tests" in item.path.parts:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)
            if why:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with kit.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=kit.CHROMIUM, args=kit.FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def viewport() -> dict:
    """The window's size (a module may choose its own: its screenshots are the README's)."""
    return {"width": 1360, "height": 1000}


@pytest.fixture
def page(browser: Any, viewport: dict) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, locale="fr-FR")
    pg = context.new_page()
    errors: List[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda d: errors.append(f"dialog: {d.message}") or d.dismiss())
    # CSP refusals are console errors; a refused API call (an expected 403 or 409) is not a page error
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    pg.js_errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors, CSP refusals or dialogs on the page: {errors}"
