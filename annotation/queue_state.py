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
from django.db.models import Case, F, Value, When

from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel
from inference.selectors import counting_prelabel_id_sql, current_model_id
from labelstudio_emo.celery import enqueue_off_request, task_by_name

from .models import Assignment, GoldLabel, Label, QueueEntry, QueueSnapshot
from .write_gate import write_transaction

MAX_ENTROPY = math.log(7)  # nats, uniform over the 7 classes
NO_PREDICTION = "-"  # balancing bucket of segments without any prelabel
# Registered by annotation.tasks, which imports this module (never the reverse).
REBUILD_TASK = "io.rebuild_queue"


def labels_per_segment() -> int:
    return max(1, int(settings.ANNOTATION_LABELS_PER_SEGMENT))


def queue_order() -> str:
    return getattr(settings, "ANNOTATION_QUEUE_ORDER", "entropy")


class Candidate(NamedTuple):
    segment_id: int
    predicted: str  # class bucket used for balancing
    uncertainty: float  # higher = ask people sooner


CHUNK = 500  # segment ids per IN (...) list


def _chunks(ids: list[int]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _queueable_rows(segment_ids: list[int] | None = None) -> list[tuple]:
    """(segment id, category, entropy of the prelabel that counts) of every
    ready, non-gold segment, or of those among `segment_ids`. Plain SQL: runs
    only when queue entries are recomputed, not per request."""
    segment, video = Segment._meta.db_table, Video._meta.db_table
    prelabel, gold = Prelabel._meta.db_table, GoldLabel._meta.db_table
    counting, params = counting_prelabel_id_sql("s", prefer=ModelVersion.Kind.TEACHER)  # the teacher's doubt
    # CROSS JOIN: SQLite then reads the segments first (by id, for an IN list) instead of
    # walking every ready video's segments (a second per 500 ids at 100,000 segments).
    sql = (f"SELECT q.id, p.category, p.entropy FROM (SELECT s.id, {counting} AS prelabel_id FROM {segment} s "
           f"CROSS JOIN {video} v "
           f"WHERE v.id = s.video_id AND v.status = %s "
           f"AND NOT EXISTS (SELECT 1 FROM {gold} g WHERE g.segment_id = s.id){{scope}}) q "
           f"LEFT JOIN {prelabel} p ON p.id = q.prelabel_id")
    with connection.cursor() as cursor:
        if segment_ids is None:
            cursor.execute(sql.format(scope=""), [*params, Video.Status.READY])
            return cursor.fetchall()
        rows = []
        for chunk in _chunks(segment_ids):
            cursor.execute(sql.format(scope=f" AND s.id IN ({', '.join(['%s'] * len(chunk))})"),
                           [*params, Video.Status.READY, *chunk])
            rows += cursor.fetchall()
        return rows


def priority_rows(segment_ids: list[int] | None = None) -> list[Candidate]:
    """Every queueable (ready, non-gold) segment, or those among `segment_ids`,
    with its predicted class and uncertainty, from the prelabel that counts,
    the teacher's preferred (inference.selectors)."""
    rows = _queueable_rows(segment_ids)
    students: dict[int, str] = {}
    student_id = current_model_id(ModelVersion.Kind.STUDENT) if queue_order() == "disagreement" else None
    if student_id is not None:
        student_prelabels = Prelabel.objects.filter(model_version_id=student_id)
        if segment_ids is None:
            students = dict(student_prelabels.values_list("segment_id", "category"))
        for chunk in _chunks([pk for pk, _, _ in rows] if segment_ids is not None else []):
            students.update(student_prelabels.filter(segment_id__in=chunk).values_list("segment_id", "category"))
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


# Fingerprint parts (see _inputs_sql): ids and ready videos grow with imports and are
# handled segment by segment; the models and settings after them change the ranking
# of every segment.
MAX_SEGMENT, MAX_PRELABEL, READY_COUNT, READY_SUM, GOLD_COUNT, GOLD_MAX = range(6)
GLOBAL_PARTS = slice(6, None)  # teacher, student, K, order


def ensure_fresh() -> bool:
    """Bring the entries up to date with what they are computed from (one read
    when nothing changed). New segments, prelabels, ready videos or gold
    segments recompute only the segments concerned, on the spot; a new model
    or queue setting (every segment) is recomputed by a task while the queue
    keeps serving from the current entries (their places stay exact: they
    are counted on every write). Returns whether any gold segment exists."""
    stored, inputs, fingerprint = _read_inputs()
    if stored != fingerprint:
        old = (stored or "").split("|")
        if len(old) != len(fingerprint.split("|")) or not QueueEntry.objects.exists():
            rebuild(fingerprint)  # never computed: nothing to serve meanwhile
        elif old[GLOBAL_PARTS] != fingerprint.split("|")[GLOBAL_PARTS]:
            request_rebuild(fingerprint)
        else:
            update(fingerprint)
    return bool(inputs[GOLD_COUNT])


def request_rebuild(fingerprint: str) -> None:
    """Queue one full recomputation per change of model or setting."""
    scope = "|".join(fingerprint.split("|")[GLOBAL_PARTS])
    if QueueSnapshot.objects.filter(pk=1).exclude(pending=scope).update(pending=scope):
        enqueue_off_request(task_by_name(REBUILD_TASK))  # the annotator who noticed does not wait for it


def _read_inputs() -> tuple[str | None, list, str]:
    """The stored fingerprint, the inputs now and their fingerprint: one read."""
    with connection.cursor() as cursor:
        cursor.execute(_inputs_sql(), [Video.Status.READY, Video.Status.READY])
        stored, *inputs = cursor.fetchone()
    return stored, inputs, "|".join(map(str, [*inputs, labels_per_segment(), queue_order()]))


def _ready_videos() -> list[int]:
    return list(Video.objects.filter(status=Video.Status.READY).order_by("pk").values_list("pk", flat=True))


def _as_int(part: str) -> int:
    return int(part) if part.lstrip("-").isdigit() else 0


def _changed_segments(old: list[str], snapshot: QueueSnapshot, ready: list[int]) -> set[int]:
    """The segments whose entry may differ since the `old` fingerprint: new
    segments, segments with new prelabels, of videos that became ready or
    stopped being, and gold segments (added or removed)."""
    segment, prelabel = Segment._meta.db_table, Prelabel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {segment} WHERE id > %s", [_as_int(old[MAX_SEGMENT])])
        ids = {pk for (pk,) in cursor.fetchall()}
        cursor.execute(f"SELECT DISTINCT segment_id FROM {prelabel} WHERE id > %s", [_as_int(old[MAX_PRELABEL])])
        ids.update(pk for (pk,) in cursor.fetchall())
    videos = set(ready) ^ set(snapshot.ready_videos or [])
    if videos:
        ids.update(Segment.objects.filter(video_id__in=videos).values_list("pk", flat=True))
    ids.update(GoldLabel.objects.values_list("segment_id", flat=True))  # small table
    ids.update(QueueEntry.objects.filter(queueable=False).values_list("segment_id", flat=True))  # e.g. ex-gold
    return ids


def update(fingerprint: str) -> None:
    """Recompute the entries of the segments that changed (an import: its own
    segments; cost proportional to the change, not the corpus)."""
    ready = _ready_videos()
    with write_transaction():
        _lock_entries()
        snapshot, _ = QueueSnapshot.objects.select_for_update().get_or_create(pk=1)
        if snapshot.fingerprint == fingerprint:
            return  # another process did it while we waited for the lock
        old = snapshot.fingerprint.split("|")
        if old[GLOBAL_PARTS] != fingerprint.split("|")[GLOBAL_PARTS]:
            return  # a full recomputation is due instead (queued)
        recompute(_changed_segments(old, snapshot, ready))
        snapshot.fingerprint, snapshot.ready_videos = fingerprint, ready
        snapshot.save(update_fields=["fingerprint", "ready_videos"])


def _lock_entries() -> None:
    if connection.vendor == "postgresql":  # no reservation may change `taken` while we recount it
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {QueueEntry._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def _taken_counts(segment_ids: list[int]) -> Counter:
    """Labels + active assignments per segment (plain SQL: the ORM's IN-list preparation cost
    more than the query)."""
    label, assignment = Label._meta.db_table, Assignment._meta.db_table
    taken: Counter = Counter()
    with connection.cursor() as cursor:
        for chunk in _chunks(segment_ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"SELECT segment_id, COUNT(*) FROM {label} WHERE segment_id IN ({marks}) "
                           f"GROUP BY segment_id", chunk)
            taken.update(dict(cursor.fetchall()))
            cursor.execute(f"SELECT segment_id, COUNT(*) FROM {assignment} WHERE status = %s "
                           f"AND segment_id IN ({marks}) GROUP BY segment_id", [Assignment.Status.ACTIVE, *chunk])
            taken.update(dict(cursor.fetchall()))
    return taken


def recompute(segment_ids: set[int]) -> None:
    """Rewrite the entries of these segments from the ranking inputs and
    recount their places. Call inside a write transaction (_lock_entries)."""
    k = labels_per_segment()
    scope = sorted(segment_ids)
    rows = {row.segment_id: row for row in priority_rows(scope)}
    taken = _taken_counts(scope)
    existing = {e.segment_id: e for chunk in _chunks(scope)
                for e in QueueEntry.objects.filter(segment_id__in=chunk)}
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
    _insert_entries(new)
    QueueEntry.objects.bulk_update(changed, ["bucket", "uncertainty", "queueable", "taken", "is_open"],
                                   batch_size=500)


def _insert_entries(entries: list[QueueEntry]) -> None:
    """Multi-row INSERTs in plain SQL: an import's thousand new entries without the ORM's
    per-object cost (or executemany's round trip per row on PostgreSQL)."""
    columns = ("segment_id", "bucket", "uncertainty", "queueable", "taken", "is_open")
    row = f"({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        for i in range(0, len(entries), CHUNK):
            batch = entries[i:i + CHUNK]
            cursor.execute(f"INSERT INTO {QueueEntry._meta.db_table} ({', '.join(columns)}) "
                           f"VALUES {', '.join([row] * len(batch))}",
                           [getattr(e, c) for e in batch for c in columns])


REBUILD_BATCH = 2000  # segments per write transaction: labelling goes on between batches


def rebuild(fingerprint: str | None = None) -> None:
    """Recompute every entry (O(corpus)): the first time, and in the task after
    a new model or queue setting. In batches, each its own short transaction,
    so reservations and labels are not held up for the whole pass."""
    fingerprint = fingerprint or _read_inputs()[2]
    ready = _ready_videos()
    ids = sorted(set(Segment.objects.values_list("pk", flat=True))
                 | set(QueueEntry.objects.values_list("segment_id", flat=True)))
    for i in range(0, len(ids), REBUILD_BATCH):
        with write_transaction():
            _lock_entries()
            recompute(set(ids[i:i + REBUILD_BATCH]))
    with write_transaction():
        snapshot, _ = QueueSnapshot.objects.select_for_update().get_or_create(pk=1)
        snapshot.fingerprint, snapshot.ready_videos, snapshot.pending = fingerprint, ready, ""
        snapshot.save(update_fields=["fingerprint", "ready_videos", "pending"])


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
