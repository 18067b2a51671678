"""Chromium plays and seeks a video served in capped byte ranges: a 206 that
covers less than the browser asked for must not break playback (the web
processes rely on it so a playing video never holds one for long)."""

import os
import shutil

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.annotation_factories import make_test_video

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHUNK = 64 * 1024


@pytest.fixture
def long_video(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    path = make_test_video(tmp_path / "long.mp4", seconds=20, size="320x240")
    return default_storage.save("videos/long.mp4", ContentFile(path.read_bytes()))


def test_capped_ranges_play_and_seek(live_server, annotator, password, long_video, browser_page, monkeypatch):
    from labelstudio_emo import byte_ranges, views
    monkeypatch.setattr(byte_ranges, "RANGE_CHUNK", CHUNK)
    size = default_storage.size(long_video)
    assert size > 8 * CHUNK  # several parts are needed
    page, errors = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", annotator.username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=15000)

    asked = []  # the Range header of every media request the server got
    original = views.file_response

    def recording(request, path, content_type):
        asked.append(request.headers.get("Range"))
        return original(request, path, content_type)
    monkeypatch.setattr(views, "file_response", recording)
    page.goto(f"{live_server.url}/api/health/")  # any page of the site: the video request carries the session
    page.evaluate(f"""document.body.innerHTML =
        '<video id="v" muted preload="auto" src="/media/{long_video}"></video>'""")
    page.wait_for_function("document.getElementById('v').readyState >= 1", timeout=15000)
    assert page.evaluate("document.getElementById('v').duration") == pytest.approx(20, abs=0.5)
    page.evaluate("(() => { const v = document.getElementById('v'); v.currentTime = 16; v.play(); })()")
    page.wait_for_function("document.getElementById('v').currentTime > 17", timeout=20000)
    assert page.evaluate("document.getElementById('v').error") is None
    assert len(asked) >= 2 and all(asked)  # every request was a range, answered in capped parts
    assert errors == []
