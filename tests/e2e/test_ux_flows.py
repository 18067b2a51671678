"""Issue 16 in Chromium: the review form saves an unrounded mean with the
annotate page's keys; the timeline plays the clicked segment and the face box
follows its track; /api/docs/ renders with every non-local request blocked;
the annotate page counts what is left (as the database says) and ends on a
summary screen, with a waveform for an audio-only segment; at 390 px every
action stays on screen. Screenshots are kept under var/test-artifacts/."""

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db.models import Count

from annotation.models import Label, ReviewedLabel
from clips.models import FaceTrack, Segment
from tests.annotation_factories import add_prelabel, make_segments, make_test_video, make_video, teacher
from tests.video_page_factories import off_screen_segment, on_screen_segment

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def needs_ffmpeg():
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")


def login(page, live_server, user, password, next_url):
    page.goto(f"{live_server.url}/login/?next={next_url}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{next_url}")


def shot(page, name, full_page=True):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / name), full_page=full_page)


def test_review_saves_an_unrounded_mean_and_keys_work(live_server, staff_user, make_annotator, password,
                                                      browser_page):
    page, errors = browser_page
    segment, other = make_segments(make_video(), 2)
    for i, (category, valence) in enumerate((("sad", 0.1), ("sad", 0.0), ("angry", 0.0))):
        user = make_annotator(f"rev{i}")
        Label.objects.create(segment=segment, annotator=user, category=category, valence=valence, arousal=-valence)
        Label.objects.create(segment=other, annotator=user, category="happy", valence=0.5, arousal=0.5)

    login(page, live_server, staff_user, password, f"/review/{segment.pk}/")
    assert page.input_value("input[name=valence]") == "0.03"  # the mean 0.0333..., rounded
    page.fill("input[name=valence]", "0.0333333")  # any value in [-1, 1] is accepted
    page.click("button[value=review]")
    page.wait_for_selector(".messages .success")
    assert f"Final label of segment {segment.pk} saved." in page.inner_text(".messages")
    review = ReviewedLabel.objects.get(segment=segment)
    assert (review.category, review.valence) == ("sad", pytest.approx(0.0333333))

    # The annotate page's keys: 1 = angry, ↑ moves arousal by 0.1, Enter = save & next.
    page.keyboard.press("1")
    page.keyboard.press("ArrowUp")
    assert page.inner_text("#va-a") == "0.07"
    shot(page, "review_keys.png")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/{other.pk}/")
    assert f"Final label of segment {segment.pk} saved." in page.inner_text(".messages")
    review.refresh_from_db()
    assert (review.category, review.arousal) == ("angry", pytest.approx(0.07))
    page.keyboard.press("g")  # G = gold with the values shown
    page.wait_for_selector("#gold-status")
    assert "is now gold (happy)" in page.inner_text(".messages")
    assert errors == []


def test_timeline_click_plays_that_segment_and_the_box_follows_the_track(live_server, staff_user, password,
                                                                          browser_page, tmp_path):
    needs_ffmpeg()
    page, errors = browser_page
    clip = make_test_video(tmp_path / "clip.mp4", seconds=6, size="320x240")
    video = make_video(video_file=clip, width=320, height=240, duration=6.0)
    first = on_screen_segment(video, 0.5, 2.0, identity=0)
    moving = on_screen_segment(video, 2.5, 5.0, identity=1)
    # the second face moves from the left edge to the right one over its segment
    FaceTrack.objects.filter(pk=moving.face_track_id).update(
        boxes=[[2.5, 80, 60, 160, 10], [5.0, 80, 310, 160, 260]])
    quiet = off_screen_segment(video, 5.2, 5.9)
    add_prelabel(moving, "happy", 0.8, model=teacher())

    login(page, live_server, staff_user, password, f"/videos/{video.pk}/")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=15000)
    lanes = page.eval_on_selector_all(".tl-lane", "els => els.map(e => e.dataset.lane)")
    assert lanes == ["face #0", "face #1", "off-screen", "scene cuts"]
    assert page.locator(f".tl-lane[data-lane='off-screen'] .tl-seg[data-id='{quiet.pk}']").count() == 1
    assert page.locator(".tl-cut").count() == 1  # two scenes: one cut

    block = page.locator(f".tl-seg[data-id='{moving.pk}']")
    assert block.get_attribute("data-category") == "happy"
    block.click()
    page.wait_for_function("start => { const v = document.getElementById('player');"
                           " return !v.paused && v.currentTime >= start; }", arg=moving.start - 0.05, timeout=10000)
    t = page.evaluate("document.getElementById('player').currentTime")
    assert moving.start - 0.05 <= t < moving.end
    assert page.get_attribute("#facebox", "data-segment") == str(moving.pk)
    assert "playing" in page.get_attribute(f"tr.segment[data-id='{moving.pk}']", "class")
    shot(page, "video_timeline.png")

    def box_left_at(seconds):
        page.evaluate(f"(() => {{ const v = document.getElementById('player'); v.pause(); v.currentTime = {seconds}; }})()")
        # (function predicates: the page's CSP forbids evaluating expression strings)
        page.wait_for_function("t => { const v = document.getElementById('player');"
                               " return Math.abs(v.currentTime - t) < 0.01 && !v.seeking; }", arg=seconds)
        page.wait_for_timeout(100)
        return page.locator("#facebox").bounding_box()["x"]

    early, late = box_left_at(2.6), box_left_at(4.9)
    scale = page.evaluate("(() => { const v = document.getElementById('player');"
                          " return Math.min(v.clientWidth / v.videoWidth, v.clientHeight / v.videoHeight); })()")
    # interpolated: left edge 10 -> 260 px over 2.5 s, so 20 px at 2.6 s and 250 px at 4.9 s
    assert late - early == pytest.approx(230 * scale, abs=3)  # it moved with the face, not a fixed median box

    # The player stays in view while the page scrolls to the segment table.
    page.set_viewport_size({"width": 1280, "height": 700})
    page.evaluate("document.querySelector('table.segments').scrollIntoView()")
    page.evaluate("window.scrollBy(0, 400)")
    top = page.locator("#player").bounding_box()["y"]
    assert 0 <= top < 50
    assert errors == []


