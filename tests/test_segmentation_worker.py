"""The segmentation chain on a real Celery worker: import a talking clip,
the worker runs io/gpu tasks to the end, and the report shows the speaker."""

import json

import pytest

from tests.conftest import wait_for
from tests.media.talking_face import talking_face


@pytest.mark.worker
def test_worker_imports_segments_and_prelabels_a_talking_clip(live_worker, tmp_path):
    truth = talking_face(tmp_path / "anchor.mp4", duration=4.0, lead=0.6,
                         text="Good evening, here is the news for today.")
    rows = json.loads(live_worker.manage("import_clips", str(truth.path), "--json").stdout.strip().splitlines()[-1])
    video_id = rows[0]["id"]

    def report():
        out = live_worker.manage("video_report", str(video_id), "--json").stdout.strip().splitlines()[-1]
        data = json.loads(out)
        return data if data["status"] in ("ready", "failed") else None

    data = wait_for(report, timeout=240, interval=2)
    assert data["status"] == "ready", (data["error"], live_worker.logs()[-3000:])
    assert data["tracks"] == 1 and len(data["segments"]) == 1
    seg = data["segments"][0]
    assert seg["track"] is not None and seg["face_crops"] >= 1 and seg["prelabel"] is not None
    logs = live_worker.logs()
    for name in ("io.segment_audio", "io.detect_scenes", "gpu.track_faces", "gpu.find_speakers",
                 "io.cut_segment_audio", "gpu.face_crops", "gpu.prelabel_video"):
        assert f"Task {name}[" in logs and "succeeded" in logs
