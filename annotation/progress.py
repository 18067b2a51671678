"""How far the labelling is, for the annotate page, the dashboard and the API.

Reads the queue's denormalised entries (queue_state.py), so every figure is an
indexed count, whatever the corpus size:
- a queueable segment still needs labels while places are open on it
  (taken < K) or someone holds an active assignment for it (taken counts
  labels + active assignments, so together: fewer than K labels);
- what is left for one person: the open segments they were never given,
  plus the ones they hold right now (on screen or preloaded).
"""

from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from .models import Assignment, Label, QueueEntry


class QueueProgress(NamedTuple):
    left_for_you: int
    still_needed: int


def _count(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def segments_still_needing_labels() -> int:
    entry, assignment = QueueEntry._meta.db_table, Assignment._meta.db_table
    return _count(
        f"SELECT (SELECT COUNT(*) FROM {entry} WHERE is_open = %s) + "
        f"(SELECT COUNT(DISTINCT a.segment_id) FROM {assignment} a JOIN {entry} q ON q.segment_id = a.segment_id "
        f"WHERE a.status = %s AND q.queueable = %s AND q.is_open = %s)",
        [True, Assignment.Status.ACTIVE, True, False])


def queue_depth() -> int:
    """Open places: segments the queue can still hand out."""
    return QueueEntry.objects.filter(is_open=True).count()


def queue_progress(user) -> QueueProgress:
    entry, assignment = QueueEntry._meta.db_table, Assignment._meta.db_table
    left = _count(
        f"SELECT (SELECT COUNT(*) FROM {entry} WHERE is_open = %s) "
        f"- (SELECT COUNT(*) FROM {assignment} a JOIN {entry} q ON q.segment_id = a.segment_id "
        f"   WHERE a.annotator_id = %s AND q.is_open = %s) "
        f"+ (SELECT COUNT(*) FROM {assignment} WHERE annotator_id = %s AND status = %s)",
        [True, user.pk, True, user.pk, Assignment.Status.ACTIVE])
    return QueueProgress(max(0, left), segments_still_needing_labels())


def week_start(now: datetime | None = None) -> datetime:
    """Monday 00:00 of this week, local time (settings.TIME_ZONE)."""
    now = timezone.localtime(now or timezone.now())
    monday = now - timedelta(days=now.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def label_activity(now: datetime | None = None) -> dict:
    """Labels made today and this week, and who labelled this week."""
    now = timezone.localtime(now or timezone.now())
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    users = list(get_user_model().objects.values_list("id", flat=True))
    if not users:
        return {"today": 0, "week": 0, "active_annotators": 0}
    # One range read of the (annotator, created_at) index for both figures; COUNT(*), not
    # COUNT(id), so PostgreSQL answers from the index alone.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT annotator_id, COUNT(*), SUM(CASE WHEN created_at >= %s THEN 1 ELSE 0 END) "
            f"FROM {Label._meta.db_table} WHERE annotator_id IN ({', '.join(['%s'] * len(users))}) "
            f"AND created_at >= %s GROUP BY annotator_id", [midnight, *users, week_start(now)])
        rows = cursor.fetchall()
    return {"today": sum(today for _, _, today in rows), "week": sum(week for _, week, _ in rows),
            "active_annotators": len(rows)}
