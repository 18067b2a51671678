"""Read-only queries of the annotation app (HackSoft "selectors").

Which prelabel an annotator is shown, what they did today, which segments
need a reviewer, and the flat rows the agreement maths runs on.
"""

import json
from dataclasses import dataclass
from datetime import datetime, time
from itertools import groupby
from operator import itemgetter
from typing import Iterator, NamedTuple

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, F, FilteredRelation, Prefetch, Q, Sum
from django.db.models.functions import Abs
from django.utils import timezone

from clips.models import FaceTrack, Segment, Video
from inference.models import ModelVersion, Prelabel
from inference.selectors import counting_prelabel_order_sql, current_model_id

from .agreement import LabelRow, RaterTotals, TeacherCount, UnitLabel
from .models import Assignment, GoldLabel, Label, LabelHistory, ReviewedLabel, SegmentAggregate


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

REVIEW_ORDER = ("reviewed", "-disagreement", "-n_labels", "segment_id")  # the index segmentaggregate_review
REVIEW_PAGE_SIZE = 50


def review_rows(only_open: bool = False):
    """Labelled segments, most disputed first; among equals, more raters first
    (their disagreement is better evidence). Reads the per-segment summaries
    (annotation/segment_aggregates.py)."""
    rows = SegmentAggregate.objects.order_by(*REVIEW_ORDER)
    return rows.filter(reviewed=False) if only_open else rows


def review_page(only_open: bool, number) -> Page:
    """One page of review_rows(): its ids from the summary index alone (a deep
    OFFSET joined to segments and videos made PostgreSQL sort the table), then
    those rows with their segment and video."""
    page = Paginator(review_rows(only_open).values_list("segment_id", flat=True), REVIEW_PAGE_SIZE).get_page(number)
    ids = list(page.object_list)
    rows = SegmentAggregate.objects.select_related("segment__video").in_bulk(ids)
    page.object_list = [rows[pk] for pk in ids if pk in rows]
    return page


def next_open_segment(after_id: int) -> int | None:
    """The most disputed segment not yet reviewed, other than `after_id`."""
    return review_rows(only_open=True).exclude(segment_id=after_id).values_list("segment_id", flat=True).first()


def segment_labels_with_history(segment_id: int) -> list[Label]:
    return list(Label.objects.filter(segment_id=segment_id).select_related("annotator")
                .prefetch_related(Prefetch("history", queryset=LabelHistory.objects
                                           .select_related("edited_by").order_by("-edited_at", "-id")))
                .order_by("created_at"))


# --- agreement inputs -------------------------------------------------------------

def _with_teacher_category(labels):
    """Each label with the current teacher's category for its segment (a join
    on the prelabel (segment, model) unique index)."""
    teacher_id = current_model_id(ModelVersion.Kind.TEACHER)
    return (labels.annotate(teacher=FilteredRelation("segment__prelabels",
                                                     condition=Q(segment__prelabels__model_version_id=teacher_id)))
            .annotate(teacher_category=F("teacher__category")))


def agreement_rows() -> list[LabelRow]:
    """All labels flattened, in memory (small corpora, checks); the report
    itself streams agreement_units() and counts the rest in SQL."""
    rows = (_with_teacher_category(Label.objects)
            .values_list("annotator__username", "segment_id", "category", "valence", "arousal",
                         "seconds_spent", "prelabel_shown__category", "teacher_category",
                         "segment__gold__category", "segment__gold__valence", "segment__gold__arousal")
            .order_by("segment_id", "annotator__username"))
    return [LabelRow(*row) for row in rows]


def agreement_units(chunk_size: int = 5000) -> Iterator[list[UnitLabel]]:
    """The labels of each non-gold segment, one segment at a time, streamed
    (a server-side cursor on PostgreSQL): memory holds one chunk, not the corpus."""
    rows = (Label.objects.filter(segment__gold__isnull=True).order_by("segment_id")
            .values_list("segment_id", "annotator__username", "category", "valence", "arousal")
            .iterator(chunk_size=chunk_size))
    for _, labels in groupby(rows, key=itemgetter(0)):
        yield [UnitLabel(name, category, valence, arousal) for _, name, category, valence, arousal in labels]


def rater_totals() -> list[RaterTotals]:
    """Per-annotator counts in one GROUP BY: labels, time, prelabels accepted, gold."""
    gold_v, gold_a = Q(segment__gold__valence__isnull=False), Q(segment__gold__arousal__isnull=False)
    rows = (Label.objects.order_by().values("annotator__username").annotate(
        n_labels=Count("pk"), seconds=Sum("seconds_spent"),
        n_shown=Count("pk", filter=Q(prelabel_shown__isnull=False)),
        n_accepted=Count("pk", filter=Q(prelabel_shown__category=F("category"))),
        gold_n=Count("pk", filter=Q(segment__gold__isnull=False)),
        gold_correct=Count("pk", filter=Q(segment__gold__category=F("category"))),
        gold_valence_n=Count("pk", filter=gold_v),
        gold_valence_error=Sum(Abs(F("valence") - F("segment__gold__valence")), filter=gold_v),
        gold_arousal_n=Count("pk", filter=gold_a),
        gold_arousal_error=Sum(Abs(F("arousal") - F("segment__gold__arousal")), filter=gold_a)))
    return [RaterTotals(rater=row.pop("annotator__username"), **{k: v or 0 for k, v in row.items()})
            for row in rows]


def teacher_counts() -> list[TeacherCount]:
    """Labels per (current teacher's category, human category, prelabel shown or not)."""
    rows = (_with_teacher_category(Label.objects).order_by()
            .annotate(shown=ExpressionWrapper(Q(prelabel_shown__isnull=False), output_field=BooleanField()))
            .values_list("teacher_category", "category", "shown").annotate(n=Count("pk")))
    return [TeacherCount(teacher, category, bool(shown), n) for teacher, category, shown, n in rows]


def queue_overview() -> dict:
    """How far the corpus is: segments by number of labels collected (from the
    per-segment summaries: a few counts, not a pass over the labels)."""
    k = settings.ANNOTATION_LABELS_PER_SEGMENT
    counts = SegmentAggregate.objects.aggregate(started=Count("pk"), complete=Count("pk", filter=Q(n_labels__gte=k)),
                                                labels=Sum("n_labels"))
    counts["labels"] = counts["labels"] or 0
    counts["total"] = Segment.objects.count()
    counts["reviewed"] = ReviewedLabel.objects.count()
    counts["gold"] = GoldLabel.objects.count()
    counts["k"] = k
    return counts
