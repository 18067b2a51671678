"""The whole mission on generated talking video, as staff and annotators use it:
import -> segments with face crops -> teacher prelabels -> labels through the
API -> corpus export -> a student retrain refused while no fair test split exists."""

import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotation.models import Export, Label
from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel, TrainingRun
from tests.media.talking_face import talking_face

pytestmark = pytest.mark.django_db

LINES = ["Good morning everybody, this is the news at nine.",
         "I cannot believe you did that again, it is terrible.",
         "What a wonderful surprise to see you all here today."]
# The category each annotator gives the segments of each video (all agree).
TRUTH = ["neutral", "angry", "happy"]
TINY_STUDENT = json.dumps({"model": {"channels": [8, 16, 32], "rnn_hidden": 32},
                           "train": {"threads": 1, "patience": 3}})


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def talking_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mission")
    paths = []
    for i, text in enumerate(LINES):
        talking_face(folder / f"talk{i}.mp4", duration=4.5, lead=0.5, text=text)
        paths.append(folder / f"talk{i}.mp4")
    return paths


def label_everything(clients, truth_by_video):
    """Each annotator takes assignments until the queue is empty for them."""
    made = 0
    for client in clients:
        while True:
            response = client.get("/api/queue/next/")
            if response.status_code == 204:
                break
            assert response.status_code == 200, response.content
            assignment = response.json()
            segment = Segment.objects.get(pk=assignment["segment"]["id"])
            category = truth_by_video[segment.video_id]
            body = {"assignment": assignment["id"], "category": category, "valence": 0.1,
                    "arousal": 0.2, "flags": [], "seconds_spent": 3.5}
            first = client.post("/api/labels/", body, format="json")
            again = client.post("/api/labels/", body, format="json")  # a double submit
            assert first.status_code == 201 and again.status_code == 200, first.content
            made += 1
    return made


def test_from_video_files_to_a_trained_student(talking_videos, make_annotator, capsys):
    # 1-3. staff import three talking videos; segmentation and prelabelling run in-process
    call_command("import_clips", *map(str, talking_videos), "--sync", "--json")
    rows = last_json(capsys)
    assert [r["status"] for r in rows] == ["ready"] * 3, rows
    assert all(r["segments"] >= 1 and not r["error"] for r in rows), rows
    segments = Segment.objects.filter(video__status=Video.Status.READY)
    on_screen = segments.exclude(face_crops=[])
    assert on_screen.exists(), "the astronaut is on screen while she talks"
    teacher = ModelVersion.objects.get(kind="teacher", is_active=True)
    assert Prelabel.objects.filter(model_version=teacher, segment__in=on_screen).count() == on_screen.count()

    # 4. two annotators label every segment through the API (double submits are harmless)
    clients = []
    for name in ("ana", "ben"):
        client = APIClient()
        client.force_authenticate(make_annotator(name))
        clients.append(client)
    made = label_everything(clients, {row["id"]: truth for row, truth in zip(rows, TRUTH)})
    assert made == 2 * segments.count() == Label.objects.count()

    # 5. export the corpus
    call_command("export_corpus", "--min-labels", "2", "--json")
    exported = last_json(capsys)
    assert exported["segments"] == segments.count()
    with zipfile.ZipFile(Export.objects.get(pk=exported["id"]).file.path) as zf:
        manifest = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
    assert {row["split"] for row in manifest} == {"train", "val", "test"}  # three speakers, one per split
    by_video = {row["video_id"]: row["category"] for row in manifest}
    assert sorted(by_video.values()) == sorted(TRUTH)

    # 6. retraining on three one-segment speakers is refused before it starts, with the
    #    reason: no fair test split exists (tests/test_student_worker.py retrains for real)
    with pytest.raises(CommandError, match="Not enough labelled data for a fair test"):
        call_command("retrain_student", "--export", str(exported["id"]), "--epochs", "3", "--sync", "--json",
                     "--config", TINY_STUDENT)
    assert not TrainingRun.objects.filter(status="succeeded").exists()
    assert not ModelVersion.objects.filter(kind="student").exists()
