"""Several categories sharing the top count are a tie, not a majority."""

from collections import Counter
from typing import Iterable, Mapping

from labelstudio_emo.emotions import EMOTIONS


def tied_categories(counts: Mapping[str, int] | Iterable[str]) -> list[str]:
    """The categories sharing the highest count when two or more do (FER2013
    order), else []. Accepts {category: n} or the categories themselves."""
    counts = Counter(counts) if not isinstance(counts, Mapping) else counts
    if not counts:
        return []
    top = max(counts.values())
    tied = [name for name, n in counts.items() if n == top]
    rank = {name: i for i, name in enumerate(EMOTIONS)}
    return sorted(tied, key=lambda c: (rank.get(c, len(rank)), c)) if len(tied) > 1 else []
