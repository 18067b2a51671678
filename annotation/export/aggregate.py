"""One answer per segment from several people's labels.

Majority category with a deterministic tie-break (FER2013 order, so the same
labels always give the same answer), its vote share, and the mean valence /
arousal of the humans. A ReviewedLabel, when there is one, is the final word on
category, valence and arousal; the vote share then says how many raters agreed
with the reviewer.

Labels may be model instances or plain dicts with category/valence/arousal.
"""

from collections import Counter
from typing import Any, Iterable, NamedTuple

from labelstudio_emo.emotions import EMOTIONS

_NO_REVIEW = object()


class Aggregate(NamedTuple):
    category: str | None
    vote_share: float | None
    valence: float | None
    arousal: float | None
    n: int


def _get(obj: Any, name: str):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def majority(categories: Iterable[str]) -> tuple[str | None, int]:
    """The most frequent category and its count; ties go to the earliest in EMOTIONS order."""
    counts = Counter(categories)
    if not counts:
        return None, 0
    rank = {name: i for i, name in enumerate(EMOTIONS)}
    best = min(counts, key=lambda c: (-counts[c], rank.get(c, len(rank)), c))
    return best, counts[best]


def _lookup_review(labels: list):
    """Find the segment's ReviewedLabel when the caller passed Label rows but no review."""
    segment_ids = {getattr(label, "segment_id", None) for label in labels} - {None}
    if len(segment_ids) != 1:
        return None
    from annotation.models import ReviewedLabel  # lazy: keeps this module importable without Django

    return ReviewedLabel.objects.filter(segment_id=segment_ids.pop()).first()


def aggregate_segment_labels(labels: Iterable, review=_NO_REVIEW) -> Aggregate:
    """Aggregate one segment's labels.

    `review`: the segment's ReviewedLabel (or a dict), or None when the caller
    knows there is none. When omitted and the labels are Label rows, the review
    is looked up in the database.
    """
    labels = list(labels)
    if review is _NO_REVIEW:
        review = _lookup_review(labels)
    n = len(labels)
    categories = [_get(label, "category") for label in labels]
    if review is not None:
        category = _get(review, "category")
        agreeing = sum(1 for c in categories if c == category)
        return Aggregate(category, agreeing / n if n else None,
                         float(_get(review, "valence")), float(_get(review, "arousal")), n)
    if n == 0:
        return Aggregate(None, None, None, None, 0)
    category, count = majority(categories)
    valence = sum(float(_get(label, "valence")) for label in labels) / n
    arousal = sum(float(_get(label, "arousal")) for label in labels) / n
    return Aggregate(category, count / n, valence, arousal, n)
