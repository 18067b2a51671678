"""Who labels what next.

Rules:
- every segment collects K labels (settings.ANNOTATION_LABELS_PER_SEGMENT)
  from K different people; nobody is ever given the same segment twice
  (Assignment is unique per segment + annotator, whatever its status);
- an assignment holds a place for ANNOTATION_ASSIGNMENT_MINUTES; after that
  the place goes back to the pool;
- the teacher's most uncertain segments come first (entropy of its
  probabilities, or teacher-vs-student disagreement when
  ANNOTATION_QUEUE_ORDER="disagreement"), balanced across the predicted
  classes (over the person's latest BALANCE_WINDOW assignments) so an
  annotator does not see fifty "neutral" in a row;
- every ANNOTATION_GOLD_EVERY-th assignment is a gold segment (known answer)
  the annotator has not seen, when one is left.

Cost: the state the ranking needs lives in QueueEntry rows (queue_state.py),
so a new assignment is a handful of indexed reads (the user's held
assignments, an expiry check, a fingerprint of the corpus, the user's
recent per-class counts, the top open segments of each class) and one tiny
write, whatever the corpus size and however long the person has worked.

Over-filling under concurrency: the ranking is a plain read; the reservation
is a conditional `UPDATE entry SET taken = taken + 1 ... WHERE is_open` plus
the insert, in one short transaction. SQLite's IMMEDIATE transactions
(settings) take the write lock at BEGIN, so reservations run one after the
other; on PostgreSQL the UPDATE's row lock serialises them per segment and
re-checks `is_open` after waiting.
"""

import os
from collections import Counter
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from clips.models import Video
from labelstudio_emo import fast_insert
from labelstudio_emo.emotions import EMOTIONS

from . import queue_state
from .models import Assignment, GoldLabel, Label, QueueEntry
from .write_gate import write_transaction

MAX_HELD = 3  # active assignments one person may hold (current + preloaded + slack)


def assignment_minutes() -> float:
    return float(settings.ANNOTATION_ASSIGNMENT_MINUTES)


def gold_every() -> int:
    return int(getattr(settings, "ANNOTATION_GOLD_EVERY", 10))


def is_live(assignment: Assignment, now: datetime | None = None) -> bool:
    return assignment.status == Assignment.Status.ACTIVE and assignment.expires_at > (now or timezone.now())


def live_assignments(now: datetime):
    return Assignment.objects.filter(status=Assignment.Status.ACTIVE, expires_at__gt=now)


BALANCE_WINDOW = 200  # the user's latest assignments the class balance looks at


class Given(NamedTuple):
    recent: Counter  # per balancing bucket over the latest BALANCE_WINDOW (None = gold or not queueable)
    total: int  # every assignment the user was ever given (the gold cadence counts these)


def given_counts(user) -> Given:
    """One read whose cost does not grow with the user's history: an annotator
    with 10,000 labels must not pay for all of them on every request, and
    balance matters over what they saw lately (the total is an index count)."""
    assignment, entry = Assignment._meta.db_table, QueueEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT e.bucket, COUNT(*), (SELECT COUNT(*) FROM {assignment} WHERE annotator_id = %s) "
                       f"FROM (SELECT segment_id FROM {assignment} WHERE annotator_id = %s ORDER BY id DESC "
                       f"LIMIT %s) a LEFT JOIN {entry} e ON e.segment_id = a.segment_id GROUP BY e.bucket",
                       [user.pk, user.pk, BALANCE_WINDOW])
        rows = cursor.fetchall()
    return Given(Counter({bucket: n for bucket, n, _ in rows}), rows[0][2] if rows else 0)


