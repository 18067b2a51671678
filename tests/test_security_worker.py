"""Probe 4: jobs survive killed processes, on the real worker and the real
embedded broker. The worker killed with SIGKILL mid-segmentation (main process and
children: nothing left to finish the task or acknowledge its message) leaves a
video that the next worker requeues by its lease and finishes, with no
duplicate rows. Idle pool children killed with SIGKILL do not wedge the worker
(labelstudio_emo/worker_pool.py says why they could)."""

import json
import os
import sqlite3
import time

import pytest

from tests.conftest import LiveWorker, children, kill9, wait_for
from tests.media.talking_face import talking_face

pytestmark = [pytest.mark.security, pytest.mark.worker]

# as run.sh starts it (a prefork pool), with leases short enough for a test
POOL = ("--concurrency", "2", "--max-tasks-per-child", "100")


@pytest.fixture
def worker(tmp_path_factory):
    if os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.skip("this probe is about the embedded broker")
    worker = LiveWorker(tmp_path_factory.mktemp("leases"))
    worker.env.update(PIPELINE_LEASE_SECONDS="4", PIPELINE_SWEEP_SECONDS="1")
    yield worker
    if worker.proc:  # nothing to wait for: the test is over
        kill9(worker.proc.pid, *children(worker.proc.pid))
        worker.proc.wait(timeout=10)
    worker.stop()


def video_row(worker, video_id):
    with sqlite3.connect(worker.workdir / "db.sqlite3") as db:
        return db.execute("SELECT status, stage FROM clips_video WHERE id = ?", (video_id,)).fetchone()


def waiting_messages(worker) -> int:
    """Messages in the embedded broker that no worker has taken yet."""
    with sqlite3.connect(worker.workdir / "broker.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM kombu_message WHERE visible = 1").fetchone()[0]


# the task a worker runs once a video's stage is done
NEXT_TASK = {"audio": "io.detect_scenes", "scenes": "gpu.track_faces", "faces": "gpu.find_speakers"}


def holds_next_stage(worker, video_id) -> bool:
    status, stage = video_row(worker, video_id)
    task = NEXT_TASK.get(stage)
    return (status == "segmenting" and task is not None and f"Task {task}[" in worker.logs()
            and waiting_messages(worker) == 0)


def test_killed_pool_child_and_killed_worker_do_not_lose_or_duplicate_work(worker, tmp_path):
    if os.environ.get("DATABASE_URL", "sqlite").split(":")[0] != "sqlite":
        pytest.skip("reads the worker's SQLite database")
    truth = talking_face(tmp_path / "talk.mp4", duration=6.0, lead=0.5,
                         text="Good evening, the weather will be dry and warm all week long.")
    worker.start(*POOL)
    client = worker.celery_app()
    assert client.send_task("io.ping", args=["up"]).get(timeout=90) == "up"

    rows = json.loads(worker.manage("import_clips", str(truth.path), "--json").stdout.strip().splitlines()[-1])
    video_id = rows[0]["id"]
    # segmentation under way, the next stage's message taken by the worker (between
    # two stages it waits in the queue, and a new worker would simply run it) ...
    wait_for(lambda: holds_next_stage(worker, video_id), timeout=120, interval=0.05)
    kill9(worker.proc.pid, *children(worker.proc.pid))  # ... when the whole worker dies
    worker.proc.wait(timeout=10)
    killed_at = video_row(worker, video_id)
    # a stage may still have queued its successor between the check and the kill
    held_at_kill = waiting_messages(worker) == 0

    worker.spawn(*POOL)  # "./run.sh again"
    wait_for(lambda: video_row(worker, video_id)[0] in ("ready", "failed"), timeout=240, interval=1)
    report = json.loads(worker.manage("video_report", str(video_id), "--json").stdout.strip().splitlines()[-1])
    assert report["status"] == "ready", (killed_at, report["error"], worker.logs()[-4000:])
    if held_at_kill:  # nothing else could have sent the work again
        assert "re-queued videos whose lease ran out" in worker.logs(), killed_at

    with sqlite3.connect(worker.workdir / "db.sqlite3") as db:
        one = lambda sql: db.execute(sql, (video_id,)).fetchone()  # noqa: E731
        segments, distinct = one("SELECT COUNT(*), COUNT(DISTINCT printf('%.3f-%.3f', start, end)) "
                                 "FROM clips_segment WHERE video_id = ?")
        scenes, distinct_scenes = one("SELECT COUNT(*), COUNT(DISTINCT \"index\") FROM clips_scene WHERE video_id = ?")
        prelabels, labelled = one("SELECT COUNT(*), COUNT(DISTINCT p.segment_id || '-' || p.model_version_id) "
                                  "FROM inference_prelabel p JOIN clips_segment s ON s.id = p.segment_id "
                                  "WHERE s.video_id = ?")
    assert segments >= 1 and segments == distinct
    assert scenes >= 1 and scenes == distinct_scenes
    assert prelabels == labelled


def test_killed_idle_pool_children_do_not_wedge_the_worker(worker):
    """Idle children wait on one shared pipe; the one killed may be the one
    reading it. Both are killed, right after start-up and again later: the
    pool replaces them and runs what comes next."""
    worker.start(*POOL)
    client = worker.celery_app()
    wait_for(lambda: len(children(worker.proc.pid)) == 2, timeout=90, interval=0.05)
    time.sleep(1.0)  # children up and waiting, nothing run yet
    kill9(*children(worker.proc.pid))
    assert client.send_task("io.ping", args=["up"]).get(timeout=90) == "up"
    kill9(*children(worker.proc.pid))
    assert client.send_task("io.ping", args=["still"]).get(timeout=90) == "still"
    assert "(worker_pool)" in worker.logs()  # the idle-safe pool, as run.sh starts it
