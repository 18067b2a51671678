"""Prelabels from the active student for segments the face teacher cannot see."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q

from clips.models import Segment
from inference.models import ModelVersion, Prelabel
from inference.registry import active_model, read_weights
from labelstudio_emo.emotions import EMOTIONS

from .features import read_audio
from .predict import Student, load_student

log = logging.getLogger(__name__)

_CACHE: dict[tuple[int, str], Student] = {}
_LOCK = threading.Lock()


def active_student() -> ModelVersion | None:
    return active_model(ModelVersion.Kind.STUDENT)


def load_version(version: ModelVersion) -> Student:
    """The student of a ModelVersion, loaded once per process (keyed by id +
    sha256; the registry checks the file against its sha256)."""
    key = (version.id, version.sha256)
    with _LOCK:
        if key not in _CACHE:
            student = load_student(read_weights(version))
            _CACHE.clear()  # keep one student in memory
            _CACHE[key] = student
        return _CACHE[key]


def entropy(probs: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, float), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum())


def prelabel_segments(segments, version: ModelVersion) -> int:
    """Write (or refresh) one Prelabel per segment with audio from `version`."""
    segments = [s for s in segments if s.audio]
    if not segments:
        return 0
    student = load_version(version)
    if student.head is not None:  # encoder frames from the feature cache (encoded now if missing)
        from .encoding import segment_features
        by_id = segment_features(segments, student.encoder)
        kept = [s for s in segments if s.pk in by_id]
        feats = [by_id[s.pk] for s in kept]
    else:
        waves, kept = [], []
        for segment in segments:
            try:
                with default_storage.open(segment.audio.name, "rb") as fh:
                    waves.append(read_audio(fh.read(), student.features.sample_rate))
                kept.append(segment)
            except (OSError, ValueError) as exc:
                log.warning("segment %s: cannot read audio for the student: %s", segment.pk, exc)
        feats = student.featurize(waves)
    if not kept:
        return 0
    probs, va = student.predict_features(feats)
    with transaction.atomic():
        for segment, p, (valence, arousal) in zip(kept, probs, va):
            top = int(np.argmax(p))
            Prelabel.objects.update_or_create(segment=segment, model_version=version, defaults={
                "probs": [float(x) for x in p], "category": EMOTIONS[top], "confidence": float(p[top]),
                "valence": float(np.clip(valence, -1, 1)), "arousal": float(np.clip(arousal, -1, 1)),
                "va_derived": False, "entropy": entropy(p),
            })
    return len(kept)


def offscreen_segments(video_id: int):
    """Segments without face crops (off-screen speech or faces too poor to crop)."""
    segments = Segment.objects.filter(video_id=video_id).order_by("start")
    return [s for s in segments if not s.face_crops]


def student_labels_every_segment() -> bool:
    """With ANNOTATION_QUEUE_ORDER="disagreement" the queue compares teacher and
    student on the same segments, so the student prelabels on-screen ones too."""
    return getattr(settings, "ANNOTATION_QUEUE_ORDER", "entropy") == "disagreement"


def prelabel_offscreen(video_id: int) -> int:
    """Prelabel the video's segments that have no face crops with the active
    student (every segment in disagreement-queue mode); returns how many were
    prelabelled (0 when no student is active)."""
    version = active_student()
    if version is None:
        return 0
    if student_labels_every_segment():
        return prelabel_segments(Segment.objects.filter(video_id=video_id).order_by("start"), version)
    return prelabel_segments(offscreen_segments(video_id), version)


def prelabel_missing(batch: int = 256) -> int:
    """Prelabel, with the active student, the existing segments it should
    cover but has not yet (after a first student is activated)."""
    version = active_student()
    if version is None:
        return 0
    todo = Segment.objects.exclude(audio="").exclude(prelabels__model_version=version).order_by("id")
    if not student_labels_every_segment():
        todo = todo.filter(Q(face_crops=[]) | Q(face_crops__isnull=True))
    done, ids = 0, list(todo.values_list("id", flat=True))
    for start in range(0, len(ids), batch):
        done += prelabel_segments(Segment.objects.filter(id__in=ids[start:start + batch]), version)
    return done


def disagreement(teacher_probs, student_probs) -> float:
    """Jensen-Shannon divergence (nats, 0..ln 2) between two opinions; the
    annotation queue may show high-disagreement segments first."""
    p, q = np.asarray(teacher_probs, float), np.asarray(student_probs, float)
    m = (p + q) / 2
    def kl(a, b):
        a, b = np.clip(a, 1e-12, 1), np.clip(b, 1e-12, 1)
        return float((a * np.log(a / b)).sum())
    value = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return float(min(max(value, 0.0), math.log(2)))
