"""Inter-rater agreement, pure functions (no Django): ratings in, numbers out.

- Krippendorff's alpha, nominal for the category, interval for valence and
  arousal, missing ratings allowed: from running sums over the pairable
  values of each unit (coincidence counts; per-unit sums of squares), so the
  memory does not grow with units x distinct values as a coincidence matrix
  would (the `krippendorff` package's interval alpha needs a values x values
  array per unit: gigabytes at 50,000 segments of unrounded floats).
- Lin's concordance correlation coefficient (CCC) between two raters on the
  items both rated, averaged over rater pairs, from running co-moments.
- Per-annotator agreement with the others (leave-one-out), teacher-vs-human
  confusion matrix, prelabel acceptance rate, labels per hour, gold accuracy.

A `Rating` is (rater, item, value). Functions return None where a figure is
undefined (too few shared items, no variance) rather than a made-up number.
"""

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Hashable, Iterable, NamedTuple, Sequence

import numpy as np

from labelstudio_emo.emotions import EMOTIONS

MIN_SHARED_FOR_CCC = 3  # CCC of two points is always +-1: not evidence


class Rating(NamedTuple):
    rater: Hashable
    item: Hashable
    value: object


# --- running sums (each O(1) memory, fed one unit = one segment's labels at a time) -----

class NominalAlphaSums:
    """Krippendorff's α, nominal, from the coincidence sums: per category the
    number of pairable values n_c, and over units the disagreeing ordered pairs
    sum_u (m_u^2 - sum_c n_uc^2) / (m_u - 1). Units with one value do not count."""

    def __init__(self):
        self.n = 0
        self.per_value: Counter = Counter()
        self.disagreement = 0.0

    def add_unit(self, values: Sequence) -> None:
        m = len(values)
        if m < 2:
            return
        counts: dict = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        self.n += m
        for value, count in counts.items():
            self.per_value[value] += count
        self.disagreement += (m * m - sum(c * c for c in counts.values())) / (m - 1)

    def alpha(self) -> float | None:
        expected = self.n * self.n - sum(c * c for c in self.per_value.values())
        if self.n < 2 or expected <= 0:
            return None  # no pairable values, or one value everywhere: alpha is 0/0
        return 1.0 - (self.n - 1) * self.disagreement / expected


class IntervalAlphaSums:
    """Krippendorff's α, interval (metric (a - b)^2), from per-unit sums: the
    observed disagreement of a unit is 2 m_u SS_u / (m_u - 1) (SS_u = squares
    around the unit mean), the expected one 2 SS / (n - 1) over all pairable
    values (SS merged unit by unit, Chan et al., so floats lose nothing)."""

    def __init__(self):
        self.n = 0
        self.mean = 0.0
        self.squares = 0.0
        self.observed = 0.0

    def add_unit(self, values: Sequence[float]) -> None:
        m = len(values)
        if m < 2:
            return
        unit_mean = sum(values) / m
        unit_squares = sum((v - unit_mean) ** 2 for v in values)
        self.observed += 2 * m * unit_squares / (m - 1)
        total = self.n + m
        delta = unit_mean - self.mean
        self.squares += unit_squares + delta * delta * self.n * m / total
        self.mean += delta * m / total
        self.n = total

    def alpha(self) -> float | None:
        if self.n < 2 or self.squares <= 0:
            return None
        expected = 2 * self.squares / (self.n - 1)
        return 1.0 - (self.observed / self.n) / expected


class CoMoments:
    """Running means, variances and covariance of paired values (Welford):
    constant ratings give exact zeros, so CCC's 0/0 case is recognised."""

    __slots__ = ("n", "mean_x", "mean_y", "var_x", "var_y", "cov", "abs_error")

    def __init__(self):
        self.n = 0
        self.mean_x = self.mean_y = self.var_x = self.var_y = self.cov = self.abs_error = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        dx, dy = x - self.mean_x, y - self.mean_y
        self.mean_x += dx / self.n
        self.mean_y += dy / self.n
        self.var_x += dx * (x - self.mean_x)
        self.var_y += dy * (y - self.mean_y)
        self.cov += dx * (y - self.mean_y)
        self.abs_error += abs(x - y)

    def ccc(self) -> float | None:
        """Lin's concordance correlation coefficient (population moments)."""
        if self.n < 2:
            return None
        denominator = (self.var_x + self.var_y) / self.n + (self.mean_x - self.mean_y) ** 2
        if denominator == 0:
            return 1.0  # identical constant ratings agree perfectly
        return 2 * (self.cov / self.n) / denominator

    def mae(self) -> float | None:
        return self.abs_error / self.n if self.n else None


