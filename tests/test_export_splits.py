"""Pure parts of the export: label aggregation and speaker-disjoint splits."""

import random
from collections import Counter, defaultdict

import pytest

from annotation.export.aggregate import Aggregate, aggregate_segment_labels
from annotation.export.splits import SplitItem, assign_splits, speaker_groups
from labelstudio_emo.emotions import EMOTIONS


def lab(category, valence=0.0, arousal=0.0):
    return {"category": category, "valence": valence, "arousal": arousal}


def test_majority_vote_share_and_means():
    agg = aggregate_segment_labels([lab("sad", -0.5, -0.2), lab("sad", -0.3, 0.0), lab("happy", 0.8, 0.5)], review=None)
    assert agg.category == "sad" and agg.vote_share == pytest.approx(2 / 3) and agg.n == 3
    assert agg.valence == pytest.approx(0.0) and agg.arousal == pytest.approx(0.1)


def test_ties_break_the_same_way_whatever_the_order():
    labels = [lab("surprise"), lab("fear"), lab("happy")]
    results = {aggregate_segment_labels(order, review=None).category
               for order in (labels, labels[::-1], labels[1:] + labels[:1])}
    assert results == {"fear"}  # first in FER2013 order among the tied


def test_review_overrides_majority():
    agg = aggregate_segment_labels([lab("sad"), lab("sad"), lab("angry")],
                                   review={"category": "angry", "valence": -0.6, "arousal": 0.7})
    assert agg == Aggregate("angry", pytest.approx(1 / 3), -0.6, 0.7, 3)


def test_no_labels():
    assert aggregate_segment_labels([], review=None) == Aggregate(None, None, None, None, 0)


def _corpus(seed=0, n=600, videos=30):
    rng = random.Random(seed)
    items = []
    for i in range(n):
        video = rng.randrange(videos)
        speaker = None if rng.random() < 0.1 else (f"person:{rng.randrange(8)}" if rng.random() < 0.3
                                                   else f"v{video}:face{rng.randrange(3)}")
        items.append(SplitItem(i, str(video), speaker, rng.choice(EMOTIONS[:5] + ("neutral",) * 3)))
    return items


def test_splits_never_share_a_speaker_or_an_unknown_speakers_video():
    items = _corpus()
    splits = assign_splits(items, seed=11)
    by_speaker, by_video = defaultdict(set), defaultdict(set)
    for item in items:
        if item.speaker:
            by_speaker[item.speaker].add(splits[item.segment_id])
        by_video[item.video].add(splits[item.segment_id])
    assert all(len(s) == 1 for s in by_speaker.values())
    for item in items:
        if item.speaker is None:
            assert len(by_video[item.video]) == 1


def test_splits_are_reproducible_and_depend_on_the_seed():
    items = _corpus(n=300, videos=200)
    assert assign_splits(items, seed=3) == assign_splits(list(reversed(items)), seed=3)
    assert any(assign_splits(items, seed=3) != assign_splits(items, seed=s) for s in range(4, 8))


def test_splits_are_stratified_when_groups_allow():
    rng = random.Random(2)
    items = [SplitItem(i, f"v{i // 4}", f"v{i // 4}:face{i % 2}", rng.choice(EMOTIONS)) for i in range(2800)]
    splits = assign_splits(items, seed=0)
    sizes = Counter(splits.values())
    assert sizes["train"] == pytest.approx(2240, abs=30) and sizes["val"] == pytest.approx(280, abs=30)
    for name in ("train", "val", "test"):
        classes = Counter(i.category for i in items if splits[i.segment_id] == name)
        share = {c: classes[c] / sizes[name] for c in EMOTIONS}
        overall = Counter(i.category for i in items)
        for c in EMOTIONS:
            assert share[c] == pytest.approx(overall[c] / len(items), abs=0.03), (name, c)


def test_few_speakers_still_fill_every_split():
    items = [SplitItem(i, "1", f"s{i % 3}", "happy") for i in range(9)]
    assert set(assign_splits(items, seed=0).values()) == {"train", "val", "test"}
    assert set(assign_splits(items[:3], seed=0).values()) == {"train", "val", "test"}
    assert set(assign_splits([SplitItem(1, "1", None, "sad")]).values()) == {"train"}


def test_unknown_speaker_ties_its_video_to_every_speaker_in_it():
    items = [SplitItem(1, "a", "x", None), SplitItem(2, "a", None, None), SplitItem(3, "b", "x", None),
             SplitItem(4, "b", "y", None), SplitItem(5, "c", "z", None)]
    groups = speaker_groups(items)
    assert groups[1] == groups[2] == groups[3]
    assert groups[4] != groups[1] and groups[5] != groups[1]


def test_card_agreement_matches_krippendorff_on_rater_matrix():
    import krippendorff
    import numpy as np

    from annotation.export.card import agreement_figures

    rng = random.Random(4)
    rows, cats, vals = [], np.full((4, 120), np.nan), np.full((4, 120), np.nan)
    for u in range(120):
        truth, labels = rng.randrange(7), []
        for r in rng.sample(range(4), 2 + u % 2):
            c = truth if rng.random() < 0.6 else rng.randrange(7)
            v = rng.uniform(-1, 1)  # unrounded, as an API client may send
            labels.append({"annotator": f"r{r}", "category": EMOTIONS[c], "valence": v, "arousal": v})
            cats[r, u], vals[r, u] = c, v
        rows.append({"labels": labels, "vote_share": 0.5, "category": EMOTIONS[truth]})
    figures = agreement_figures(rows)
    assert figures.alpha_category == pytest.approx(krippendorff.alpha(reliability_data=cats, level_of_measurement="nominal"))
    assert figures.alpha_valence == pytest.approx(krippendorff.alpha(reliability_data=vals, level_of_measurement="interval"))
    assert (figures.units, figures.raters) == (120, 4)
    single = agreement_figures([{"labels": rows[0]["labels"][:1], "vote_share": 1.0, "category": "sad"}])
    assert single.alpha_category is None and single.units == 0


def test_card_agreement_counts_every_segment_of_a_large_export():
    """Above 10,000 rated segments the card used to sample them and round V/A to 0.1."""
    from annotation.agreement import Rating, krippendorff_alpha
    from annotation.export.card import agreement_figures

    rng = random.Random(5)
    rows, valence, category = [], [], []
    for u in range(12_000):
        agree = u >= 10_000  # the last 2,000 segments: the raters agree exactly
        v0, labels = rng.uniform(-1, 1), []
        for r in rng.sample(range(6), 3):
            v = v0 if agree else round(v0 + rng.gauss(0, 0.3), 3)
            c = "happy" if agree else rng.choice(EMOTIONS)
            labels.append({"annotator": f"r{r}", "category": c, "valence": v, "arousal": v})
            valence.append(Rating(f"r{r}", u, v))
            category.append(Rating(f"r{r}", u, c))
        rows.append({"labels": labels, "vote_share": 1.0 if agree else None, "category": "happy" if agree else None})
    figures = agreement_figures(rows)
    assert figures.units == 12_000
    assert figures.alpha_valence == pytest.approx(krippendorff_alpha(valence, "interval"), abs=1e-12)
    assert figures.alpha_category == pytest.approx(krippendorff_alpha(category, "nominal"), abs=1e-12)
    assert figures.alpha_arousal == figures.alpha_valence