def _open_by_bucket(user, per_bucket: int) -> dict[str, list[tuple[int, float]]]:
    """The most uncertain open segments of each bucket the user has not seen:
    one statement, a walk down the partial index `queueentry_open_rank` per bucket."""
    entry, assignment, label = QueueEntry._meta.db_table, Assignment._meta.db_table, Label._meta.db_table
    part = (f"SELECT * FROM (SELECT e.segment_id, e.bucket, e.uncertainty FROM {entry} e "
            f"WHERE e.is_open AND e.bucket = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {assignment} a WHERE a.segment_id = e.segment_id AND a.annotator_id = %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {label} l WHERE l.segment_id = e.segment_id AND l.annotator_id = %s) "
            f"ORDER BY e.uncertainty DESC, e.segment_id LIMIT %s) AS b{{}}")
    buckets = [*EMOTIONS, queue_state.NO_PREDICTION]
    sql = " UNION ALL ".join(part.format(i) for i in range(len(buckets)))
    params = [p for bucket in buckets for p in (bucket, user.pk, user.pk, per_bucket)]
    by_class: dict[str, list[tuple[int, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for segment_id, bucket, uncertainty in cursor.fetchall():
            by_class.setdefault(bucket, []).append((segment_id, uncertainty))
    for members in by_class.values():
        members.sort(key=lambda m: (-m[1], m[0]))
    return by_class


def ranked_candidates(user, given: Counter, limit: int = 8) -> list[int]:
    """Segment ids to offer this user, best first: the most uncertain segment
    of the class they have been given least, then the next class's, ..."""
    by_class = _open_by_bucket(user, per_bucket=2)
    # Round-robin over classes in need order; each class offers its most uncertain first.
    order = sorted(by_class, key=lambda c: (given[c], -by_class[c][0][1], c))
    out: list[int] = []
    depth = 0
    while len(out) < limit and any(depth < len(by_class[c]) for c in order):
        out.extend(by_class[c][depth][0] for c in order if depth < len(by_class[c]))
        depth += 1
    return out[:limit]


def pick_gold(user) -> list[int]:
    return list(GoldLabel.objects.filter(segment__video__status=Video.Status.READY)
                .exclude(segment__assignments__annotator=user).exclude(segment__labels__annotator=user)
                .order_by("segment_id").values_list("segment_id", flat=True)[:3])


def gold_is_due(n_given: int) -> bool:
    every = gold_every()
    return every > 0 and n_given % every == every - 1


EXPIRY_SWEEP_S = 5.0  # how often one web process looks for expired assignments
_last_sweep: dict[int, datetime] = {}  # pid -> the `now` of its last sweep


def sweep_due(now: datetime) -> bool:
    """Expiry is minutes-grained: one look every few seconds per process is
    enough, not one per request. Keyed by pid (never shared across a fork)."""
    last = _last_sweep.get(os.getpid())
    if last is not None and 0 <= (now - last).total_seconds() < EXPIRY_SWEEP_S:
        return False
    _last_sweep[os.getpid()] = now
    return True


def expire_stale(now: datetime, batch: int = 500) -> int:
    """Everyone's assignments past their time go back to the pool (an indexed
    read that is empty almost always; a short write only when some expired)."""
    with connection.cursor() as cursor:  # plain SQL: runs on every new assignment
        cursor.execute(f"SELECT id FROM {Assignment._meta.db_table} WHERE status = %s AND expires_at <= %s "
                       f"LIMIT %s", [Assignment.Status.ACTIVE, connection.ops.adapt_datetimefield_value(now), batch])
        stale = [pk for (pk,) in cursor.fetchall()]
    if not stale:
        return 0
    with write_transaction():
        # Re-read under the lock: a label or skip may have closed some meanwhile.
        rows = list(Assignment.objects.select_for_update().filter(pk__in=stale, status=Assignment.Status.ACTIVE)
                    .order_by("pk").values_list("pk", "segment_id"))  # one lock order for every sweeper
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Assignment.Status.EXPIRED)
        for segment_id, n in sorted(Counter(seg for _, seg in rows).items()):
            queue_state.release_place(segment_id, n)
    return len(rows)


HELD_FIELDS = ("id", "segment_id", "annotator_id", "status", "expires_at")


def _held(user, now: datetime) -> list[Assignment]:
    """The user's live assignments, oldest first (only the columns the API shows;
    the page reads the segment separately, selectors.segment_row)."""
    with connection.cursor() as cursor:  # plain SQL: runs on every queue request
        cursor.execute(f"SELECT {', '.join(HELD_FIELDS)} FROM {Assignment._meta.db_table} "
                       f"WHERE annotator_id = %s AND status = %s AND expires_at > %s ORDER BY created_at, id",
                       [user.pk, Assignment.Status.ACTIVE, connection.ops.adapt_datetimefield_value(now)])
        return [assignment_from_row(row) for row in cursor.fetchall()]


def assignment_from_row(row) -> Assignment:
    """An Assignment from the HELD_FIELDS columns of a plain SQL read (the others load on access)."""
    *values, expires_at = row
    return Assignment.from_db(connection.alias, HELD_FIELDS, [*values, as_aware(expires_at)])


def as_aware(value) -> datetime:
    """A datetime read with plain SQL (SQLite gives naive UTC, sometimes text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


def next_assignment(user, exclude=(), now: datetime | None = None) -> Assignment | None:
    """The user's next assignment: one they already hold (not in `exclude`,
    e.g. the one on screen while the client preloads), else a new one; None
    when nothing is left for them."""
    now = now or timezone.now()
    exclude = {int(pk) for pk in exclude}
    live = _held(user, now)
    waiting = next((a for a in live if a.pk not in exclude), None)
    if waiting:
        return waiting
    if len(live) >= MAX_HELD:
        return None
    swept = sweep_due(now)
    if swept:
        expire_stale(now)
    has_gold = queue_state.ensure_fresh()
    for _ in range(5):  # candidates can fill up between the ranking and the reservation
        given = given_counts(user)
        gold = pick_gold(user) if has_gold and gold_is_due(given.total) else []
        ranked = ranked_candidates(user, given.recent)
        if not gold and not ranked:
            if not swept:  # never answer "nothing left" while expired places wait for the next sweep
                swept = True
                if expire_stale(now):
                    continue
            return None
        assignment = _reserve(user, now, gold, ranked)
        if assignment is not None:
            return assignment
    return None


def _reserve(user, now: datetime, gold: list[int], ranked: list[int]) -> Assignment | None:
    """Take the first candidate that still has room, each try one tiny write
    transaction: the conditional `taken + 1 ... WHERE is_open` update is the
    guard against over-filling, the unique (segment, annotator) constraint the
    guard against giving a segment twice. The ranking above ran without locks."""
    k = queue_state.labels_per_segment()
    expires = now + timedelta(minutes=assignment_minutes())
    for segment_id, is_gold in [(g, True) for g in gold] + [(r, False) for r in ranked]:
        try:
            with write_transaction():
                if queue_state.take_place(segment_id, k, counted=not is_gold):
                    return fast_insert.insert(Assignment(segment_id=segment_id, annotator=user, expires_at=expires))
        except IntegrityError:  # this user already had it (a concurrent request of theirs): next one
            continue
    return None


def skip(user, assignment: Assignment) -> None:
    """Give the place back; the user will not be offered this segment again."""
    with write_transaction():
        skipped = Assignment.objects.filter(pk=assignment.pk, annotator=user, status=Assignment.Status.ACTIVE).update(
            status=Assignment.Status.SKIPPED, completed_at=timezone.now())
        if skipped:
            queue_state.release_place(assignment.segment_id)
