"""Shared by the Chromium tests: Debian's Chromium driven by Playwright."""

import functools
import time
from pathlib import Path

import pytest
from django.test import testcases

# Django's live server answers /media/ itself (django.views.static.serve: no
# login, no byte ranges). Pass those requests to the app instead, so browser
# tests go through the protected media view production uses.
testcases._MediaFilesHandler = lambda application: application

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def _poll_for_function(page, expression, arg=None, timeout=30_000, polling=None):
    """Page.wait_for_function from Python: Playwright's own builds its predicate
    with eval() inside the page, which the app's Content-Security-Policy
    (script-src 'self', no 'unsafe-eval') rightly refuses. page.evaluate is
    not subject to the page's policy, so the tests keep it enforced."""
    deadline = time.monotonic() + (timeout or 30_000) / 1000
    while True:
        try:
            value = page.evaluate(expression, arg)
        except Exception as exc:  # a navigation replaced the page: ask the new one
            if "context was destroyed" not in str(exc):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"wait_for_function timed out: {expression[:120]}")
        page.wait_for_timeout(polling if isinstance(polling, (int, float)) else 50)


@pytest.fixture
def browser_page():
    """(page, errors): a headless page 1280x860; `errors` collects uncaught page errors."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.wait_for_function = functools.partial(_poll_for_function, page)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        browser.close()
