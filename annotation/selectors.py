"""Read-only queries of the annotation app (HackSoft "selectors").

Which prelabel an annotator is shown, what they did today, which segments
need a reviewer, and the flat rows the agreement maths runs on.
"""

import json
from dataclasses import dataclass
from datetime import datetime, time
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, FilteredRelation, Prefetch, Q
from django.utils import timezone

from clips.models import FaceTrack, Segment, Video
from inference.models import ModelVersion, Prelabel
from inference.selectors import counting_prelabel_order_sql, current_model_id

from .export.aggregate import majority
from .models import Assignment, GoldLabel, Label, LabelHistory, ReviewedLabel


def _json(value):
    """A JSON column read with plain SQL: text on SQLite and (as Django sets it up) on PostgreSQL."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


# --- prelabels ---------------------------------------------------------------

@dataclass(frozen=True)
class ShownPrelabel:
    """The prelabel an annotator is shown, flattened (it is read on every queue request)."""

    id: int
    segment_id: int
    category: str
    confidence: float
    valence: float
    arousal: float
    probs: list[float]
    model: str  # name@version


def prelabel_for(segment_id: int) -> ShownPrelabel | None:
    """The prelabel that counts for the segment (inference.selectors). One
    indexed read in plain SQL: the ORM's compile step cost more than the query."""
    prelabel, model, segment = Prelabel._meta.db_table, ModelVersion._meta.db_table, Segment._meta.db_table
    order, order_params = counting_prelabel_order_sql("p", "m", "s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.id, p.segment_id, p.category, p.confidence, p.valence, p.arousal, p.probs, m.name, m.version "
            f"FROM {prelabel} p JOIN {model} m ON m.id = p.model_version_id JOIN {segment} s ON s.id = p.segment_id "
            f"WHERE p.segment_id = %s ORDER BY {order} LIMIT 1", [segment_id, *order_params])
        row = cursor.fetchone()
    if row is None:
        return None
    *fields, probs, name, version = row
    return ShownPrelabel(*fields, probs=_json(probs), model=f"{name}@{version}")


def prelabels_hidden() -> bool:
    return bool(getattr(settings, "ANNOTATION_HIDE_PRELABELS", False))


# --- what the page plays ------------------------------------------------------

class SegmentRow(NamedTuple):
    """What the annotation page needs of a segment and its video, flat (read
    with every assignment, so it comes from one join, not two model loads)."""

    id: int
    video_id: int
    video_title: str
    start: float
    end: float
    box: list | None
    audio: str  # storage path of the segment's own clip, "" if none
    face_crops: list
    face_track_id: int | None
    video_file: str
    video_audio: str
    has_video: bool
    width: int | None
    height: int | None
    track_boxes: list | None = None  # the face track's [[t, top, right, bottom, left], ...]

    @classmethod
    def of(cls, segment: Segment) -> "SegmentRow":
        video = segment.video
        track = segment.face_track if segment.face_track_id else None
        return cls(segment.pk, segment.video_id, video.title, segment.start, segment.end, segment.box,
                   segment.audio.name or "", list(segment.face_crops or []), segment.face_track_id,
                   video.file.name or "", video.audio.name or "", video.has_video, video.width, video.height,
                   track.boxes if track else None)


def segment_row(segment_id: int) -> SegmentRow | None:
    """One indexed join in plain SQL (read on every queue request)."""
    segment, video, end = Segment._meta.db_table, Video._meta.db_table, connection.ops.quote_name("end")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.video_id, v.title, s.start, s.{end}, s.box, s.audio, s.face_crops, s.face_track_id, "
            f"v.file, v.audio, v.has_video, v.width, v.height, t.boxes FROM {segment} s "
            f"JOIN {video} v ON v.id = s.video_id LEFT JOIN {FaceTrack._meta.db_table} t ON t.id = s.face_track_id "
            f"WHERE s.id = %s", [segment_id])
        row = cursor.fetchone()
    if row is None:
        return None
    (pk, video_id, title, start, stop, box, audio, crops, track, file, video_audio, has_video, width,
     height, track_boxes) = row
    return SegmentRow(pk, video_id, title, start, stop, _json(box), audio or "", _json(crops) or [], track,
                      file or "", video_audio or "", bool(has_video), width, height, _json(track_boxes))


# --- the annotator's own work ----------------------------------------------------

def labels_done_today(user, now: datetime | None = None) -> int:
    """Labels the user created since local midnight (settings.TIME_ZONE)."""
    now = timezone.localtime(now or timezone.now())
    midnight = timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)
    with connection.cursor() as cursor:  # plain SQL: read on every queue request (index annotator, created_at)
        cursor.execute(f"SELECT COUNT(*) FROM {Label._meta.db_table} WHERE annotator_id = %s AND created_at >= %s",
                       [user.pk, connection.ops.adapt_datetimefield_value(midnight)])
        return cursor.fetchone()[0]


