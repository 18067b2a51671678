"""The staff video page and GET /api/segments/ show each segment's model
prelabel: the active teacher's, else the newest teacher's, and the
student's for off-screen speech."""

import re

import pytest

from inference.models import ModelVersion
from tests.annotation_factories import add_prelabel, make_video, teacher
from tests.video_page_factories import off_screen_segment, on_screen_segment

pytestmark = pytest.mark.django_db


def student(name="ser-student", active=True):
    mv, _ = ModelVersion.objects.get_or_create(
        kind="student", name=name, version=1,
        defaults={"arch": "test", "weights": "/dev/null", "sha256": "1" * 64, "is_active": active})
    return mv


def row_of(page: str, segment_id: int) -> str:
    match = re.search(rf'<tr class="seekable segment" data-id="{segment_id}".*?</tr>', page, re.S)
    assert match, f"no row for segment {segment_id}"
    return match.group(0)


@pytest.fixture
def video_with_prelabels():
    video = make_video()
    active = teacher("fer-active", active=True)
    old = ModelVersion.objects.create(kind="teacher", name="fer-old", version=3, arch="test",
                                      weights="/dev/null", sha256="2" * 64)
    voice = student()
    both = on_screen_segment(video, 0.0, 2.0, identity=0)
    add_prelabel(both, "angry", 0.41, model=old, valence=-0.5, arousal=0.5)
    add_prelabel(both, "happy", 0.934, model=active, valence=0.6149, arousal=-0.1251)
    newest_only = on_screen_segment(video, 2.0, 4.0, identity=1)
    add_prelabel(newest_only, "sad", 0.55, model=old, valence=-0.62, arousal=-0.3)
    offscreen = off_screen_segment(video, 4.0, 6.0)
    offscreen_pre = add_prelabel(offscreen, "fear", 0.377, model=voice, valence=-0.25, arousal=0.705)
    offscreen_pre.va_derived = False
    offscreen_pre.save()
    bare = off_screen_segment(video, 6.0, 8.0)
    return video, {"both": both, "newest_only": newest_only, "offscreen": offscreen, "bare": bare}


def test_page_shows_each_segments_prelabel(staff_client, video_with_prelabels):
    video, seg = video_with_prelabels
    page = staff_client.get(f"/videos/{video.pk}/").content.decode()
    assert "<th>Prelabel</th>" in page

    both = row_of(page, seg["both"].pk)  # the active teacher wins over the other teacher
    assert ">happy<" in both and "93%" in both and "V 0.61 · A -0.13" in both
    assert 'title="teacher fer-active@1' in both and "derived" in both
    assert "angry" not in both

    newest = row_of(page, seg["newest_only"].pk)  # no active-teacher prelabel: the teacher that has one
    assert ">sad<" in newest and "55%" in newest and "V -0.62 · A -0.30" in newest and "fer-old@3" in newest

    offscreen = row_of(page, seg["offscreen"].pk)  # off-screen speech: the voice student's
    assert ">fear<" in offscreen and "38%" in offscreen and "V -0.25 · A 0.71" in offscreen
    assert "student ser-student@1" in offscreen and "derived" not in offscreen

    bare = row_of(page, seg["bare"].pk)
    assert '<td class="prelabel"><span class="muted">–</span>' in re.sub(r"\s+<span", "<span", bare)


def test_api_segment_rows_carry_the_prelabel(staff_client, video_with_prelabels):
    video, seg = video_with_prelabels
    rows = {row["id"]: row for row in staff_client.get("/api/segments/", {"video": video.pk}).json()["results"]}
    both = rows[seg["both"].pk]["prelabel"]
    assert both["category"] == "happy" and both["confidence"] == pytest.approx(0.934)
    assert both["valence"] == pytest.approx(0.6149) and both["arousal"] == pytest.approx(-0.1251)
    assert both["model"] == "fer-active@1" and both["kind"] == "teacher" and both["va_derived"] is True
    assert len(both["probs"]) == 7 and both["probs"][3] == pytest.approx(0.934) and both["entropy"] > 0
    assert rows[seg["newest_only"].pk]["prelabel"]["model"] == "fer-old@3"
    offscreen = rows[seg["offscreen"].pk]["prelabel"]
    assert (offscreen["category"], offscreen["kind"], offscreen["va_derived"]) == ("fear", "student", False)
    assert rows[seg["bare"].pk]["prelabel"] is None


def test_switching_the_active_teacher_switches_what_is_shown(staff_client, video_with_prelabels):
    video, seg = video_with_prelabels
    ModelVersion.objects.filter(kind="teacher").update(is_active=False)
    ModelVersion.objects.filter(name="fer-old").update(is_active=True)
    rows = {row["id"]: row for row in staff_client.get("/api/segments/", {"video": video.pk}).json()["results"]}
    assert rows[seg["both"].pk]["prelabel"]["category"] == "angry"
    assert ">angry<" in row_of(staff_client.get(f"/videos/{video.pk}/").content.decode(), seg["both"].pk)


def test_schema_documents_the_segment_prelabel(staff_client):
    schema = staff_client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    prelabel = components["Segment"]["properties"]["prelabel"]
    ref = prelabel.get("$ref") or next(s["$ref"] for s in prelabel.get("allOf", prelabel.get("oneOf", []))
                                       if "$ref" in s)
    assert prelabel.get("nullable") is True or any(s.get("type") == "null" for s in prelabel.get("oneOf", []))
    fields = components[ref.rsplit("/", 1)[1]]["properties"]
    assert {"category", "confidence", "probs", "valence", "arousal", "va_derived", "entropy", "model"} <= set(fields)


def test_page_queries_do_not_grow_with_segments(staff_client, django_assert_max_num_queries):
    video = make_video(duration=60.0)
    active, old = teacher("fer-active"), teacher("fer-old", active=False)
    for i in range(20):
        segment = on_screen_segment(video, i * 2.5, i * 2.5 + 2.0, identity=i % 3)
        add_prelabel(segment, "happy", 0.7, model=active)
        add_prelabel(segment, "sad", 0.6, model=old)
    staff_client.get(f"/videos/{video.pk}/")  # warm the session
    # session + user, video, segments (scene, track, person, review joined), prelabels (+ model), scenes,
    # face tracks for the timeline
    with django_assert_max_num_queries(7):
        page = staff_client.get(f"/videos/{video.pk}/")
    assert page.status_code == 200 and page.content.decode().count(">happy<") == 20
    with django_assert_max_num_queries(5):  # session + user, count, segments, prelabels
        rows = staff_client.get("/api/segments/", {"video": video.pk}).json()["results"]
    assert len(rows) == 20 and all(row["prelabel"]["category"] == "happy" for row in rows)
