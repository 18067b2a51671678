"""Retrain API and pages: staff only, one live run at a time, cancel, restart
after a worker died mid-run."""

import subprocess
import sys
import time

import pytest

from inference.models import TrainingRun
from inference.student import services
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def enough_labels(settings, make_annotator):
    """30 labelled one-segment videos: enough for speaker-disjoint splits at
    minimums of 10 training and 2 evaluation segments, so runs may start."""
    from annotation.models import Label
    from clips.models import Segment, Video
    from labelstudio_emo.emotions import EMOTIONS

    settings.STUDENT_MIN_TRAIN_SEGMENTS, settings.STUDENT_MIN_EVAL_SEGMENTS = 10, 2
    rater = make_annotator("r1")
    for v in range(30):
        video = Video.objects.create(extractor="local", external_id=f"v{v}")
        segment = Segment.objects.create(video=video, start=0, end=2, audio=f"segments/{v}.wav")
        Label.objects.create(segment=segment, annotator=rater, category=EMOTIONS[v % 7], valence=0, arousal=0)


def test_annotator_cannot_start_or_see_runs(annotator_client, annotator, api_client):
    assert annotator_client.post("/api/training-runs/", {}, content_type="application/json").status_code == 403
    assert annotator_client.get("/api/training-runs/").status_code == 403
    run = TrainingRun.objects.create()
    assert annotator_client.get(f"/api/training-runs/{run.id}/").status_code == 403
    assert annotator_client.get(f"/models/runs/{run.id}/").status_code == 403
    assert annotator_client.post("/models/runs/start/").status_code == 403
    assert annotator_client.post(f"/models/runs/{run.id}/cancel/").status_code == 403
    assert api_client.post("/api/training-runs/", {}, format="json").status_code in (401, 403)
    assert TrainingRun.objects.count() == 1


def test_second_click_while_a_run_is_live_says_so(staff_client):
    first = staff_client.post("/api/training-runs/", {"epochs": 3}, content_type="application/json")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "queued" and first.json()["config"]["train"]["epochs"] == 3
    second = staff_client.post("/api/training-runs/", {}, content_type="application/json")
    assert second.status_code == 409
    assert second.json() == {"detail": "a training run is already running", "run": first.json()["id"]}
    # the page form says it too, and leads to the live run
    page = staff_client.post("/models/runs/start/", follow=True)
    assert b"a training run is already running" in page.content
    assert page.redirect_chain[-1][0] == f"/models/runs/{first.json()['id']}/"
    assert TrainingRun.objects.count() == 1


def test_database_lets_exactly_one_of_two_racing_starts_through(monkeypatch):
    # Both requests pass the friendly pre-check before either inserts: the
    # UniqueConstraint decides, and the loser gets the same message.
    monkeypatch.setattr(services, "live_run", lambda: None)
    services.start_run(enqueue=False)
    with pytest.raises(services.RunAlreadyActive, match="a training run is already running"):
        services.start_run(enqueue=False)
    assert TrainingRun.objects.filter(status__in=["queued", "running"]).count() == 1


