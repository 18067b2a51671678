"""A staff member clicks Export in Chromium, watches the progress bar move
(polling) and downloads the zip; the download's SHA-256 is the one recorded."""

import hashlib
import os
from pathlib import Path

import pytest

from annotation.models import Export
from tests.export_corpus import build_corpus

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def test_staff_exports_watches_progress_and_downloads(live_server, make_annotator, staff_user, password,
                                                      tmp_path, monkeypatch):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    build_corpus(make_annotator)
    # Queue without building, so the page shows a live export; it is built below, in steps.
    monkeypatch.setattr("annotation.export.views.enqueue_export", lambda export: export)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(accept_downloads=True)
        page.goto(live_server.url + "/login/")
        page.fill("input[name=username]", staff_user.username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.goto(live_server.url + "/exports/")
        page.fill("input[name=seed]", "7")
        with page.expect_navigation():
            page.click("button:has-text('Export')")
        export = Export.objects.get()
        assert page.query_selector("tr[data-status=queued]"), (export.status, export.error, page.inner_text("main"))
        assert export.params["seed"] == 7 and export.params["exclude_flags"] == ["not_speaker", "bad_audio"]

        Export.objects.filter(pk=export.pk).update(status="running", progress=42)
        page.wait_for_selector("tr[data-id] progress[value='42']", timeout=30_000)  # no string eval: the page's CSP forbids it
        assert "running 42%" in page.inner_text("tr[data-id] .status-text")

        from annotation.export.build import build_export
        built = build_export(export.pk)
        assert built.status == "succeeded", built.error
        link = page.wait_for_selector("a:has-text('zip')", timeout=30_000)  # page reloads when done
        with page.expect_download() as info:
            link.click()
        target = tmp_path / "download.zip"
        info.value.save_as(target)
        browser.close()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == built.sha256
