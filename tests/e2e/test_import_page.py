"""Issue 4 "Done when", in Chromium: a staff member pastes three links (two
real clips from the local media server, one text file dressed up as .mp4),
lands on Videos and watches, without reloading, two videos move from queued
through segmenting to ready while the third shows its error and a Retry
button. An annotator opening /import/ gets 403. Screenshots go to
var/test-artifacts/.

Celery is eager in tests, so a task sent while handling the POST would run
inside that request and the page would only ever show the end state. The
test therefore plays the worker: the page's hand-offs (`enqueue_import`,
`hand_off_to_segmentation`) are held, and the test releases them through the
real functions - real yt-dlp download, ffmpeg, segmentation chain and teacher
prelabels - while the page polls. Each release finishes before the page is
checked, so every state waited for is certain to be reached: no sleeps.

The test database is SQLite in memory in shared-cache mode. pytest-django's
live server is started before that database exists, so its request threads
open their own connections (and, inside Playwright's event loop, so does the
test itself); shared-cache table locks fail at once with "database table is
locked" instead of waiting. `one_db_user_at_a_time` therefore lets the test's
worker work and the server's requests take turns. (The product's own file
SQLite in WAL mode, or PostgreSQL, waits for locks instead.)
"""

import os
import threading
from contextlib import nullcontext
from pathlib import Path

import pytest

from clips.importing import services
from clips.models import Video
from tests.import_helpers import *  # noqa: F401,F403  (import_media, media_server, allow_private)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
POLL_TIMEOUT = 30_000  # ms; the page polls every 2 s
BAD_FILE_ERROR = "Not a video or audio file"

# Every (status, progress) a row shows, recorded in the page as it changes.
RECORD_ROWS = """() => {
  window.__seen = {};
  window.__sameDocument = true;  // gone if the page reloads
  const note = (row) => {
    const seen = (window.__seen[row.dataset.id] ||= []);
    const item = [row.querySelector('[data-field=status]').textContent.trim(),
                  Number(row.querySelector('progress').value)];
    const last = seen[seen.length - 1];
    if (!last || last[0] !== item[0] || last[1] !== item[1]) seen.push(item);
  };
  for (const row of document.querySelectorAll('#videos tbody tr')) {
    note(row);
    new MutationObserver(() => note(row)).observe(row, {subtree: true, childList: true, characterData: true,
                                                        attributes: true});
  }
}"""


@pytest.fixture
def one_db_user_at_a_time(monkeypatch):
    """A lock that every live-server request holds while Django handles it."""
    from django.core.handlers.wsgi import WSGIHandler
    lock, handle = threading.Lock(), WSGIHandler.__call__

    def serialized(self, environ, start_response):
        with lock:
            return handle(self, environ, start_response)
    monkeypatch.setattr(WSGIHandler, "__call__", serialized)
    return lock


class HeldWorker:
    """The page's Celery hand-offs, held until the test releases them."""

    def __init__(self, monkeypatch, db_lock=None):
        self.db_lock = db_lock or nullcontext()
        self.imports, self.segmentations = [], []
        self._enqueue_import = services.enqueue_import
        self._hand_off = services.hand_off_to_segmentation
        monkeypatch.setattr(services, "enqueue_import", self.imports.append)
        monkeypatch.setattr(services, "hand_off_to_segmentation", self.segmentations.append)

    def run_imports(self):
        """The io.import_video tasks the page sent (download, probe, WAV)."""
        ids, self.imports[:] = list(self.imports), []
        with self.db_lock:
            for video_id in ids:
                self._enqueue_import(video_id)  # autocommit + eager: runs now

    def run_segmentations(self):
        """The segmentation chains the imports handed off (through prelabels)."""
        ids, self.segmentations[:] = list(self.segmentations), []
        with self.db_lock:
            for video_id in ids:
                self._hand_off(video_id)


@pytest.fixture
def held_worker(monkeypatch, one_db_user_at_a_time):
    return HeldWorker(monkeypatch, one_db_user_at_a_time)


