"""The queue's denormalised state: one QueueEntry per queueable segment.

Why: choosing the next segment used to re-read the whole corpus (segments,
prelabels, labels, assignments) in Python on every request. Now each entry
holds the segment's balancing bucket, its uncertainty and how many places are
taken (labels + active assignments), and `is_open` (queueable and taken < K)
feeds a partial index, so ranking is an ORDER BY ... LIMIT per bucket.

Two kinds of state, kept up to date in two ways:
- the ranking inputs (ready videos, prelabels, models, gold, K, the order
  setting) change rarely, in other apps: a one-query fingerprint of them is
  compared on each new assignment and the entries are recomputed (recounting
  `taken` too, which also repairs any drift) when it differs;
- `taken` changes on every reservation, label, skip and expiry: updated in
  the same transaction as the write, with a conditional UPDATE
  (`... WHERE is_open`) as the reservation's guard, so two annotators can
  never both take the last place (SQLite: one writer at a time; PostgreSQL:
  the row lock of the UPDATE, which re-checks `is_open` after waiting).
Deleted labels and assignments (admin, deleted users) give their place back
through post_delete receivers (connected in signals.py).

This module owns what the entries are computed from (K, the order setting,
priority_rows); queue.py only reads the entries and reserves places.
"""

import math
from collections import Counter
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, Value, When

from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel
from inference.selectors import counting_prelabel_id_sql, current_model_id

from .models import Assignment, GoldLabel, Label, QueueEntry, QueueSnapshot
from .write_gate import write_transaction

MAX_ENTROPY = math.log(7)  # nats, uniform over the 7 classes
NO_PREDICTION = "-"  # balancing bucket of segments without any prelabel


def labels_per_segment() -> int:
    return max(1, int(settings.ANNOTATION_LABELS_PER_SEGMENT))


def queue_order() -> str:
    return getattr(settings, "ANNOTATION_QUEUE_ORDER", "entropy")


class Candidate(NamedTuple):
    segment_id: int
    predicted: str  # class bucket used for balancing
    uncertainty: float  # higher = ask people sooner


def _queueable_rows() -> list[tuple]:
    """(segment id, category, entropy of the prelabel that counts) of every
    ready, non-gold segment. Plain SQL over the whole corpus: runs only when
    the queue entries are recomputed (rebuild), not per request."""
    segment, video = Segment._meta.db_table, Video._meta.db_table
    prelabel, gold = Prelabel._meta.db_table, GoldLabel._meta.db_table
    counting, params = counting_prelabel_id_sql("s", prefer=ModelVersion.Kind.TEACHER)  # the teacher's doubt
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT q.id, p.category, p.entropy FROM (SELECT s.id, {counting} AS prelabel_id FROM {segment} s "
            f"JOIN {video} v ON v.id = s.video_id "
            f"WHERE v.status = %s AND NOT EXISTS (SELECT 1 FROM {gold} g WHERE g.segment_id = s.id)) q "
            f"LEFT JOIN {prelabel} p ON p.id = q.prelabel_id",
            [*params, Video.Status.READY])
        return cursor.fetchall()


def priority_rows() -> list[Candidate]:
    """Every queueable (ready, non-gold) segment with its predicted class and
    uncertainty, from the prelabel that counts, the teacher's preferred
    (inference.selectors)."""
    rows = _queueable_rows()
    students: dict[int, str] = {}
    student_id = current_model_id(ModelVersion.Kind.STUDENT) if queue_order() == "disagreement" else None
    if student_id is not None:
        students = dict(Prelabel.objects.filter(model_version_id=student_id).values_list("segment_id", "category"))
    out = []
    for pk, category, entropy in rows:
        if category is None:
            category, entropy = NO_PREDICTION, -1.0
        uncertainty = float(entropy)
        if pk in students and category != NO_PREDICTION and students[pk] != category:
            uncertainty += MAX_ENTROPY  # teacher and student disagree: ask first
        out.append(Candidate(pk, category, uncertainty))
    return out


def _current_model_sql(kind: str) -> str:
    table = ModelVersion._meta.db_table
    return (f"(SELECT id FROM {table} WHERE kind = '{kind}' "
            f"ORDER BY is_active DESC, created_at DESC, id DESC LIMIT 1)")


