"""A talking clip through the real pipeline (scenes, faces, active speaker,
teacher) shows up on the staff video page: every on-screen segment has the
teacher's prelabel in its row and the speaking face's box in the overlay data."""

import json
import re

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.template.defaultfilters import floatformat

from clips import pipeline
from clips.models import Video
from inference.models import ModelVersion
from tests.media.talking_face import talking_face

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    return talking_face(tmp_path_factory.mktemp("vpmedia") / "talking.mp4", duration=4.0, lead=0.5,
                        text="Good morning everybody, this is the news at nine.")


def iou(a, b) -> float:
    (at, ar, ab, al), (bt, br, bb, bl) = a, b
    w, h = min(ar, br) - max(al, bl), min(ab, bb) - max(at, bt)
    inter = max(0, w) * max(0, h)
    return inter / ((ar - al) * (ab - at) + (br - bl) * (bb - bt) - inter)


def test_imported_talking_clip_shows_prelabels_and_speaker_boxes(staff_client, talking):
    with open(talking.path, "rb") as fh:
        name = default_storage.save("videos/talking.mp4", File(fh))
    video = Video.objects.create(extractor="local", external_id="talking", title="talking", file=name,
                                 stage="downloaded", status=Video.Status.SEGMENTING, width=480, height=360)
    pipeline.process_video(video.pk)
    video.refresh_from_db()
    assert video.status == Video.Status.READY, video.error
    on_screen = [s for s in video.segments.order_by("start") if s.face_crops]
    assert on_screen, "the pipeline found no on-screen speech"

    page = staff_client.get(f"/videos/{video.pk}/").content.decode()
    # The page says what decided who speaks (the trained model by default).
    assert video.speaker_model == "light-asd, silero-vad"
    assert re.search(r'<dd data-field="speaker_model">light-asd, silero-vad</dd>', page)
    teacher = ModelVersion.objects.get(kind="teacher", is_active=True)
    overlay = {item["id"]: item for item in json.loads(
        re.search(r'<script id="video-timeline" type="application/json">(.*?)</script>', page, re.S).group(1))
        ["segments"]}
    for segment in on_screen:
        prelabel = segment.prelabels.get(model_version=teacher)
        row = re.search(rf'<tr class="seekable segment" data-id="{segment.pk}".*?</tr>', page, re.S).group(0)
        assert f">{prelabel.category}<" in row and f"{round(prelabel.confidence * 100)}%" in row
        assert f"V {floatformat(prelabel.valence, 2)} · A {floatformat(prelabel.arousal, 2)}" in row
        assert f"{teacher.name}@{teacher.version}" in row
        item = overlay[segment.pk]
        assert item["box"] == segment.box and prelabel.category in item["label"]
        assert iou(item["box"], talking.face_box) > 0.4, (item["box"], talking.face_box)  # the speaker's face

    rows = staff_client.get("/api/segments/", {"video": video.pk}).json()["results"]
    assert all(row["prelabel"]["model"] == f"{teacher.name}@{teacher.version}"
               for row in rows if row["id"] in {s.pk for s in on_screen})