def recent_labels(user):
    """The user's labels, last created first (U walks back through them)."""
    return (Label.objects.filter(annotator=user).select_related("segment__video")
            .order_by("-created_at", "-id"))


def assignment_for_label(label: Label) -> Assignment | None:
    return Assignment.objects.filter(segment_id=label.segment_id, annotator_id=label.annotator_id).first()


# --- review ---------------------------------------------------------------------

@dataclass
class ReviewRow:
    segment: Segment
    n_labels: int
    categories: dict[str, int]
    majority: str | None
    vote_share: float | None
    valence_spread: float
    arousal_spread: float
    disagreement: float
    reviewed: bool
    gold: bool


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) if len(values) > 1 else 0.0


def review_rows(only_open: bool = False) -> list[ReviewRow]:
    """Labelled segments, most disputed first.

    Disagreement = share of labels outside the majority category plus half the
    mean V/A range (both in [0, 1]); a segment everyone agrees on scores 0.
    """
    segments = (Segment.objects.filter(labels__isnull=False).distinct()
                .select_related("video", "review", "gold")
                .prefetch_related(Prefetch("labels", queryset=Label.objects.only(
                    "segment_id", "category", "valence", "arousal"))))
    rows = []
    for segment in segments:
        labels = list(segment.labels.all())
        cats: dict[str, int] = {}
        for label in labels:
            cats[label.category] = cats.get(label.category, 0) + 1
        top, count = majority(label.category for label in labels)
        share = count / len(labels) if labels else None
        v_spread = _spread([label.valence for label in labels])
        a_spread = _spread([label.arousal for label in labels])
        reviewed = hasattr(segment, "review")
        if only_open and reviewed:
            continue
        rows.append(ReviewRow(segment, len(labels), cats, top, share, v_spread, a_spread,
                              (1 - (share or 1)) + (v_spread + a_spread) / 4, reviewed,
                              hasattr(segment, "gold")))
    # Disputed first; among equals, more raters first (their disagreement is better evidence).
    rows.sort(key=lambda r: (r.reviewed, -round(r.disagreement, 6), -r.n_labels, r.segment.pk))
    return rows


def segment_labels_with_history(segment_id: int) -> list[Label]:
    return list(Label.objects.filter(segment_id=segment_id).select_related("annotator")
                .prefetch_related(Prefetch("history", queryset=LabelHistory.objects
                                           .select_related("edited_by").order_by("-edited_at", "-id")))
                .order_by("created_at"))


# --- agreement inputs -------------------------------------------------------------

@dataclass(frozen=True)
class LabelRow:
    """One human label flattened for the agreement maths (annotator by name)."""

    annotator: str
    segment_id: int
    category: str
    valence: float
    arousal: float
    seconds_spent: float
    shown_category: str | None  # the prelabel the annotator saw, if any
    teacher_category: str | None  # the segment's current teacher prelabel
    gold_category: str | None
    gold_valence: float | None
    gold_arousal: float | None


def agreement_rows() -> list[LabelRow]:
    """All labels, each with the current teacher's category for its segment
    (a join on the prelabel (segment, model) unique index)."""
    teacher_id = current_model_id(ModelVersion.Kind.TEACHER)
    rows = (Label.objects
            .annotate(teacher=FilteredRelation("segment__prelabels",
                                               condition=Q(segment__prelabels__model_version_id=teacher_id)))
            .annotate(teacher_category=F("teacher__category"))
            .values_list("annotator__username", "segment_id", "category", "valence", "arousal",
                         "seconds_spent", "prelabel_shown__category", "teacher_category",
                         "segment__gold__category", "segment__gold__valence", "segment__gold__arousal")
            .order_by("segment_id", "annotator__username"))
    return [LabelRow(*row) for row in rows]


def queue_overview() -> dict:
    """How far the corpus is: segments by number of labels collected."""
    k = settings.ANNOTATION_LABELS_PER_SEGMENT
    per_segment = list(Segment.objects.annotate(n=Count("labels")).values_list("n", flat=True))
    counts = {"total": len(per_segment), "complete": sum(1 for n in per_segment if n >= k),
              "started": sum(1 for n in per_segment if n > 0)}
    counts["reviewed"] = ReviewedLabel.objects.count()
    counts["gold"] = GoldLabel.objects.count()
    counts["labels"] = Label.objects.count()
    counts["k"] = k
    return counts