def _inputs_sql() -> str:
    segment, video, prelabel = Segment._meta.db_table, Video._meta.db_table, Prelabel._meta.db_table
    gold, snapshot = GoldLabel._meta.db_table, QueueSnapshot._meta.db_table
    # Every part is an index lookup or runs over small tables (videos, gold, models).
    return (f"SELECT (SELECT fingerprint FROM {snapshot} WHERE id = 1), "
            f"(SELECT MAX(id) FROM {segment}), (SELECT MAX(id) FROM {prelabel}), "
            f"(SELECT COUNT(*) FROM {video} WHERE status = %s), (SELECT SUM(id) FROM {video} WHERE status = %s), "
            f"(SELECT COUNT(*) FROM {gold}), (SELECT MAX(id) FROM {gold}), "
            f"{_current_model_sql(ModelVersion.Kind.TEACHER)}, {_current_model_sql(ModelVersion.Kind.STUDENT)}")


def ensure_fresh() -> bool:
    """Recompute the entries when what they were computed from has changed (one
    read otherwise). Returns whether any gold segment exists."""
    with connection.cursor() as cursor:
        cursor.execute(_inputs_sql(), [Video.Status.READY, Video.Status.READY])
        stored, *inputs = cursor.fetchone()
    fingerprint = "|".join(map(str, [*inputs, labels_per_segment(), queue_order()]))
    if stored != fingerprint:
        rebuild(fingerprint)
    return bool(inputs[4])  # the gold count


def _taken_counts() -> Counter:
    taken = Counter(dict(Label.objects.order_by().values("segment_id").annotate(n=Count("pk"))
                         .values_list("segment_id", "n")))
    taken.update(dict(Assignment.objects.filter(status=Assignment.Status.ACTIVE).order_by()
                      .values("segment_id").annotate(n=Count("pk")).values_list("segment_id", "n")))
    return taken


def rebuild(fingerprint: str) -> None:
    """Recompute every entry (O(corpus), only when the inputs changed)."""
    k = labels_per_segment()
    with write_transaction():
        if connection.vendor == "postgresql":  # no reservation may change `taken` while we recount it
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {QueueEntry._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        snapshot, _ = QueueSnapshot.objects.select_for_update().get_or_create(pk=1)
        if snapshot.fingerprint == fingerprint:
            return  # another process did it while we waited for the lock
        rows = {row.segment_id: row for row in priority_rows()}
        taken = _taken_counts()
        existing = {e.segment_id: e for e in QueueEntry.objects.all()}
        new, changed = [], []
        for segment_id, row in rows.items():
            want = dict(bucket=row.predicted, uncertainty=row.uncertainty, queueable=True,
                        taken=taken[segment_id], is_open=taken[segment_id] < k)
            entry = existing.get(segment_id)
            if entry is None:
                new.append(QueueEntry(segment_id=segment_id, **want))
            elif any(getattr(entry, f) != v for f, v in want.items()):
                for f, v in want.items():
                    setattr(entry, f, v)
                changed.append(entry)
        for segment_id, entry in existing.items():
            if segment_id not in rows and (entry.queueable or entry.is_open or entry.taken != taken[segment_id]):
                entry.queueable, entry.is_open, entry.taken = False, False, taken[segment_id]
                changed.append(entry)
        QueueEntry.objects.bulk_create(new, batch_size=500)
        QueueEntry.objects.bulk_update(changed, ["bucket", "uncertainty", "queueable", "taken", "is_open"],
                                       batch_size=500)
        snapshot.fingerprint = fingerprint
        snapshot.save(update_fields=["fingerprint"])


def take_place(segment_id: int, k: int, counted: bool = True) -> bool:
    """Count one more place on the segment; for a counted (non-gold) place only
    while the segment is still open. Call inside the reservation's transaction."""
    # Plain SQL: runs on every reservation. The SET clause reads the old `taken`.
    sql = (f"UPDATE {QueueEntry._meta.db_table} SET taken = taken + 1, "
           f"is_open = CASE WHEN queueable AND taken < %s THEN %s ELSE %s END WHERE segment_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql + (" AND is_open" if counted else ""), [k - 1, True, False, segment_id])
        return cursor.rowcount == 1 or not counted


def release_place(segment_id: int, n: int = 1) -> None:
    """Give n places back (an assignment expired or was skipped, a label was deleted)."""
    k = labels_per_segment()
    QueueEntry.objects.filter(pk=segment_id, taken__gte=n).update(taken=F("taken") - n, is_open=Case(
        When(queueable=True, taken__lt=k + n, then=Value(True)), default=Value(False)))


def label_deleted(sender, instance: Label, **kwargs) -> None:
    release_place(instance.segment_id)


def assignment_deleted(sender, instance: Assignment, **kwargs) -> None:
    if instance.status == Assignment.Status.ACTIVE:
        release_place(instance.segment_id)