def _units(ratings: Iterable[Rating]) -> list[list]:
    by_item: dict = defaultdict(list)
    for r in ratings:
        by_item[r.item].append(r.value)
    return list(by_item.values())


def krippendorff_alpha(ratings: Iterable[Rating], level: str) -> float | None:
    """Krippendorff's alpha; `level` "nominal" (categories) or "interval" (V, A).
    None when fewer than two pairable values or no variation at all."""
    if level not in ("nominal", "interval"):
        raise ValueError(f"level must be nominal or interval, not {level!r}")
    sums = NominalAlphaSums() if level == "nominal" else IntervalAlphaSums()
    for values in _units(ratings):
        sums.add_unit(values if level == "nominal" else [float(v) for v in values])
    return sums.alpha()


def ccc(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Lin's concordance correlation coefficient (population moments)."""
    if len(x) != len(y):
        raise ValueError("ccc needs paired values")
    moments = CoMoments()
    for a, b in zip(x, y):
        moments.add(float(a), float(b))
    return moments.ccc()


@dataclass
class PairCCC:
    rater_a: str
    rater_b: str
    n: int
    ccc: float | None


@dataclass
class PairwiseCCC:
    mean: float | None
    pairs: list[PairCCC] = field(default_factory=list)


def _pairwise(moments: dict, min_shared: int) -> PairwiseCCC:
    pairs = [PairCCC(a, b, m.n, m.ccc()) for (a, b), m in sorted(moments.items()) if m.n >= min_shared]
    scored = [p.ccc for p in pairs if p.ccc is not None]
    return PairwiseCCC(math.fsum(scored) / len(scored) if scored else None, pairs)


def pairwise_ccc(ratings: Iterable[Rating], min_shared: int = MIN_SHARED_FOR_CCC) -> PairwiseCCC:
    """CCC of every rater pair on their shared items; mean over pairs with
    at least `min_shared` shared items."""
    by_item: dict = defaultdict(dict)
    for r in ratings:
        by_item[r.item][str(r.rater)] = float(r.value)
    moments: dict = defaultdict(CoMoments)
    for values in by_item.values():
        for a, b in combinations(sorted(values), 2):
            moments[(a, b)].add(values[a], values[b])
    return _pairwise(moments, min_shared)


@dataclass
class RaterAgreement:
    rater: str
    n_shared: int  # items this rater shares with at least one other rater
    category_agreement: float | None  # share of items where they match the others' majority
    valence_ccc: float | None  # CCC with the others' mean valence
    arousal_ccc: float | None
    valence_mae: float | None  # mean |own - others' mean|
    arousal_mae: float | None


class UnitLabel(NamedTuple):
    """One rater's label of a unit (segment), as the agreement pass reads it."""

    rater: str
    category: str
    valence: float
    arousal: float


class _RaterSums:
    __slots__ = ("shared", "matches", "valence", "arousal")

    def __init__(self):
        self.shared = self.matches = 0
        self.valence, self.arousal = CoMoments(), CoMoments()


class AgreementSums:
    """Everything the inter-rater figures need, fed one unit at a time: memory
    grows with raters (pairs), never with units or distinct values."""

    def __init__(self):
        self.category = NominalAlphaSums()
        self.valence, self.arousal = IntervalAlphaSums(), IntervalAlphaSums()
        self.pair_valence: dict = defaultdict(CoMoments)
        self.pair_arousal: dict = defaultdict(CoMoments)
        self.raters: dict = defaultdict(_RaterSums)
        self.n_labels = self.n_items = 0

    def add_unit(self, labels: Sequence[UnitLabel]) -> None:
        m = len(labels)
        self.n_labels += m
        self.n_items += 1
        if m < 2:
            return
        self.category.add_unit([label.category for label in labels])
        valences, arousals = [label.valence for label in labels], [label.arousal for label in labels]
        self.valence.add_unit(valences)
        self.arousal.add_unit(arousals)
        ordered = sorted(labels)
        for a, b in combinations(ordered, 2):
            self.pair_valence[(a.rater, b.rater)].add(a.valence, b.valence)
            self.pair_arousal[(a.rater, b.rater)].add(a.arousal, b.arousal)
        votes: dict = {}
        for label in labels:
            votes[label.category] = votes.get(label.category, 0) + 1
        sum_v, sum_a = sum(valences), sum(arousals)
        for own in labels:
            votes[own.category] -= 1  # the others' votes
            sums = self.raters[own.rater]
            sums.shared += 1
            # A tie among the others counts as a match if the rater picked one of the tied.
            sums.matches += votes[own.category] == max(votes.values())
            sums.valence.add(own.valence, (sum_v - own.valence) / (m - 1))
            sums.arousal.add(own.arousal, (sum_a - own.arousal) / (m - 1))
            votes[own.category] += 1

    def rater_agreement(self, rater: str) -> RaterAgreement:
        sums = self.raters.get(rater) or _RaterSums()
        enough = sums.shared >= MIN_SHARED_FOR_CCC
        return RaterAgreement(rater, sums.shared, sums.matches / sums.shared if sums.shared else None,
                              sums.valence.ccc() if enough else None, sums.arousal.ccc() if enough else None,
                              sums.valence.mae(), sums.arousal.mae())


def agreement_sums(units: Iterable[Sequence[UnitLabel]]) -> AgreementSums:
    sums = AgreementSums()
    for labels in units:
        sums.add_unit(labels)
    return sums


def rater_agreement(categories: Iterable[Rating], valence: Iterable[Rating],
                    arousal: Iterable[Rating]) -> list[RaterAgreement]:
    """Each rater against the others (leave-one-out) on the items they share."""
    by_item: dict = defaultdict(dict)
    for key, ratings in (("category", categories), ("valence", valence), ("arousal", arousal)):
        for r in ratings:
            by_item[r.item].setdefault(str(r.rater), {})[key] = r.value
    sums = agreement_sums([UnitLabel(rater, v["category"], float(v["valence"]), float(v["arousal"]))
                           for rater, v in raters.items()] for raters in by_item.values())
    names = sorted({rater for raters in by_item.values() for rater in raters})
    return [sums.rater_agreement(name) for name in names]


def confusion_matrix(pairs: Iterable[tuple[str, str]], classes: Sequence[str] = EMOTIONS) -> list[list[int]]:
    """rows = first of each pair (teacher), columns = second (human)."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for predicted, actual in pairs:
        if predicted in index and actual in index:
            matrix[index[predicted]][index[actual]] += 1
    return matrix


def acceptance_rate(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Share of labels whose category is the prelabel the annotator was shown."""
    pairs = [(shown, chosen) for shown, chosen in pairs if shown]
    return sum(shown == chosen for shown, chosen in pairs) / len(pairs) if pairs else None


def labels_per_hour(n_labels: int, seconds_spent: float) -> float | None:
    """Labels per hour of recorded labelling time."""
    return n_labels * 3600.0 / seconds_spent if seconds_spent > 0 else None


@dataclass
class GoldScore:
    rater: str
    n: int
    accuracy: float
    valence_mae: float | None
    arousal_mae: float | None


def gold_accuracy(records: Iterable[tuple]) -> list[GoldScore]:
    """records: (rater, category, gold_category, valence, gold_valence, arousal, gold_arousal);
    gold V/A may be None (category-only gold)."""
    grouped: dict = defaultdict(list)
    for record in records:
        grouped[record[0]].append(record)
    out = []
    for rater in sorted(grouped, key=str):
        rows = grouped[rater]
        v = [abs(r[3] - r[4]) for r in rows if r[4] is not None]
        a = [abs(r[5] - r[6]) for r in rows if r[6] is not None]
        out.append(GoldScore(str(rater), len(rows), sum(r[1] == r[2] for r in rows) / len(rows),
                             float(np.mean(v)) if v else None, float(np.mean(a)) if a else None))
    return out


# --- one report: the streamed sums plus per-rater and teacher totals --------------

@dataclass(frozen=True)
class LabelRow:
    """One human label flattened (annotator by name), for agreement_report()."""

    annotator: str
    segment_id: int
    category: str
    valence: float
    arousal: float
    seconds_spent: float
    shown_category: str | None  # the prelabel the annotator saw, if any
    teacher_category: str | None  # the segment's current teacher prelabel
    gold_category: str | None
    gold_valence: float | None
    gold_arousal: float | None


@dataclass
class RaterTotals:
    """Per-annotator counts (SQL aggregates in annotation.selectors)."""

    rater: str
    n_labels: int
    seconds: float
    n_shown: int = 0  # labels made with a prelabel on screen
    n_accepted: int = 0  # ... whose category is the prelabel's
    gold_n: int = 0
    gold_correct: int = 0
    gold_valence_n: int = 0
    gold_valence_error: float = 0.0  # sum of |valence - gold valence|
    gold_arousal_n: int = 0
    gold_arousal_error: float = 0.0


class TeacherCount(NamedTuple):
    """Labels per (teacher's category, human category, prelabel shown?)."""

    teacher: str | None
    category: str
    shown: bool
    n: int


@dataclass
class AgreementReport:
    n_labels: int
    n_items: int
    n_raters: int
    alpha_category: float | None
    alpha_valence: float | None
    alpha_arousal: float | None
    ccc_valence: PairwiseCCC
    ccc_arousal: PairwiseCCC
    raters: list[dict]
    teacher_confusion: list[list[int]]
    classes: list[str]
    acceptance_rate: float | None
    n_with_prelabel: int
    # Anchoring: agreement with the teacher when its prelabel was shown vs a blind pass.
    teacher_agreement_shown: float | None = None
    teacher_agreement_blind: float | None = None
    n_blind: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def build_report(sums: AgreementSums, totals: Iterable[RaterTotals],
                 teacher_counts: Iterable[TeacherCount]) -> AgreementReport:
    """`sums` over the non-gold units (gold items are measured apart: everyone
    sees them by design); totals and teacher counts over every label."""
    totals = sorted(totals, key=lambda t: t.rater)
    teacher_counts = [c for c in teacher_counts if c.teacher]
    raters = []
    for t in totals:
        entry = asdict(sums.rater_agreement(t.rater))
        entry.update(n_labels=t.n_labels, hours=t.seconds / 3600.0,
                     labels_per_hour=labels_per_hour(t.n_labels, t.seconds),
                     acceptance_rate=_ratio(t.n_accepted, t.n_shown), gold_n=t.gold_n,
                     gold_accuracy=_ratio(t.gold_correct, t.gold_n),
                     gold_valence_mae=_ratio(t.gold_valence_error, t.gold_valence_n),
                     gold_arousal_mae=_ratio(t.gold_arousal_error, t.gold_arousal_n))
        raters.append(entry)
    index = {c: i for i, c in enumerate(EMOTIONS)}
    confusion = [[0] * len(EMOTIONS) for _ in EMOTIONS]
    for c in teacher_counts:
        if c.teacher in index and c.category in index:
            confusion[index[c.teacher]][index[c.category]] += c.n
    shown = [c for c in teacher_counts if c.shown]
    blind = [c for c in teacher_counts if not c.shown]
    n_shown = sum(t.n_shown for t in totals)
    return AgreementReport(
        n_labels=sum(t.n_labels for t in totals), n_items=sums.n_items, n_raters=len(totals),
        alpha_category=sums.category.alpha(), alpha_valence=sums.valence.alpha(),
        alpha_arousal=sums.arousal.alpha(),
        ccc_valence=_pairwise(sums.pair_valence, MIN_SHARED_FOR_CCC),
        ccc_arousal=_pairwise(sums.pair_arousal, MIN_SHARED_FOR_CCC),
        raters=raters, teacher_confusion=confusion, classes=list(EMOTIONS),
        acceptance_rate=_ratio(sum(t.n_accepted for t in totals), n_shown), n_with_prelabel=n_shown,
        teacher_agreement_shown=_share_equal(shown), teacher_agreement_blind=_share_equal(blind),
        n_blind=sum(c.n for c in blind))


def _share_equal(counts: list[TeacherCount]) -> float | None:
    return _ratio(sum(c.n for c in counts if c.teacher == c.category), sum(c.n for c in counts))


def agreement_report(rows: Sequence) -> AgreementReport:
    """The report from LabelRows held in memory. The database path
    (annotation.agreement_store) streams the units and counts in SQL instead."""
    units: dict = defaultdict(list)
    totals: dict = {}
    teacher: Counter = Counter()
    for r in rows:
        if r.gold_category is None:
            units[r.segment_id].append(UnitLabel(str(r.annotator), r.category, r.valence, r.arousal))
        t = totals.setdefault(r.annotator, RaterTotals(str(r.annotator), 0, 0.0))
        t.n_labels += 1
        t.seconds += r.seconds_spent
        t.n_shown += bool(r.shown_category)
        t.n_accepted += bool(r.shown_category) and r.shown_category == r.category
        if r.gold_category is not None:
            t.gold_n += 1
            t.gold_correct += r.category == r.gold_category
            if r.gold_valence is not None:
                t.gold_valence_n += 1
                t.gold_valence_error += abs(r.valence - r.gold_valence)
            if r.gold_arousal is not None:
                t.gold_arousal_n += 1
                t.gold_arousal_error += abs(r.arousal - r.gold_arousal)
        teacher[(r.teacher_category, r.category, bool(r.shown_category))] += 1
    return build_report(agreement_sums(units.values()), totals.values(),
                        [TeacherCount(*key, n) for key, n in teacher.items()])
