"""Per-segment label summaries (SegmentAggregate) for the review list.

Why: ordering the review list by disagreement used to load every label of the
corpus per request (13 s at 100,000 segments). Each segment's summary is now
rewritten from its few labels in the same transaction that saves or deletes
one of them, so the list is an indexed ORDER BY ... LIMIT.
"""

from typing import Iterable, NamedTuple

from django.db import connection

from .export.aggregate import majority
from .models import GoldLabel, Label, ReviewedLabel, SegmentAggregate


class Summary(NamedTuple):
    n_labels: int
    categories: dict
    majority: str
    majority_share: float
    valence_spread: float
    arousal_spread: float
    disagreement: float


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) > 1 else 0.0


def summarise(labels: Iterable[tuple[str, float, float]]) -> Summary | None:
    """(category, valence, arousal) of one segment's labels -> its summary.
    Disagreement = share of labels outside the majority category plus half the
    mean V/A range (both in [0, 1]); a segment everyone agrees on scores 0."""
    labels = list(labels)
    if not labels:
        return None
    categories: dict[str, int] = {}
    for category, _, _ in labels:
        categories[category] = categories.get(category, 0) + 1
    top, count = majority(category for category, _, _ in labels)
    share = count / len(labels)
    v_spread, a_spread = _spread([v for _, v, _ in labels]), _spread([a for _, _, a in labels])
    disagreement = round((1 - share) + (v_spread + a_spread) / 4, 6)  # rounded: ties order by label count
    return Summary(len(labels), categories, top, share, v_spread, a_spread, disagreement)


_COLUMNS = ("n_labels", "categories", "majority", "majority_share", "valence_spread", "arousal_spread",
            "disagreement")


def refresh(segment_id: int) -> None:
    """Rewrite the segment's summary from its labels (none left: no row). Call
    inside the transaction that changed them. Plain SQL: runs on every label save."""
    table, label = SegmentAggregate._meta.db_table, Label._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT category, valence, arousal FROM {label} WHERE segment_id = %s", [segment_id])
        summary = summarise(cursor.fetchall())
        if summary is None:
            cursor.execute(f"DELETE FROM {table} WHERE segment_id = %s", [segment_id])
            return
        values = list(summary)
        values[1] = SegmentAggregate._meta.get_field("categories").get_db_prep_save(summary.categories, connection)
        review, gold = ReviewedLabel._meta.db_table, GoldLabel._meta.db_table
        cursor.execute(
            f"INSERT INTO {table} (segment_id, {', '.join(_COLUMNS)}, reviewed, gold) "
            f"SELECT %s, {', '.join(['%s'] * len(_COLUMNS))}, "
            f"EXISTS (SELECT 1 FROM {review} WHERE segment_id = %s), "
            f"EXISTS (SELECT 1 FROM {gold} WHERE segment_id = %s) WHERE 1 = 1 "  # WHERE: SQLite's upsert grammar
            f"ON CONFLICT (segment_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS),
            [segment_id, *values, segment_id, segment_id])


def mark(segment_id: int, **flags: bool) -> None:
    """The segment was reviewed / made gold, or no longer is."""
    SegmentAggregate.objects.filter(pk=segment_id).update(**flags)


def rebuild_all(batch: int = 2000) -> int:
    """Every summary from the labels (a backfill; the services keep them current)."""
    reviewed = set(ReviewedLabel.objects.values_list("segment_id", flat=True))
    gold = set(GoldLabel.objects.values_list("segment_id", flat=True))
    rows, current, labels = [], None, []

    def flush_segment():
        summary = summarise(labels)
        if summary:
            rows.append(SegmentAggregate(segment_id=current, reviewed=current in reviewed, gold=current in gold,
                                         **summary._asdict()))

    SegmentAggregate.objects.all().delete()
    for segment_id, *values in (Label.objects.order_by("segment_id").values_list(
            "segment_id", "category", "valence", "arousal").iterator(chunk_size=batch)):
        if segment_id != current:
            flush_segment()
            current, labels = segment_id, []
            if len(rows) >= batch:
                SegmentAggregate.objects.bulk_create(rows)
                rows = []
        labels.append(tuple(values))
    flush_segment()
    SegmentAggregate.objects.bulk_create(rows)
    return SegmentAggregate.objects.count()
