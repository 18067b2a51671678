"""Speaker-disjoint train/val/test splits, stratified by class (pure Python).

Every segment belongs to a *group* of segments that must stay in one split:
segments of the same known speaker stay together, and a segment whose speaker
is unknown ties its whole video together (with every speaker seen in that
video, and transitively whatever those speakers tie to). Groups are then
placed greedily, largest first, into the split whose per-class and total
counts are furthest below their targets. The seed only decides the order of
equally large groups, so the same input and seed always give the same splits.
"""

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class SplitItem:
    segment_id: int
    video: str                # video key (any string)
    speaker: str | None       # speaker key, unique across videos, or None when unknown
    category: str | None      # stratification class (None = its own bucket)


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # deterministic root


def group_key(item: SplitItem) -> str:
    return f"speaker:{item.speaker}" if item.speaker is not None else f"video:{item.video}"


def speaker_groups(items: Iterable[SplitItem]) -> dict[int, str]:
    """segment_id -> group root: items that must share a split share a root."""
    items = list(items)
    uf = _UnionFind()
    speakers_by_video: dict[str, set[str]] = defaultdict(set)
    unknown_videos: set[str] = set()
    for item in items:
        uf.find(group_key(item))
        if item.speaker is None:
            unknown_videos.add(item.video)
        else:
            speakers_by_video[item.video].add(group_key(item))
    # An unknown speaker could be anyone in that video: tie them all together.
    for video in unknown_videos:
        for speaker in speakers_by_video.get(video, ()):
            uf.union(f"video:{video}", speaker)
    return {item.segment_id: uf.find(group_key(item)) for item in items}


def assign_splits(items: Iterable[SplitItem], seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> dict[int, str]:
    """segment_id -> "train" | "val" | "test"."""
    items = sorted(items, key=lambda i: i.segment_id)
    if not items:
        return {}
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError("fractions must be three non-negative numbers")
    total_fraction = sum(fractions)
    fractions = tuple(f / total_fraction for f in fractions)

    roots = speaker_groups(items)
    members: dict[str, list[SplitItem]] = defaultdict(list)
    for item in items:
        members[roots[item.segment_id]].append(item)
    group_counts = {root: Counter(i.category for i in group) for root, group in members.items()}

    class_totals = Counter(i.category for i in items)
    n = len(items)
    target = [{c: f * t for c, t in class_totals.items()} for f in fractions]
    target_size = [f * n for f in fractions]
    current = [Counter() for _ in SPLITS]
    size = [0] * len(SPLITS)

    def cost_if(split: int, counts: Counter) -> float:
        # Squared shortfall/excess relative to targets, classes and size alike.
        cost = 0.0
        for s in range(len(SPLITS)):
            extra = counts if s == split else Counter()
            for c, t in class_totals.items():
                cost += ((current[s][c] + extra[c] - target[s][c]) / t) ** 2
            grown = size[s] + (sum(counts.values()) if s == split else 0)
            cost += len(class_totals) * ((grown - target_size[s]) / n) ** 2
        return cost

    order = sorted(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda root: -len(members[root]))  # stable: seed breaks ties
    placement: dict[str, int] = {}
    for root in order:
        counts = group_counts[root]
        candidates = [s for s in range(len(SPLITS)) if fractions[s] > 0]
        best = min(candidates, key=lambda s: (cost_if(s, counts), s))
        placement[root] = best
        current[best].update(counts)
        size[best] += len(members[root])

    _fill_empty_splits(placement, members, fractions)
    return {item.segment_id: SPLITS[placement[roots[item.segment_id]]] for item in items}


def _fill_empty_splits(placement: dict[str, int], members: dict[str, list], fractions):
    """With enough groups, no wanted split stays empty: move the smallest group
    of the split holding the most groups into it."""
    for s in range(len(SPLITS)):
        if fractions[s] == 0 or s in placement.values():
            continue
        per_split = Counter(placement.values())
        donor, count = max(per_split.items(), key=lambda kv: (kv[1], -kv[0]))
        if count < 2:
            return
        smallest = min((r for r, p in placement.items() if p == donor), key=lambda r: (len(members[r]), r))
        placement[smallest] = s


def split_summary(splits: dict[int, str], categories: dict[int, str | None]) -> dict[str, dict]:
    """{"train": {"n": 10, "classes": {"happy": 4, ...}}, ...}"""
    out = {name: {"n": 0, "classes": Counter()} for name in SPLITS}
    for segment_id, split in splits.items():
        out[split]["n"] += 1
        out[split]["classes"][categories.get(segment_id) or "none"] += 1
    return {name: {"n": v["n"], "classes": dict(sorted(v["classes"].items()))} for name, v in out.items()}
