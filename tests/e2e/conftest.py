"""Shared by the Chromium tests: Debian's Chromium driven by Playwright."""

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


@pytest.fixture
def browser_page():
    """(page, errors): a headless page 1280x860; `errors` collects uncaught page errors."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        browser.close()