def test_cancel_a_queued_run_then_start_again(staff_client):
    run_id = staff_client.post("/api/training-runs/", {}, content_type="application/json").json()["id"]
    cancelled = staff_client.post(f"/api/training-runs/{run_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert staff_client.post("/api/training-runs/", {}, content_type="application/json").status_code == 201


def test_running_run_is_asked_to_stop(staff_client):
    run = TrainingRun.objects.create(status="running")
    response = staff_client.post(f"/models/runs/{run.id}/cancel/", follow=True)
    assert response.status_code == 200 and b"cancelling" in response.content
    run.refresh_from_db()
    assert run.cancel_requested and run.status == "running"  # the training loop stops it
    assert b"Mark cancelled now" in response.content
    # asked again (the worker is gone): cancelled at once, and Retrain works again
    staff_client.post(f"/models/runs/{run.id}/cancel/")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert staff_client.post("/api/training-runs/", {}, content_type="application/json").status_code == 201


def test_run_killed_mid_way_is_failed_on_worker_restart_and_can_start_again():
    dead = TrainingRun.objects.create(status="running", config={"worker": "celery@gpu1"})
    other = TrainingRun.objects.create(status="succeeded")
    with pytest.raises(services.RunAlreadyActive):
        services.start_run(enqueue=False)
    assert services.fail_orphaned_runs(worker="celery@gpu2") == 0   # another machine's worker: not its run
    assert services.fail_orphaned_runs(worker="celery@gpu1") == 1
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error == "worker stopped mid-run; start again"
    other.refresh_from_db()
    assert other.status == "succeeded"
    assert services.start_run(enqueue=False).status == "queued"


def test_bad_input_gets_a_clear_error(staff_client):
    response = staff_client.post("/api/training-runs/", {"export": 999}, content_type="application/json")
    assert response.status_code == 400 and "export 999 does not exist" in response.json()["detail"]
    response = staff_client.post("/api/training-runs/", {"epochs": 0}, content_type="application/json")
    assert response.status_code == 400
    assert TrainingRun.objects.count() == 0


def test_run_page_and_partial_render(staff_client):
    run = TrainingRun.objects.create(status="running", progress=40, config={"train": {"epochs": 5}}, history=[
        {"epoch": 1, "epochs": 5, "train_loss": 2.0, "val_loss": 1.9, "val_uar": 0.3, "best_epoch": 1,
         "best_val_uar": 0.3, "seconds": 1.0}])
    page = staff_client.get(f"/models/runs/{run.id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="run-chart"' in html and "Cancel run" in html and "training_run.js" in html
    assert f'data-api="/api/training-runs/{run.id}/"' in html
    listing = staff_client.get("/models/runs/").content.decode()
    assert "Retrain" in listing and f"/models/runs/{run.id}/" in listing
    assert "a training run is already running" in listing  # the button explains why it is disabled
    data = staff_client.get(f"/api/training-runs/{run.id}/").json()
    assert data["history"][0]["val_uar"] == 0.3 and data["progress"] == 40


# A built export whose splits are large enough (the run is never trained here).
SEED_EXPORT = ("from annotation.models import Export as E; print(E.objects.create(status='succeeded', "
               "file='exports/x.zip', counts={'splits': {'train': 40, 'val': 8, 'test': 8}}).id)")
RACE = """
import os, time
from inference.student import services
time.sleep(max(0.0, float(os.environ["GO_AT"]) - time.time()))
try:
    print("started", services.start_run(export_id=int(os.environ["EXPORT"]), enqueue=False).id)
except services.RunAlreadyActive as exc:
    print("busy:", exc)
"""


@pytest.mark.worker
@pytest.mark.backends
def test_concurrent_clicks_start_one_run_and_a_dead_run_is_failed_on_worker_start(tmp_path_factory):
    """On a real database (file, or DATABASE_URL) and a real worker:
    1. two processes click Retrain at the same instant: one run starts, the other is told why;
    2. that run is left 'running' (its worker died); the next worker start marks it
       failed with the reason, and Retrain works again."""
    from tests.conftest import LiveWorker, wait_for

    worker = LiveWorker(tmp_path_factory.mktemp("student-worker"))
    worker.manage("migrate", "--noinput", "-v", "0")
    export = worker.manage("shell", "-c", SEED_EXPORT).stdout.strip().splitlines()[-1]
    env = {**worker.env, "GO_AT": str(time.time() + 8), "EXPORT": export}
    procs = [subprocess.Popen([sys.executable, "manage.py", "shell", "-c", RACE], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    lines = sorted(out.strip().splitlines()[-1] for out, _ in outs)
    assert lines[0] == "busy: a training run is already running", outs
    assert lines[1].startswith("started "), outs

    worker.manage("shell", "-c", "from inference.models import TrainingRun as T; "
                                 "T.objects.update(status='running', progress=40)")
    read = "from inference.models import TrainingRun as T; r = T.objects.get(); print(r.status + '|' + r.error)"
    try:
        worker.start()
        status = wait_for(lambda: (out := worker.manage("shell", "-c", read).stdout.strip().splitlines()[-1])
                          .startswith("failed") and out, timeout=120, interval=1.0)
    finally:
        worker.stop()
    assert status == "failed|worker stopped mid-run; start again", worker.logs()
    again = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", RACE], cwd=ROOT, env={**worker.env, "GO_AT": "0", "EXPORT": export},
        capture_output=True, text=True, timeout=120)
    assert again.stdout.strip().splitlines()[-1].startswith("started "), again.stdout + again.stderr


def test_too_little_data_is_refused_before_it_starts(staff_client, settings):
    settings.STUDENT_MIN_EVAL_SEGMENTS = 10   # 30 segments cannot give 10 test segments of other speakers
    response = staff_client.post("/api/training-runs/", {}, content_type="application/json")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("Not enough labelled data for a fair test") and "test 3 (needs 10)" in detail
    page = staff_client.post("/models/runs/start/", follow=True)
    assert b"Not enough labelled data for a fair test" in page.content
    settings.STUDENT_MIN_EVAL_SEGMENTS = 1    # never a one-segment test set, whatever the setting says
    from inference.student.release import split_problem
    assert "test 1 (needs 2)" in split_problem({"train": 40, "val": 5, "test": 1})
    assert TrainingRun.objects.count() == 0
