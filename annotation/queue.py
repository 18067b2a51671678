"""Who labels what next.

Rules (issue 7):
- every segment collects K labels (settings.ANNOTATION_LABELS_PER_SEGMENT)
  from K different people; nobody is ever given the same segment twice
  (Assignment is unique per segment + annotator, whatever its status);
- an assignment holds a place for ANNOTATION_ASSIGNMENT_MINUTES; after that
  the place goes back to the pool;
- the teacher's most uncertain segments come first (entropy of its
  probabilities, or teacher-vs-student disagreement when
  ANNOTATION_QUEUE_ORDER="disagreement"), balanced across the predicted
  classes so an annotator does not see fifty "neutral" in a row;
- every ANNOTATION_GOLD_EVERY-th assignment is a gold segment (known answer)
  the annotator has not seen, when one is left.

Over-filling under concurrency: the ranking is a plain read; the
reservation re-counts the chosen segment's fill and inserts in one short
transaction. SQLite's IMMEDIATE transactions (settings) take the write lock
at BEGIN, so reservations run one after the other; on PostgreSQL the chosen
segment's row is locked (SELECT ... FOR UPDATE) before the re-count.
"""

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel

from .models import Assignment, GoldLabel, Label
from .selectors import current_model_id

MAX_ENTROPY = math.log(7)  # nats, uniform over the 7 classes
MAX_HELD = 3  # active assignments one person may hold (current + preloaded + slack)
NO_PREDICTION = "-"  # balancing bucket of segments without any prelabel


def labels_per_segment() -> int:
    return max(1, int(settings.ANNOTATION_LABELS_PER_SEGMENT))


def assignment_minutes() -> float:
    return float(settings.ANNOTATION_ASSIGNMENT_MINUTES)


def gold_every() -> int:
    return int(getattr(settings, "ANNOTATION_GOLD_EVERY", 10))


def queue_order() -> str:
    return getattr(settings, "ANNOTATION_QUEUE_ORDER", "entropy")


def is_live(assignment: Assignment, now: datetime | None = None) -> bool:
    return assignment.status == Assignment.Status.ACTIVE and assignment.expires_at > (now or timezone.now())


def live_assignments(now: datetime):
    return Assignment.objects.filter(status=Assignment.Status.ACTIVE, expires_at__gt=now)


class Candidate(NamedTuple):
    segment_id: int
    predicted: str  # class bucket used for balancing
    uncertainty: float  # higher = ask people sooner


def _queueable_rows(teacher_id: int | None) -> list[tuple]:
    """(segment id, teacher category, teacher entropy) of every ready, non-gold
    segment. Plain SQL: this runs on every new assignment over the whole
    corpus, and the ORM's compile step cost more than the query itself."""
    segment, video = Segment._meta.db_table, Video._meta.db_table
    prelabel, gold = Prelabel._meta.db_table, GoldLabel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, p.category, p.entropy FROM {segment} s "
            f"JOIN {video} v ON v.id = s.video_id "
            f"LEFT JOIN {prelabel} p ON p.segment_id = s.id AND p.model_version_id = %s "
            f"WHERE v.status = %s AND NOT EXISTS (SELECT 1 FROM {gold} g WHERE g.segment_id = s.id)",
            [teacher_id, Video.Status.READY])
        return cursor.fetchall()


def priority_rows() -> list[Candidate]:
    """Every queueable (ready, non-gold) segment with its predicted class and
    uncertainty: the shown prelabel is the current teacher's (a join on the
    (segment, model) unique index), else the segment's newest prelabel."""
    rows = _queueable_rows(current_model_id(ModelVersion.Kind.TEACHER))
    missing = [pk for pk, category, _ in rows if category is None]
    fallback: dict[int, tuple[str, float]] = {}
    if missing:
        for seg, category, entropy in (Prelabel.objects.filter(segment_id__in=missing)
                                       .order_by("segment_id", "created_at", "pk")
                                       .values_list("segment_id", "category", "entropy")):
            fallback[seg] = (category, entropy)  # the last one written wins = the newest
    students: dict[int, str] = {}
    student_id = current_model_id(ModelVersion.Kind.STUDENT) if queue_order() == "disagreement" else None
    if student_id is not None:
        students = dict(Prelabel.objects.filter(model_version_id=student_id).values_list("segment_id", "category"))
    out = []
    for pk, category, entropy in rows:
        if category is None:
            category, entropy = fallback.get(pk, (NO_PREDICTION, -1.0))
        uncertainty = float(entropy)
        if pk in students and category != NO_PREDICTION and students[pk] != category:
            uncertainty += MAX_ENTROPY  # teacher and student disagree: ask first
        out.append(Candidate(pk, category, uncertainty))
    return out


def fill_counts(now: datetime) -> Counter:
    """Places taken per segment: labels + live assignments."""
    filled = Counter(dict(Label.objects.order_by().values("segment_id").annotate(n=Count("pk"))
                          .values_list("segment_id", "n")))
    filled.update(dict(live_assignments(now).order_by().values("segment_id").annotate(n=Count("pk"))
                       .values_list("segment_id", "n")))
    return filled


