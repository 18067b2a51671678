"""Import through a real Celery worker (own database, broker and media):
URLs queued by the command are downloaded on the io queue, and a worker
killed mid-download leaves a video that runs again when a worker starts."""

import json
import signal
import sqlite3

import pytest

from tests.conftest import wait_for
from tests.import_helpers import *  # noqa: F401,F403

pytestmark = [pytest.mark.worker]

STATUS = ("import json; from clips.models import Video; "
          "print(json.dumps({v.source_url: [v.status, v.stage, v.error, bool(v.audio), v.progress] "
          "for v in Video.objects.all()}))")


def statuses(worker) -> dict:
    """source_url -> [status, stage, error, has WAV, progress], read from the worker's database
    (directly when it is SQLite: a `manage.py shell` per poll costs seconds)."""
    db = worker.env["DATABASE_URL"]
    if db.startswith("sqlite:///"):
        with sqlite3.connect(db[len("sqlite:///"):], timeout=30) as con:
            rows = con.execute("select source_url, status, stage, error, audio, progress from clips_video")
            return {r[0]: [r[1], r[2], r[3], bool(r[4]), r[5]] for r in rows}
    return json.loads(worker.manage("shell", "-c", STATUS).stdout.strip().splitlines()[-1])


def test_worker_imports_urls_and_recovers_from_being_killed(live_worker, media_server):
    good, bad, slow = media_server.url("talk2.mp4"), media_server.url("absent.mp4"), media_server.url("slow/talk.mp4")
    # Let the worker create its broker queues first: kombu's SQL transport fails
    # when a producer and a starting worker create the same queue row at once.
    wait_for(lambda: "ready." in live_worker.logs(), timeout=120, interval=0.3)
    result = live_worker.manage("import_clips", good, bad, slow, "--json")
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    # The command reports each video as it is now: a fast worker (Redis in CI)
    # may already have started, or even finished, the first ones.
    assert len(rows) == 3 and all(isinstance(r["id"], int) for r in rows), rows
    assert rows[2]["status"] in ("queued", "downloading"), rows  # the slow one cannot be done yet

    wait_for(lambda: statuses(live_worker).get(slow, [""])[0] == "downloading", timeout=120, interval=0.2)
    live_worker.proc.send_signal(signal.SIGKILL)  # no clean shutdown: the task is lost mid-download
    live_worker.proc.wait(timeout=10)
    live_worker.log.close()
    state = statuses(live_worker)
    assert state[slow][0] == "downloading"
    assert state[good][0] in ("segmenting", "prelabelling", "ready") and state[good][3], state[good]
    assert state[bad][:3] == ["failed", "", "The video was removed or does not exist."]

    live_worker.start()  # worker_ready: back to queued, partial files removed, enqueued again
    done = wait_for(lambda: (s := statuses(live_worker))[slow][0] not in ("queued", "downloading") and s,
                    timeout=180, interval=0.3)
    status, stage, error, has_audio, _ = done[slow]
    assert status != "failed" or not error.startswith(("Network", "Not a video")), error
    assert stage and has_audio, (done[slow], live_worker.logs()[-3000:])
    assert "re-queued interrupted imports" in live_worker.logs()
    incoming = live_worker.workdir / "media" / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())