def log_in(page, base_url, user, password, next_url):
    page.goto(f"{base_url}/login/?next={next_url}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def shot(page, name):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / name), full_page=True)


def test_staff_pastes_three_links_and_watches_two_import_and_one_fail(
        live_server, staff_user, password, allow_private, media_server, held_worker, browser_page):
    from playwright.sync_api import expect
    page, errors = browser_page
    good = [media_server.url("talk.mp4"), media_server.url("talk2.mp4")]
    bad = media_server.url("notes.mp4")  # a text file served as video/mp4

    log_in(page, live_server.url, staff_user, password, "/import/")
    assert page.url == f"{live_server.url}/import/", page.inner_text("main")
    page.fill("textarea[name=urls]", "\n".join([good[0], bad, good[1]]))
    assert page.input_value("select[name=max_height]") == "720"
    shot(page, "import_page_filled.png")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Import')")

    assert page.url == f"{live_server.url}/videos/"
    assert "Queued 3 items for import." in page.inner_text("body")
    with held_worker.db_lock:
        by_url = {v.source_url: v.pk for v in Video.objects.all()}
    assert sorted(by_url) == sorted(good + [bad]) and len(held_worker.imports) == 3
    rows = {url: page.locator(f"#videos tr[data-id='{pk}']") for url, pk in by_url.items()}
    for row in rows.values():
        expect(row.locator("[data-field=status]")).to_have_text("Queued")
        expect(row.locator("progress")).to_have_js_property("value", 0)
        expect(row.locator("button:has-text('Retry')")).to_be_hidden()
    page.evaluate(RECORD_ROWS)

    # The worker downloads: the good ones reach segmenting, the text file fails.
    held_worker.run_imports()
    for url in good:
        expect(rows[url].locator("[data-field=status]")).to_have_text("Segmenting", timeout=POLL_TIMEOUT)
        expect(rows[url].locator("progress")).to_have_js_property("value", services.IMPORT_DONE_PROGRESS)
        expect(rows[url].locator("button:has-text('Retry')")).to_be_hidden()
    expect(rows[bad].locator("[data-field=status]")).to_have_text("Failed", timeout=POLL_TIMEOUT)
    expect(rows[bad].locator("[data-field=error]")).to_contain_text(BAD_FILE_ERROR)
    expect(rows[bad].locator("button:has-text('Retry')")).to_be_visible()
    expect(rows[good[0]].locator("[data-field=duration]")).to_have_text("3.0 s")
    shot(page, "import_videos_progress.png")

    # The worker segments and prelabels the two good ones: they become ready.
    held_worker.run_segmentations()
    for url in good:
        expect(rows[url].locator("[data-field=status]")).to_have_text("Ready", timeout=POLL_TIMEOUT)
        expect(rows[url].locator("progress")).to_have_js_property("value", 100)
    expect(rows[bad].locator("[data-field=status]")).to_have_text("Failed")
    # the status filter counts follow the rows without a reload
    expect(page.locator("[data-count-for=ready]")).to_have_text("2")
    expect(page.locator("[data-count-for=failed]")).to_have_text("1")
    expect(page.locator("[data-count-for=queued]")).to_have_text("0")
    shot(page, "import_videos_ready.png")

    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    seen = page.evaluate("window.__seen")
    for url in good:
        states = seen[str(by_url[url])]
        assert states[0] == ["Queued", 0] and states[-1] == ["Ready", 100], states
        assert ["Segmenting", services.IMPORT_DONE_PROGRESS] in states, states
        values = [value for _, value in states]
        assert values == sorted(values), f"progress went backwards: {states}"
    bad_states = seen[str(by_url[bad])]  # a poll may also catch it "Downloading" on the way
    assert bad_states[0] == ["Queued", 0] and bad_states[-1][0] == "Failed", bad_states
    with held_worker.db_lock:
        assert Video.objects.get(pk=by_url[bad]).error.startswith(BAD_FILE_ERROR)

    # Retry queues the bad one again (the good ones are untouched); it fails the same way.
    with page.expect_navigation():
        rows[bad].locator("button:has-text('Retry')").click()
    expect(rows[bad].locator("[data-field=status]")).to_have_text("Queued")
    assert held_worker.imports == [by_url[bad]]
    held_worker.run_imports()
    expect(rows[bad].locator("[data-field=status]")).to_have_text("Failed", timeout=POLL_TIMEOUT)
    expect(rows[bad].locator("[data-field=error]")).to_contain_text(BAD_FILE_ERROR)
    for url in good:
        expect(rows[url].locator("[data-field=status]")).to_have_text("Ready")
    shot(page, "import_videos_after_retry.png")
    assert not errors, errors


def test_annotator_opening_import_gets_403(live_server, annotator, password, browser_page):
    page, errors = browser_page
    log_in(page, live_server.url, annotator, password, "/")
    for url in ["/import/", "/videos/"]:
        response = page.goto(live_server.url + url)
        assert response.status == 403, (url, response.status)
        assert page.locator("textarea[name=urls]").count() == 0
    shot(page, "import_page_annotator_403.png")
    assert not Video.objects.exists()
    assert not errors, errors
