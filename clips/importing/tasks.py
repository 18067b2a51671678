"""Celery tasks of the import (thin: services do the work). Queue: io."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.contrib.auth import get_user_model

from ..recovery import heartbeat
from . import files, services
from .inputs import ImportOptions, SourceRequest
from .sources import TransientImportError

log = logging.getLogger(__name__)

MAX_RETRIES = 4


@shared_task(bind=True, name=services.IMPORT_TASK, acks_late=True,
             autoretry_for=(TransientImportError,), max_retries=MAX_RETRIES,
             retry_backoff=30, retry_backoff_max=15 * 60, retry_jitter=True)
def import_video(self, video_id: int) -> dict:
    """Download/copy, probe and extract the WAV of one video, then hand it to
    segmentation. Only network trouble is retried (with back-off)."""
    try:
        with heartbeat(video_id):
            result = services.run_import(video_id, worker=self.request.hostname or "")
    except TransientImportError as exc:
        attempt = self.request.retries + 1
        if self.request.retries >= self.max_retries:
            services.fail(video_id, f"{exc} Gave up after {attempt} attempts.")
            return {"video_id": video_id, "done": False}
        services.back_to_queue(video_id, f"{exc} Retrying (attempt {attempt} of {self.max_retries + 1}).")
        if self.request.is_eager:  # no broker to schedule it (tests): retry right away
            return import_video.apply(args=(video_id,), retries=attempt).result
        raise  # autoretry_for schedules the retry with exponential back-off
    return {"video_id": video_id, "done": result.done, "spawned": result.spawned,
            "merged_into": result.merged_into}


@shared_task(name="io.submit_rows")
def submit_rows(rows: list[dict], options: dict, user_id: int | None = None) -> dict:
    """A CSV's rows, submitted off the web request: each gets its full check
    (DNS included), a row on the Videos page and its import task."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    opts = ImportOptions.from_dict(options)
    videos = [services.submit_url(SourceRequest(**row), opts, user) for row in rows]
    return {"rows": len(rows), "failed": sum(v.status == v.Status.FAILED for v in videos)}


@worker_ready.connect
def requeue_interrupted_imports(sender=None, **kwargs):
    """A worker killed mid-download leaves `downloading` rows behind: put them
    back in the queue (partial files removed) so they run again."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        ids = services.requeue_interrupted(worker=hostname)
        files.remove_stale_incoming(max_age_s=6 * 3600)
    except Exception:  # the database may not be migrated yet; never stop the worker
        log.exception("could not requeue interrupted imports")
        return
    for video_id in ids:
        import_video.delay(video_id)
    if ids:
        log.info("re-queued interrupted imports: %s", ids)
