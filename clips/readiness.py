"""A video turns ready: the one place that says so, and the signal later
stages listen to (the annotation queue ranks the new segments in the worker
that finished the video, so the next annotator does not wait for it)."""

import logging

from django.dispatch import Signal
from django.utils import timezone

from .models import Video

log = logging.getLogger(__name__)

# Sent with video_id once the video is marked ready (receivers run in the same process, after).
video_ready = Signal()


def mark_ready(video_id: int, notes: list | None = None) -> None:
    """The video's last stage is done: annotators may be given its segments."""
    Video.objects.filter(pk=video_id).update(
        status=Video.Status.READY, stage=Video.Stage.PRELABELLED, progress=100, notes=notes or [], error="",
        updated_at=timezone.now())
    for receiver, result in video_ready.send_robust(sender=Video, video_id=video_id):
        if isinstance(result, Exception):  # the video stays ready; the queue catches up on its next read
            log.error("video %s ready: %s failed: %r", video_id, getattr(receiver, "__name__", receiver), result)
