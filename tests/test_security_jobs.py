"""Probe 4 (in the web process): a video whose lease ran out is requeued once
per lease, whoever asks, and its page offers Retry as for a failed one."""

import itertools
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from clips import recovery
from clips.models import Video

pytestmark = [pytest.mark.security, pytest.mark.django_db]
_ids = itertools.count()


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(recovery, "resend", lambda video: calls.append((video.pk, video.status)))
    return calls


def stuck_video(status=Video.Status.SEGMENTING, minutes=60):
    video = Video.objects.create(extractor="t", external_id=f"x{next(_ids)}", status=status, stage="audio")
    Video.objects.filter(pk=video.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))
    return Video.objects.get(pk=video.pk)


def test_stalled_videos_are_requeued_once_per_lease(sent, settings):
    settings.PIPELINE_LEASE_SECONDS = 600
    stuck = [stuck_video(status) for status in recovery.ACTIVE]
    fresh = stuck_video(Video.Status.SEGMENTING, minutes=1)
    done = stuck_video(Video.Status.READY)
    assert sorted(recovery.requeue_stalled()) == sorted(v.pk for v in stuck)
    assert recovery.requeue_stalled() == []  # the lease was renewed by the first sweep
    assert fresh.pk not in [pk for pk, _ in sent] and done.pk not in [pk for pk, _ in sent]


def test_two_sweepers_racing_requeue_a_video_once(sent):
    video = stuck_video()
    stale_copy = Video.objects.get(pk=video.pk)
    assert recovery.retry_stalled(video)
    assert not recovery._claim(stale_copy)  # another worker read the same row: it loses
    assert len(sent) == 1


@pytest.mark.django_db(transaction=True)  # the heartbeat writes from its own thread
def test_heartbeat_keeps_the_lease_while_work_runs(settings):
    video = stuck_video(minutes=60)
    with recovery.heartbeat(video.pk, interval=0.05):
        time.sleep(0.3)
    video.refresh_from_db()
    assert not recovery.is_stalled(video)


def test_video_page_offers_retry_for_a_stuck_video(staff_client, sent):
    video = stuck_video()
    page = staff_client.get(f"/videos/{video.pk}/").content.decode()
    assert 'id="stalled"' in page and f'action="/videos/{video.pk}/retry/"' in page
    response = staff_client.post(f"/videos/{video.pk}/retry/", {"next": f"/videos/{video.pk}/"})
    assert response.status_code == 302 and sent == [(video.pk, Video.Status.SEGMENTING)]


def test_a_working_video_has_no_retry(staff_client, sent):
    video = stuck_video(minutes=0)
    page = staff_client.get(f"/videos/{video.pk}/").content.decode()
    assert 'id="stalled"' not in page and f'action="/videos/{video.pk}/retry/"' not in page
    staff_client.post(f"/videos/{video.pk}/retry/")
    assert sent == []


def test_two_runs_of_one_video_take_their_stages_one_at_a_time(settings, tmp_path):
    """A requeued chain that meets the one it replaces waits for the running stage
    (then finds it done) instead of writing over its rows."""
    import threading

    settings.MEDIA_ROOT = tmp_path
    order, inside = [], threading.Event()

    def first():
        with recovery.video_lock(7):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    runner = threading.Thread(target=first)
    runner.start()
    inside.wait(5)
    with recovery.video_lock(7):
        order.append("second in")
    with recovery.video_lock(8):  # another video never waits
        pass
    runner.join()
    assert order == ["first done", "second in"]


@pytest.mark.backends
@pytest.mark.django_db(transaction=True)
def test_workers_on_two_machines_take_one_video_in_turn(settings, tmp_path):
    """Two MEDIA_ROOTs stand for two machines whose file locks do not meet:
    on PostgreSQL the database still lets one stage of a video run at a time."""
    from django.db import connection
    if connection.vendor != "postgresql":
        pytest.skip("file locks are the only lock on a single-machine SQLite set-up")
    import threading

    order = []

    def second():
        with recovery.video_lock(7):
            order.append("second in")
        with recovery.video_lock(8):
            order.append("other video")
        connection.close()

    settings.MEDIA_ROOT = tmp_path / "machine-a"
    with recovery.video_lock(7):
        settings.MEDIA_ROOT = tmp_path / "machine-b"
        runner = threading.Thread(target=second)
        runner.start()
        time.sleep(0.5)
        order.append("first done")
    runner.join(10)
    assert order == ["first done", "second in", "other video"]