def seen_by(user) -> set[int]:
    return (set(Assignment.objects.filter(annotator=user).values_list("segment_id", flat=True))
            | set(Label.objects.filter(annotator=user).values_list("segment_id", flat=True)))


def ranked_candidates(user, now: datetime, limit: int = 8) -> list[int]:
    """Segment ids to offer this user, best first: the most uncertain segment
    of the class they have been given least, then the next class's, ..."""
    k = labels_per_segment()
    rows = priority_rows()
    filled = fill_counts(now)
    seen = seen_by(user)
    predicted = {row.segment_id: row.predicted for row in rows}
    given = Counter(predicted.get(seg, NO_PREDICTION) for seg in seen)
    by_class: dict[str, list[Candidate]] = {}
    for row in rows:
        if row.segment_id not in seen and filled[row.segment_id] < k:
            by_class.setdefault(row.predicted, []).append(row)
    for members in by_class.values():
        members.sort(key=lambda r: (-r.uncertainty, r.segment_id))
    # Round-robin over classes in need order; each class offers its most uncertain first.
    order = sorted(by_class, key=lambda c: (given[c], -by_class[c][0].uncertainty, c))
    out: list[int] = []
    depth = 0
    while len(out) < limit and any(depth < len(by_class[c]) for c in order):
        out.extend(by_class[c][depth].segment_id for c in order if depth < len(by_class[c]))
        depth += 1
    return out[:limit]


def pick_gold(user) -> list[int]:
    seen = seen_by(user)
    gold = (GoldLabel.objects.filter(segment__video__status=Video.Status.READY)
            .order_by("segment_id").values_list("segment_id", flat=True))
    return [seg for seg in gold if seg not in seen][:3]


def gold_is_due(user) -> bool:
    every = gold_every()
    return (every > 0 and GoldLabel.objects.exists()
            and Assignment.objects.filter(annotator=user).count() % every == every - 1)


def _lock_segment(segment_id: int) -> None:
    """Row lock on PostgreSQL (and others); SQLite already holds the write lock."""
    if connection.features.has_select_for_update:
        list(Segment.objects.select_for_update().filter(pk=segment_id).values_list("pk"))


def _has_room(segment_id: int, now: datetime) -> bool:
    filled = (Label.objects.filter(segment_id=segment_id).count()
              + live_assignments(now).filter(segment_id=segment_id).count())
    return filled < labels_per_segment()


def next_assignment(user, exclude=(), now: datetime | None = None) -> Assignment | None:
    """The user's next assignment: one they already hold (not in `exclude`,
    e.g. the one on screen while the client preloads), else a new one; None
    when nothing is left for them."""
    now = now or timezone.now()
    exclude = {int(pk) for pk in exclude}
    held = list(Assignment.objects.filter(annotator=user, status=Assignment.Status.ACTIVE)
                .select_related("segment__video").order_by("created_at", "pk"))
    stale = [a.pk for a in held if a.expires_at <= now]
    if stale:  # only the user's own rows: no contention with other annotators
        Assignment.objects.filter(pk__in=stale).update(status=Assignment.Status.EXPIRED)
    live = [a for a in held if a.expires_at > now]
    waiting = next((a for a in live if a.pk not in exclude), None)
    if waiting:
        return waiting
    if len(live) >= MAX_HELD:
        return None
    for _ in range(5):  # candidates can fill up between the ranking and the reservation
        gold = pick_gold(user) if gold_is_due(user) else []
        ranked = ranked_candidates(user, now)
        if not gold and not ranked:
            return None
        assignment = _reserve(user, now, gold, ranked)
        if assignment is not None:
            return Assignment.objects.select_related("segment__video").get(pk=assignment.pk)
    return None


def _reserve(user, now: datetime, gold: list[int], ranked: list[int]) -> Assignment | None:
    """Take the first candidate that still has room, in one short write transaction.

    The ranking above ran without locks (plain reads); only this check-and-insert
    is serialised, so concurrent annotators wait for each other for
    milliseconds, not for the whole ranking."""
    with transaction.atomic():
        for segment_id, is_gold in [(g, True) for g in gold] + [(r, False) for r in ranked]:
            _lock_segment(segment_id)
            if Assignment.objects.filter(segment_id=segment_id, annotator=user).exists():
                continue
            if not is_gold and not _has_room(segment_id, now):
                continue
            try:
                with transaction.atomic():
                    return Assignment.objects.create(segment_id=segment_id, annotator=user,
                                                     expires_at=now + timedelta(minutes=assignment_minutes()))
            except IntegrityError:  # the same user asked twice at once (PostgreSQL)
                continue
    return None


def skip(user, assignment: Assignment) -> None:
    """Give the place back; the user will not be offered this segment again."""
    Assignment.objects.filter(pk=assignment.pk, annotator=user, status=Assignment.Status.ACTIVE).update(
        status=Assignment.Status.SKIPPED, completed_at=timezone.now())
