"""Retraining through a real Celery worker: `retrain_student` queues the run
on the gpu queue, the worker builds the export, encodes (and caches) the
segments with the speech encoder, fits the heads and activates the student."""

import json

import pytest

from tests.conftest import wait_for
from tests.media.espeak_emotions import cached_clips

SEED = """
import json, os, shutil
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from annotation.models import Label
from clips.models import Segment, Video
rater = get_user_model().objects.create_user("rater", password="x-long-password-1")
made = []  # on a shared PostgreSQL database other worker tests may have left segments
for n, (path, category) in enumerate(json.loads(os.environ["CLIPS"])):
    video = Video.objects.create(extractor="local", external_id=f"w{n}", title=f"clip {n}")
    with open(path, "rb") as fh:
        name = default_storage.save(f"segments/{video.id}/0.wav", File(fh, name="0.wav"))
    segment = Segment.objects.create(video=video, start=0.0, end=2.0, audio=name)
    Label.objects.create(segment=segment, annotator=rater, category=category, valence=0.0, arousal=0.0)
    made.append(segment.pk)
print(Segment.objects.filter(pk__in=made, labels__isnull=False).distinct().count())
"""

READ = """
import json
from inference.models import TrainingRun
r = TrainingRun.objects.get(pk={run})
mv = r.model_version
print(json.dumps({{"status": r.status, "error": r.error, "metrics": r.metrics,
                  "active": bool(mv and mv.is_active)}}, default=str))
"""


@pytest.fixture
def live_worker(tmp_path_factory):
    """The shared worker fixture, with evaluation splits of 2+ segments allowed (40 clips)."""
    from tests.conftest import LiveWorker

    worker = LiveWorker(tmp_path_factory.mktemp("student-worker"))
    worker.env["STUDENT_MIN_EVAL_SEGMENTS"] = "2"
    yield worker.start()
    worker.stop()
    worker.drop_database()


@pytest.mark.worker
def test_retrain_through_the_real_worker(live_worker, tmp_path_factory):
    clips = cached_clips(tmp_path_factory.mktemp, per_class=10)
    live_worker.env["CLIPS"] = json.dumps([[str(c.path), c.category] for c in clips])
    assert live_worker.manage("shell", "-c", SEED).stdout.strip().splitlines()[-1] == str(len(clips))
    queued = live_worker.manage("retrain_student", "--json")
    run = json.loads(queued.stdout.strip().splitlines()[-1])
    assert run["status"] == "queued", run

    def finished():
        out = json.loads(live_worker.manage("shell", "-c", READ.format(run=run["id"])).stdout.strip()
                         .splitlines()[-1])
        return out if out["status"] in ("succeeded", "failed", "cancelled") else None

    result = wait_for(finished, timeout=600, interval=10.0)  # each poll starts a Django process
    assert result["status"] == "succeeded", (result["error"], live_worker.logs()[-3000:])
    m = result["metrics"]
    assert m["encoder"] == "whisper-tiny.en" and m["chosen"] in m["candidates"]
    assert m["uar"] > m["baseline"]["uar"] and result["active"] and m["release"]["activate"]
    cached = live_worker.manage("encode_segments", "--json")          # the run filled the feature cache
    assert json.loads(cached.stdout.strip().splitlines()[-1])["cached"] == len(clips)
