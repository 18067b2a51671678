"""Celery tasks (thin: they call services and pipeline functions)."""

from celery import shared_task

from clips.recovery import heartbeat, video_lock
from inference.models import ModelVersion

# The prelabel module (torch, the models) is imported by the task bodies: views import
# this module to queue the tasks, and a web process never runs a model.


@shared_task(name="gpu.prelabel_video")
def prelabel_video_task(video_id: int) -> int:
    """Teacher (and student) prelabels for one video; marks it ready."""
    from inference.teachers.prelabel import prelabel_video

    with video_lock(video_id), heartbeat(video_id):
        return prelabel_video(video_id)


@shared_task(name="gpu.prelabel_all")
def prelabel_all_task(model_version_id: int | None = None) -> dict:
    """Re-prelabel every segment with faces using the given (or active) teacher."""
    from inference.teachers.prelabel import prelabel_all

    version = ModelVersion.objects.get(pk=model_version_id) if model_version_id else None
    return prelabel_all(version)
