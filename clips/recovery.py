"""Leases: a video being worked on must show signs of life, or it is queued again.

A task working on a video holds a lease: `heartbeat(video_id)` refreshes
Video.updated_at every PIPELINE_LEASE_SECONDS / 4 from a side thread while the
work runs. A process killed with SIGKILL (OOM killer, `kill -9`, a machine
reset) stops its heartbeat; the embedded broker never redelivers the message
it held, so `requeue_stalled` (run when a worker starts and every
PIPELINE_SWEEP_SECONDS in every worker) sends the work again. Every stage
skips what is already finished and replaces its own rows, so a duplicate
message costs a no-op, never duplicate rows; the conditional update on
updated_at lets only one worker requeue a given video per lease.

A requeue can still meet the work it replaces (a message that was only
waiting in the queue has no heartbeat): `video_lock` makes every stage of one
video run one at a time on this machine, and a stage re-checks after the lock
whether it is still pending. The kernel frees the lock of a killed process.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections
from django.utils import timezone

from .models import Video

log = logging.getLogger(__name__)

ACTIVE = (Video.Status.QUEUED, Video.Status.DOWNLOADING, Video.Status.SEGMENTING, Video.Status.PRELABELLING)


def lease_seconds() -> float:
    return float(getattr(settings, "PIPELINE_LEASE_SECONDS", 600))


def sweep_seconds() -> float:
    return float(getattr(settings, "PIPELINE_SWEEP_SECONDS", 120))


# First key of PostgreSQL's two-key advisory locks: this project's video locks.
ADVISORY_LOCK_NAMESPACE = 0x4C53_45  # "LSE"


@contextmanager
def video_lock(video_id: int):
    """Hold this video's exclusive lock while the body runs: a flock on
    MEDIA_ROOT/locks/, and on PostgreSQL also an advisory lock, so workers on
    several machines exclude each other even where the shared media
    filesystem does not pass flocks between machines."""
    folder = Path(settings.MEDIA_ROOT) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"video-{int(video_id)}.lock", "a") as handle, _database_lock(video_id):
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits while another stage of this video runs
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _database_lock(video_id: int):
    """pg_advisory_lock on a connection of its own: the task's connection may be
    closed and reopened mid-stage, which would drop a session lock silently. A
    killed worker's connection ends, and PostgreSQL frees the lock with it."""
    if connection.vendor != "postgresql":
        yield
        return
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, int(video_id)])
        yield
    finally:
        own.close()  # ends the session, which releases the lock


@contextmanager
def heartbeat(video_id: int, interval: float | None = None):
    """Keep the video's lease while the body runs (a side thread touches updated_at)."""
    interval = interval or max(0.5, lease_seconds() / 4)
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(interval):
                try:
                    Video.objects.filter(pk=video_id).update(updated_at=timezone.now())
                except Exception:  # e.g. a busy database: one lost beat, try again next time
                    log.warning("heartbeat for video %s missed a beat", video_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"lease-{video_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def is_stalled(video: Video, now=None) -> bool:
    """Working (queued to prelabelling) but no sign of life for a whole lease."""
    now = now or timezone.now()
    return video.status in ACTIVE and video.updated_at < now - timedelta(seconds=lease_seconds())


def _claim(video: Video) -> bool:
    """Take the requeue for this lease period; False when another worker did."""
    return bool(Video.objects.filter(pk=video.pk, status=video.status, updated_at=video.updated_at)
                .update(updated_at=timezone.now()))


def resend(video: Video) -> None:
    """Send the message for where the video stands (stages skip finished work)."""
    # Here, not at the top: the task modules import this one (heartbeat).
    from .importing import files
    from .importing.tasks import import_video
    from .pipeline import PRELABEL_TASK
    from .segmentation.tasks import enqueue_segmentation
    if video.status == Video.Status.DOWNLOADING:
        files.remove_incoming(video.pk)
        Video.objects.filter(pk=video.pk, status=Video.Status.DOWNLOADING).update(
            status=Video.Status.QUEUED, progress=0, updated_at=timezone.now())
        import_video.delay(video.pk)
    elif video.status == Video.Status.QUEUED:
        import_video.delay(video.pk)  # claim() makes a duplicate message a no-op
    elif video.status == Video.Status.SEGMENTING:
        enqueue_segmentation(video.pk)
    elif video.status == Video.Status.PRELABELLING:
        from labelstudio_emo.celery import app
        app.send_task(PRELABEL_TASK, args=(video.pk,))


def requeue_stalled(now=None) -> list[int]:
    """Send again the work of every video whose lease ran out; returns their ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds())
    requeued = []
    for video in Video.objects.filter(status__in=ACTIVE, updated_at__lt=cutoff).only("pk", "status", "updated_at"):
        if _claim(video):
            resend(video)
            requeued.append(video.pk)
    if requeued:
        log.warning("re-queued videos whose lease ran out: %s", requeued)
    return requeued


def retry_stalled(video: Video) -> bool:
    """The Retry button on a stuck video: the same requeue, now."""
    if not is_stalled(video) or not _claim(video):
        return False
    resend(video)
    return True


def sweep() -> None:
    """One round in a worker's main process; its connection is closed again so
    pool children forked later never share it."""
    try:
        close_old_connections()
        requeue_stalled()
    except Exception:  # never take the worker down; try again next round
        log.exception("lease sweep failed")
    finally:
        connection.close()
