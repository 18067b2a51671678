"""Staff opens a video in Chromium, clicks a segment, and the speaking face's
box is drawn over the player where the face is: source pixels scaled to the
shown picture, black bars included. A screenshot is kept under
var/test-artifacts/."""

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.annotation_factories import add_prelabel, make_test_video, make_video, teacher
from tests.video_page_factories import off_screen_segment, on_screen_segment

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
BOX = (60, 220, 180, 100)  # top, right, bottom, left in the 320x240 source
TOLERANCE = 3  # px


@pytest.fixture
def clip(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    return make_test_video(tmp_path / "clip.mp4", seconds=4, size="320x240")


def expected_box(page) -> dict:
    """Where BOX must appear, from the <video> element's geometry (object-fit: contain)."""
    v = page.evaluate("""(() => { const v = document.getElementById('player'), r = v.getBoundingClientRect();
        return {x: r.x + v.clientLeft, y: r.y + v.clientTop, w: v.clientWidth, h: v.clientHeight,
                vw: v.videoWidth, vh: v.videoHeight}; })()""")
    scale = min(v["w"] / v["vw"], v["h"] / v["vh"])
    x0, y0 = v["x"] + (v["w"] - v["vw"] * scale) / 2, v["y"] + (v["h"] - v["vh"] * scale) / 2
    k = scale * v["vw"] / 320
    top, right, bottom, left = BOX
    return {"x": x0 + left * k, "y": y0 + top * k, "width": (right - left) * k, "height": (bottom - top) * k}


def assert_box_matches(page, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:  # the overlay follows resizes on the next frame
        shown, want = page.locator("#facebox").bounding_box(), expected_box(page)
        off = max(abs(shown[key] - want[key]) for key in want) if shown else float("inf")
        if off <= TOLERANCE or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert off <= TOLERANCE, (shown, want)
    return shown


def test_clicked_segment_boxes_the_speaking_face(live_server, staff_user, password, clip, browser_page):
    page, errors = browser_page
    video = make_video(video_file=clip, width=320, height=240, duration=4.0)
    speaking = on_screen_segment(video, 1.0, 3.5, box=BOX, identity=2)
    add_prelabel(speaking, "happy", 0.8, model=teacher())
    off_screen_segment(video, 3.5, 4.0)

    page.goto(f"{live_server.url}/login/?next=/videos/{video.pk}/")
    page.fill("input[name=username]", staff_user.username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('player') && document.getElementById('player').readyState >= 1",
                           timeout=15000)
    assert page.is_hidden("#facebox")  # t = 0: nobody speaks
    assert "happy" in page.inner_text(f"tr[data-id='{speaking.pk}'] td.prelabel")

    page.click(f"tr[data-id='{speaking.pk}'] td:first-child")
    page.wait_for_selector("#facebox", state="visible", timeout=10000)
    shown = assert_box_matches(page)
    assert shown["width"] > 100  # scaled up from 120 source px to the wide player
    label = page.inner_text("#facebox .facebox-label")
    assert "face #2" in label and "happy" in label
    assert page.get_attribute("#facebox", "data-segment") == str(speaking.pk)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "video_page_facebox.png"), full_page=True)

    # Black bars at the sides: a player box much wider than the 4:3 picture.
    page.evaluate("(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 2.0;"
                  " v.style.height = '300px'; })()")
    shown = assert_box_matches(page)
    player = page.locator("#player").bounding_box()
    assert shown["x"] > player["x"] + 100  # shifted right by the left bar
    page.screenshot(path=str(ARTEFACTS / "video_page_facebox_letterboxed.png"))

    # Off-screen speech at the end, silence at the start: no box.
    page.evaluate("document.getElementById('player').currentTime = 3.9")
    page.wait_for_selector("#facebox", state="hidden", timeout=5000)
    page.evaluate("document.getElementById('player').currentTime = 0.5")
    page.wait_for_selector("#facebox", state="hidden", timeout=5000)
    page.evaluate("document.getElementById('player').currentTime = 1.5")
    page.wait_for_selector("#facebox", state="visible", timeout=5000)
    assert_box_matches(page)
    assert errors == []
