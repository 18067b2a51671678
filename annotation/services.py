"""Writes of the annotation app (HackSoft "services").

`save_label` is idempotent: one Label per (segment, annotator) whatever
happens (double Enter, network retry, two tabs); the same values sent again
change nothing; each real change is kept in LabelHistory.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from clips.models import Segment
from labelstudio_emo import fast_insert
from labelstudio_emo.emotions import EMOTIONS, VA_MAX, VA_MIN

from . import queue, queue_state
from .models import FLAGS, Assignment, GoldLabel, Label, LabelHistory, ReviewedLabel
from .selectors import prelabel_for, prelabels_hidden
from .write_gate import write_transaction

MAX_SECONDS_PER_LABEL = 3600.0  # a tab left open over lunch is not annotation time


class AnnotationError(Exception):
    """A request the annotation rules refuse; `field` says which input is at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class LabelValues:
    category: str
    valence: float
    arousal: float
    flags: list[str] = field(default_factory=list)
    seconds_spent: float = 0.0

    def __post_init__(self):
        if self.category not in EMOTIONS:
            raise AnnotationError("category", f"'{self.category}' is not one of the 7 categories: "
                                              f"{', '.join(EMOTIONS)}.")
        for name in ("valence", "arousal"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not VA_MIN <= value <= VA_MAX:
                raise AnnotationError(name, f"{name} must be a number between {VA_MIN:g} and {VA_MAX:g} "
                                            f"(got {value!r}).")
            setattr(self, name, float(value))
        unknown = [f for f in self.flags if f not in FLAGS]
        if unknown:
            raise AnnotationError("flags", f"unknown flag(s) {', '.join(map(str, unknown))}; "
                                           f"allowed: {', '.join(FLAGS)}.")
        self.flags = [f for f in FLAGS if f in set(self.flags)]  # canonical order, no duplicates
        self.seconds_spent = min(max(float(self.seconds_spent or 0.0), 0.0), MAX_SECONDS_PER_LABEL)

    def same_as(self, label) -> bool:
        return (label.category == self.category and label.valence == self.valence
                and label.arousal == self.arousal and list(label.flags) == self.flags)


@dataclass
class SaveResult:
    label: Label
    created: bool
    changed: bool


def _assignment_error(user, assignment: Assignment | None, assignment_id, labelled: bool,
                      now: datetime) -> AnnotationError | None:
    if assignment is None or assignment.annotator_id != user.pk:
        return AnnotationError("assignment", f"Assignment {assignment_id} does not exist or is someone else's.")
    if assignment.status == Assignment.Status.SKIPPED:
        return AnnotationError("assignment", f"Assignment {assignment_id} was skipped; it cannot be labelled.")
    if not labelled and not queue.is_live(assignment, now):
        return _expired(assignment)
    return None


def _expired(assignment: Assignment) -> AnnotationError:
    return AnnotationError("assignment", f"Assignment {assignment.pk} expired at "
                                         f"{assignment.expires_at:%H:%M:%S} UTC; take the next segment.")


def _assignment_with_label(assignment_id) -> tuple[Assignment | None, bool]:
    """The assignment (only what the checks read) and whether its annotator
    already labelled its segment: one indexed read in plain SQL (every submit)."""
    assignment, label = Assignment._meta.db_table, Label._meta.db_table
    with connection.cursor() as cursor:
        columns = ", ".join(f"a.{name}" for name in queue.HELD_FIELDS)
        cursor.execute(f"SELECT {columns}, l.id FROM {assignment} a "
                       f"LEFT JOIN {label} l ON l.segment_id = a.segment_id AND l.annotator_id = a.annotator_id "
                       f"WHERE a.id = %s", [int(assignment_id)])
        row = cursor.fetchone()
    if row is None:
        return None, False
    *values, label_id = row
    return queue.assignment_from_row(values), label_id is not None


def _resolve(user, assignment_id, segment_id, now: datetime) -> tuple[Assignment | None, int, bool]:
    """Plain reads (no lock): the assignment, the segment and whether the caller
    already labelled it, or a clear error."""
    if assignment_id is not None:
        assignment, labelled = _assignment_with_label(assignment_id)
        error = _assignment_error(user, assignment, assignment_id, labelled, now)
        if error:
            raise error
        if segment_id is not None and int(segment_id) != assignment.segment_id:
            raise AnnotationError("segment", f"Assignment {assignment_id} is for segment "
                                             f"{assignment.segment_id}, not {segment_id}.")
        return assignment, assignment.segment_id, labelled
    if not Segment.objects.filter(pk=segment_id).exists():
        raise AnnotationError("segment", f"Segment {segment_id} does not exist.")
    segment_id = int(segment_id)
    assignment = Assignment.objects.filter(segment_id=segment_id, annotator=user).first()
    labelled = Label.objects.filter(segment_id=segment_id, annotator=user).exists()
    if not labelled:
        if assignment is None:
            raise AnnotationError("segment", f"You have no assignment for segment {segment_id}; "
                                             f"ask the queue for one (GET /api/queue/next/).")
        error = _assignment_error(user, assignment, assignment.pk, False, now)
        if error:
            raise error
    return assignment, segment_id, labelled


def save_label(user, values: LabelValues, *, assignment_id=None, segment_id=None,
               now: datetime | None = None) -> SaveResult:
    """Create or update the user's label for the segment of an assignment.

    Reads and checks run before the write transaction (SQLite's write lock is
    taken at BEGIN, so it stays a few statements long). A new label is only
    made by the request that turns its assignment from active to done (a
    conditional UPDATE): a double submit or retry finds the label instead."""
    if assignment_id is None and segment_id is None:
        raise AnnotationError("assignment", "Give the assignment (or the segment) this label is for.")
    now = now or timezone.now()
    assignment, segment_id, labelled = _resolve(user, assignment_id, segment_id, now)
    shown = prelabel_for(segment_id) if not labelled and not prelabels_hidden() else None
    with write_transaction():
        if not labelled:
            if _claim(assignment.pk, now):  # its place now holds the label: the queue's count does not change
                label = fast_insert.insert(Label(
                    segment_id=segment_id, annotator=user, category=values.category, valence=values.valence,
                    arousal=values.arousal, flags=values.flags, seconds_spent=values.seconds_spent,
                    prelabel_shown_id=shown.id if shown else None))
                _history(label, user)
                return SaveResult(label, created=True, changed=True)
        # An existing label (or one a concurrent request of this user just made): re-read it under lock.
        label = Label.objects.select_for_update().filter(segment_id=segment_id, annotator=user).first()
        if label is None:  # the assignment expired or was skipped between our read and the write
            raise _expired(assignment)
        if not values.same_as(label):
            label.category, label.valence, label.arousal = values.category, values.valence, values.arousal
            label.flags = values.flags
            label.seconds_spent = min(label.seconds_spent + values.seconds_spent, MAX_SECONDS_PER_LABEL * 4)
            label.save()
            _history(label, user)
            changed = True
        else:
            changed = False
        _finish(assignment, now)
    return SaveResult(label, created=False, changed=changed)


def _claim(assignment_id: int, now: datetime) -> bool:
    """Turn the assignment from active (and not expired) to done; true for the one request that did."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:  # plain SQL: runs on every new label
        cursor.execute(f"UPDATE {Assignment._meta.db_table} SET status = %s, completed_at = %s "
                       f"WHERE id = %s AND status = %s AND expires_at > %s",
                       [Assignment.Status.DONE, stamp, assignment_id, Assignment.Status.ACTIVE, stamp])
        return cursor.rowcount == 1


def _history(label: Label, user) -> None:
    fast_insert.insert(LabelHistory(label=label, edited_by=user, category=label.category,
                                    valence=label.valence, arousal=label.arousal, flags=label.flags))


def _finish(assignment: Assignment | None, now: datetime) -> None:
    """Mark the assignment of an already labelled segment done (rare: normally done at creation)."""
    if assignment is None or assignment.status == Assignment.Status.DONE:
        return
    if Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ACTIVE).update(
            status=Assignment.Status.DONE, completed_at=now):
        queue_state.release_place(assignment.segment_id)  # the label already holds its own place
    else:
        Assignment.objects.filter(pk=assignment.pk).exclude(status=Assignment.Status.DONE).update(
            status=Assignment.Status.DONE, completed_at=now)


def skip_assignment(user, assignment_id) -> Assignment:
    assignment = Assignment.objects.filter(pk=assignment_id, annotator=user).first()
    if assignment is None:
        raise AnnotationError("assignment", f"Assignment {assignment_id} does not exist or is someone else's.")
    if assignment.status == Assignment.Status.DONE:
        raise AnnotationError("assignment", f"Assignment {assignment_id} is already labelled; edit it instead.")
    queue.skip(user, assignment)
    assignment.refresh_from_db()
    return assignment


# --- review -------------------------------------------------------------------

def set_review(reviewer, segment: Segment, values: LabelValues, note: str = "") -> ReviewedLabel:
    """The reviewer's final label for a segment (overrides the majority in exports)."""
    review, _ = ReviewedLabel.objects.update_or_create(
        segment=segment, defaults={"reviewer": reviewer, "category": values.category,
                                   "valence": values.valence, "arousal": values.arousal, "note": note})
    return review


def clear_review(segment: Segment) -> None:
    ReviewedLabel.objects.filter(segment=segment).delete()


def set_gold(segment: Segment, category: str, valence: float | None = None,
             arousal: float | None = None) -> GoldLabel:
    values = LabelValues(category, 0.0 if valence is None else valence, 0.0 if arousal is None else arousal)
    gold, _ = GoldLabel.objects.update_or_create(
        segment=segment, defaults={"category": values.category,
                                   "valence": None if valence is None else values.valence,
                                   "arousal": None if arousal is None else values.arousal})
    return gold


def clear_gold(segment: Segment) -> None:
    GoldLabel.objects.filter(segment=segment).delete()
