"""An annotator labels with the keyboard only, in Debian's Chromium.

Three segments: one prelabel accepted (Enter), one category changed (4 =
happy), one V/A point moved with the arrows; the labels are in the database
and each Enter shows the next segment. Then U brings the last label back and
it is edited. Screenshots are kept under var/test-artifacts/.
"""

import os
import shutil
from pathlib import Path

import pytest

from annotation.models import Label
from tests.annotation_factories import add_prelabel, make_segments, make_test_video, make_video

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture(scope="module")
def test_video(tmp_path_factory):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    return make_test_video(tmp_path_factory.mktemp("e2e") / "clip.mp4", seconds=8)


def shown_segment(page) -> str:
    return page.get_attribute("#annotate", "data-segment")


def wait_for_next(page, previous: str):
    page.wait_for_function(
        "prev => { const r = document.getElementById('annotate');"
        " return r.dataset.busy !== '1' && r.dataset.segment !== prev; }", arg=previous, timeout=15000)


def test_label_three_segments_with_the_keyboard_then_edit_one(live_server, annotator, password, test_video,
                                                              browser_page):
    page, errors = browser_page
    video = make_video(video_file=test_video, duration=8.0)
    accepted, changed, moved = make_segments(video, 3, crops=True)
    add_prelabel(accepted, "sad", 0.3, valence=-0.6, arousal=-0.2)    # most uncertain: shown first
    add_prelabel(changed, "angry", 0.5, valence=-0.5, arousal=0.6)
    add_prelabel(moved, "neutral", 0.7, valence=0.0, arousal=0.0)

    page.goto(f"{live_server.url}/login/?next=/annotate/")
    page.fill("input[name=username]", annotator.username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate[data-state=ready]", timeout=15000)

    # 1) the prelabel is right: just Enter
    assert shown_segment(page) == str(accepted.pk)
    assert page.get_attribute("#categories button.selected", "data-category") == "sad"
    page.wait_for_function("document.querySelector('#players video') && "
                           "document.querySelector('#players video').readyState >= 1", timeout=15000)
    assert page.is_visible("#facebox")  # the speaking face is boxed over the video
    assert page.locator("#crops img").count() == 2 and not page.is_visible("#audio-only")
    assert "sad" in page.inner_text("#prelabel") and "30%" in page.inner_text("#prelabel")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "annotate_workspace.png"))
    page.keyboard.press("Enter")
    wait_for_next(page, str(accepted.pk))

    # 2) a different category, then the pad: 4 = happy, Right x3, Shift+Up
    assert shown_segment(page) == str(changed.pk)
    page.keyboard.press("4")
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Shift+ArrowUp"):
        page.keyboard.press(key)
    page.keyboard.press("q")  # flag: unsure
    page.keyboard.press("Enter")
    wait_for_next(page, str(changed.pk))

    # 3) keep the category, move the point only
    assert shown_segment(page) == str(moved.pk)
    # meanwhile the 4-6 s range loops: after more than one loop the player is still inside it
    page.wait_for_timeout(2600)
    playing = page.evaluate("(() => { const v = document.querySelector('#players video');"
                            " return {t: v.currentTime, paused: v.paused}; })()")
    assert not playing["paused"] and moved.start - 0.05 <= playing["t"] <= moved.end
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate[data-state=empty]", timeout=15000)
    assert page.inner_text("#done-today") == "3"

    labels = {label.segment_id: label for label in Label.objects.filter(annotator=annotator)}
    assert len(labels) == 3
    first, second, third = labels[accepted.pk], labels[changed.pk], labels[moved.pk]
    assert (first.category, first.valence, first.arousal) == ("sad", -0.6, -0.2)
    assert first.prelabel_shown.category == "sad"
    assert (second.category, second.valence, second.arousal) == ("happy", pytest.approx(-0.2), pytest.approx(0.85))
    assert second.flags == ["unsure"]
    assert (third.category, third.valence, third.arousal) == ("neutral", pytest.approx(-0.25), pytest.approx(-0.1))
    assert all(label.seconds_spent > 0 for label in labels.values())

    # U: the last label comes back; change it to sad and save
    page.keyboard.press("u")
    page.wait_for_selector("#annotate[data-mode=edit]", timeout=15000)
    assert shown_segment(page) == str(moved.pk)
    assert page.get_attribute("#categories button.selected", "data-category") == "neutral"
    page.keyboard.press("5")
    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate[data-state=empty]", timeout=15000)  # back to the (finished) queue
    assert page.get_attribute("#annotate", "data-mode") != "edit"
    third.refresh_from_db()
    assert third.category == "sad" and third.history.count() == 2
    assert Label.objects.filter(annotator=annotator).count() == 3  # edited, not duplicated

    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.screenshot(path=str(ARTEFACTS / "annotate_keyboard.png"), full_page=True)
    assert errors == []