def test_api_docs_render_with_no_network(live_server, staff_user, password, browser_page):
    page, errors = browser_page
    local = urlsplit(live_server.url).hostname
    blocked = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in (local, "localhost", "127.0.0.1"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    login(page, live_server, staff_user, password, "/api/docs/")
    page.wait_for_selector(".opblock", timeout=20000)
    assert page.locator(".opblock").count() > 10
    assert page.locator(".opblock-summary-path", has_text="/api/queue/next/").count() == 1
    shot(page, "api_docs_offline.png", full_page=False)
    assert blocked == [] and errors == []


def wav_clip(tmp_path) -> bytes:
    path = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=220:sample_rate=16000:duration=2", "-af", "volume='if(lt(t,1),1,0.2)':eval=frame",
                    str(path)], check=True, capture_output=True)
    return path.read_bytes()


def still_needed(k):
    return Segment.objects.annotate(n=Count("labels")).filter(n__lt=k).count()


def test_progress_then_end_of_queue_summary(live_server, annotator, password, browser_page, tmp_path, settings):
    needs_ffmpeg()
    settings.ANNOTATION_LABELS_PER_SEGMENT = 1
    settings.ANNOTATION_GOLD_EVERY = 0
    page, errors = browser_page
    video = make_video(duration=8.0)
    spoken, other = make_segments(video, 2, box=None)
    spoken.audio.save("speech.wav", ContentFile(wav_clip(tmp_path)), save=True)  # audio only: a waveform
    add_prelabel(spoken, "sad", 0.3)
    add_prelabel(other, "happy", 0.9)

    login(page, live_server, annotator, password, "/annotate/")
    page.wait_for_selector("#annotate[data-state=ready]", timeout=15000)
    page.wait_for_selector("#progress:not([hidden])", timeout=10000)
    assert page.inner_text("#left-for-you") == "2" and page.inner_text("#still-needed") == str(still_needed(1)) == "2"
    assert page.get_attribute("#annotate", "data-segment") == str(spoken.pk)
    page.wait_for_selector("#audio-only canvas.waveform[data-drawn]", timeout=10000)
    shot(page, "annotate_waveform.png", full_page=False)

    page.keyboard.press("Enter")
    page.wait_for_function("id => document.getElementById('annotate').dataset.segment === id",
                           arg=str(other.pk), timeout=15000)
    page.wait_for_function("() => document.getElementById('still-needed').textContent === '1'", timeout=10000)
    assert still_needed(1) == 1 and page.inner_text("#left-for-you") == "1"

    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate[data-state=empty]", timeout=15000)
    summary = page.locator("#empty")
    box = summary.bounding_box()
    assert 0 <= box["y"] < 860 and page.is_hidden("#players")  # in view; no greyed-out last segment
    assert page.inner_text("#session-labels") == "2" and page.inner_text("#session-today") == "2"
    seconds = sorted(label.seconds_spent for label in Label.objects.filter(annotator=annotator))
    assert float(page.inner_text("#session-median")) == pytest.approx(sum(seconds) / 2, abs=0.051)
    page.wait_for_function("() => document.getElementById('session-needed').textContent === '0'", timeout=10000)
    shot(page, "annotate_end_of_queue.png", full_page=False)
    assert errors == []


def assert_on_screen(page, selector, width=390):
    for element in page.locator(selector).all():
        if not element.is_visible():
            continue
        element.scroll_into_view_if_needed()
        box = element.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)


def test_narrow_screen_keeps_every_action_reachable(live_server, staff_user, password, browser_page):
    page, errors = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    videos = [make_video(title=f"A rather long video title number {i} for a narrow phone screen") for i in range(3)]
    segment = make_segments(videos[0], 1)[0]

    login(page, live_server, staff_user, password, "/videos/")
    assert page.locator(".topbar").bounding_box()["height"] < 80  # the nav folded, not eight lines
    assert page.is_hidden("#site-nav") and page.is_visible("#nav-toggle")
    page.click("#nav-toggle")
    assert_on_screen(page, "#site-nav a")
    assert_on_screen(page, ".logout button")
    shot(page, "narrow_nav_open.png", full_page=False)
    page.click("#nav-toggle")

    assert page.locator("table.videos button.danger").count() == 3
    assert_on_screen(page, "table.videos button.danger")
    assert_on_screen(page, "#video-search")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # nothing off to the side
    shot(page, "narrow_videos.png")
    for url in (f"/videos/{videos[0].pk}/", f"/review/{segment.pk}/", "/", "/import/"):
        page.goto(f"{live_server.url}{url}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 391, url
        assert_on_screen(page, "main button, main input[type=submit]")
    shot(page, "narrow_review.png")
    assert errors == []
