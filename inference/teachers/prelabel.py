"""Teacher prelabels for segments (service: reads crops, writes Prelabel).

Each segment's face crops go through the teacher as one batch; the
per-crop predictions are pooled (confidence-weighted mean, see
teachers.base.aggregate) into one Prelabel per (segment, model version).
Re-running updates in place; prelabels of other versions are kept.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

import numpy as np
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from clips.models import Segment, Video
from clips.readiness import mark_ready

from ..models import ModelVersion, Prelabel
from ..registry import active_model, ensure_default_teacher, load_teacher
from ..selectors import with_faces
# The one import of the student from an earlier stage: the prelabel stage runs
# both models, so a video turns ready with every prelabel it will get (the
# student's for off-screen speech) rather than gaining some later.
from ..student.prelabel import prelabel_offscreen
from .base import Prediction, aggregate

log = logging.getLogger(__name__)


def _read_crop(path: str) -> np.ndarray | None:
    try:
        with default_storage.open(path, "rb") as fh, Image.open(fh) as im:
            return np.asarray(im.convert("RGB"))
    except (FileNotFoundError, OSError, UnidentifiedImageError) as exc:
        log.warning("skipping unreadable face crop %s: %s", path, exc)
        return None


def predict_segment(segment: Segment, teacher) -> Prediction | None:
    crops = [c for c in (_read_crop(p) for p in segment.face_crops or []) if c is not None]
    if not crops:
        return None
    return aggregate(teacher.predict(crops))


def prelabel_segments(segments: Iterable[Segment], model_version: ModelVersion | None = None,
                      progress: Callable[[int], None] | None = None) -> int:
    """Prelabel segments with face crops; returns how many got a Prelabel.
    progress(i) is called as the i-th segment (1-based) starts."""
    model_version = model_version or active_model(ModelVersion.Kind.TEACHER) or ensure_default_teacher()
    teacher = load_teacher(model_version)
    done = 0
    for i, segment in enumerate(segments, 1):
        if progress:
            progress(i)
        prediction = predict_segment(segment, teacher)
        if prediction is None:
            continue  # off-screen speech: the student's job
        Prelabel.objects.update_or_create(
            segment=segment, model_version=model_version,
            defaults={"probs": list(prediction.probs), "category": prediction.category,
                      "confidence": prediction.confidence, "valence": prediction.valence,
                      "arousal": prediction.arousal, "va_derived": prediction.va_derived,
                      "entropy": prediction.entropy})
        done += 1
    return done


def _note(notes: list, text: str) -> None:
    if text not in notes:
        notes.append(text)


def prelabel_video(video_id: int) -> int:
    """Prelabel every segment of a video, hand off-screen speech to the
    student when one is active, and mark the video ready."""
    video = Video.objects.get(pk=video_id)
    if video.status != Video.Status.PRELABELLING:
        Video.objects.filter(pk=video_id).update(status=Video.Status.PRELABELLING, updated_at=timezone.now())
    segments = with_faces(video.segments.order_by("start"))
    total, start = segments.count(), min(video.progress or 0, 99)

    def progress(i: int) -> None:  # about every 5 % of the way
        if total and (i == 1 or i % max(total // 20, 1) == 0):
            Video.objects.filter(pk=video_id).update(
                progress=start + (99 - start) * (i - 1) // total, updated_at=timezone.now())

    try:
        teacher_version = active_model(ModelVersion.Kind.TEACHER) or ensure_default_teacher()
        done = prelabel_segments(segments, teacher_version, progress)
    except Exception as exc:
        Video.objects.filter(pk=video_id).update(status=Video.Status.FAILED, error=f"Prelabelling failed: {exc}",
                                                 updated_at=timezone.now())
        raise
    failure = None
    if active_model(ModelVersion.Kind.STUDENT) is not None:
        try:
            prelabel_offscreen(video_id)
        except Exception as exc:  # the teacher's prelabels stand; say what failed
            log.exception("student prelabelling failed for video %s", video_id)
            failure = f"student prelabels failed: {exc}"
    notes = list(Video.objects.values_list("notes", flat=True).get(pk=video_id) or [])
    if failure:
        _note(notes, failure)
    if done == 0 and video.segments.exists():
        _note(notes, "no segment had face crops: no teacher prelabels")
    mark_ready(video_id, notes)
    log.info("video %s: %d segments prelabelled by %s", video_id, done, teacher_version)
    return done


def prelabel_all(model_version: ModelVersion | None = None) -> dict:
    """Re-prelabel every segment with face crops (after switching teacher)."""
    model_version = model_version or active_model(ModelVersion.Kind.TEACHER) or ensure_default_teacher()
    done = prelabel_segments(with_faces(Segment.objects.order_by("video_id", "start")).iterator(), model_version)
    return {"model_version": model_version.pk, "segments": done}


