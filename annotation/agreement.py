"""Inter-rater agreement, pure functions (no Django): ratings in, numbers out.

- Krippendorff's alpha via the `krippendorff` package: nominal for the
  category, interval for valence and arousal; missing ratings allowed.
- Lin's concordance correlation coefficient (CCC) between two raters on the
  items both rated, averaged over rater pairs.
- Per-annotator agreement with the others (leave-one-out), teacher-vs-human
  confusion matrix, prelabel acceptance rate, labels per hour, gold accuracy.

A `Rating` is (rater, item, value). Functions return None where a figure is
undefined (too few shared items, no variance) rather than a made-up number.
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Hashable, Iterable, NamedTuple, Sequence

import krippendorff
import numpy as np

from labelstudio_emo.emotions import EMOTIONS

MIN_SHARED_FOR_CCC = 3  # CCC of two points is always +-1: not evidence


class Rating(NamedTuple):
    rater: Hashable
    item: Hashable
    value: object


def reliability_matrix(ratings: Iterable[Rating], codes: dict | None = None) -> np.ndarray:
    """raters x items array, NaN where a rater did not rate an item.
    `codes` maps nominal values to numbers (e.g. category -> index)."""
    ratings = list(ratings)
    raters = sorted({r.rater for r in ratings}, key=str)
    items = sorted({r.item for r in ratings}, key=str)
    row = {rater: i for i, rater in enumerate(raters)}
    col = {item: j for j, item in enumerate(items)}
    matrix = np.full((len(raters), len(items)), np.nan)
    for r in ratings:
        matrix[row[r.rater], col[r.item]] = codes[r.value] if codes is not None else float(r.value)
    return matrix


def krippendorff_alpha(ratings: Iterable[Rating], level: str) -> float | None:
    """Krippendorff's alpha; `level` "nominal" (categories) or "interval" (V, A).
    None when fewer than two pairable values or no variation at all."""
    ratings = list(ratings)
    codes = {name: i for i, name in enumerate(EMOTIONS)} if level == "nominal" else None
    if codes is not None:
        for extra in sorted({r.value for r in ratings} - set(codes), key=str):
            codes[extra] = len(codes)
    matrix = reliability_matrix(ratings, codes)
    pairable = (np.sum(~np.isnan(matrix), axis=0) >= 2) if matrix.size else np.array([])
    if matrix.size == 0 or not pairable.any():
        return None
    values = matrix[:, pairable]
    if np.unique(values[~np.isnan(values)]).size < 2:
        return None  # everyone said the same thing everywhere: alpha is 0/0
    return _alpha(level, reliability_data=matrix)


def alpha_from_counts(value_counts: np.ndarray, level: str, domain) -> float | None:
    """Krippendorff's alpha from a units x values table of counts (its size
    does not grow with the number of raters: exports use it)."""
    return _alpha(level, value_counts=value_counts, value_domain=domain)


def _alpha(level: str, **data) -> float | None:
    """The `krippendorff` package's alpha, None where it is undefined."""
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = krippendorff.alpha(level_of_measurement=level, **data)
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return None
    return None if alpha is None or not np.isfinite(alpha) else float(alpha)


def ccc(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Lin's concordance correlation coefficient (population moments)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size != y.size:
        raise ValueError("ccc needs paired values")
    if x.size < 2:
        return None
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0:
        return 1.0  # identical constant ratings agree perfectly
    return float(2 * cov / denominator)


def _by_rater(ratings: Iterable[Rating]) -> dict:
    out: dict = defaultdict(dict)
    for r in ratings:
        out[r.rater][r.item] = r.value
    return out


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


def pairwise_ccc(ratings: Iterable[Rating], min_shared: int = MIN_SHARED_FOR_CCC) -> PairwiseCCC:
    """CCC of every rater pair on their shared items; mean over pairs with
    at least `min_shared` shared items."""
    by_rater = _by_rater(ratings)
    pairs = []
    for a, b in combinations(sorted(by_rater, key=str), 2):
        shared = sorted(set(by_rater[a]) & set(by_rater[b]), key=str)
        if len(shared) < min_shared:
            continue
        value = ccc([by_rater[a][i] for i in shared], [by_rater[b][i] for i in shared])
        pairs.append(PairCCC(str(a), str(b), len(shared), value))
    scored = [p.ccc for p in pairs if p.ccc is not None]
    return PairwiseCCC(float(np.mean(scored)) if scored else None, pairs)


@dataclass
class RaterAgreement:
    rater: str
    n_shared: int  # items this rater shares with at least one other rater
    category_agreement: float | None  # share of items where they match the others' majority
    valence_ccc: float | None  # CCC with the others' mean valence
    arousal_ccc: float | None
    valence_mae: float | None  # mean |own - others' mean|
    arousal_mae: float | None


def rater_agreement(categories: Iterable[Rating], valence: Iterable[Rating],
                    arousal: Iterable[Rating]) -> list[RaterAgreement]:
    """Each rater against the others (leave-one-out) on the items they share."""
    cat, val, aro = _by_rater(categories), _by_rater(valence), _by_rater(arousal)
    items_raters: dict = defaultdict(set)
    for rater, items in cat.items():
        for item in items:
            items_raters[item].add(rater)
    out = []
    for rater in sorted(cat, key=str):
        shared = [i for i in cat[rater] if len(items_raters[i]) > 1]
        matches = []
        own_v, others_v, own_a, others_a = [], [], [], []
        for item in shared:
            others = [o for o in items_raters[item] if o != rater]
            counts = Counter(cat[o][item] for o in others)
            top = max(counts.values())
            # A tie among the others counts as a match if the rater picked one of the tied.
            matches.append(counts.get(cat[rater][item], 0) == top)
            if item in val[rater]:
                own_v.append(val[rater][item])
                others_v.append(np.mean([val[o][item] for o in others if item in val[o]]))
            if item in aro[rater]:
                own_a.append(aro[rater][item])
                others_a.append(np.mean([aro[o][item] for o in others if item in aro[o]]))
        enough = len(shared) >= MIN_SHARED_FOR_CCC
        out.append(RaterAgreement(
            str(rater), len(shared),
            float(np.mean(matches)) if matches else None,
            ccc(own_v, others_v) if enough else None,
            ccc(own_a, others_a) if enough else None,
            float(np.mean(np.abs(np.subtract(own_v, others_v)))) if own_v else None,
            float(np.mean(np.abs(np.subtract(own_a, others_a)))) if own_a else None))
    return out


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


# --- one report from flat label rows ----------------------------------------------

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


def agreement_report(rows: Sequence) -> AgreementReport:
    """rows: objects with annotator, segment_id, category, valence, arousal,
    seconds_spent, shown_category, teacher_category, gold_* (see
    annotation.selectors.LabelRow). Gold items are measured apart and left out
    of the inter-rater figures (everyone sees them, by design)."""
    rows = list(rows)
    regular = [r for r in rows if r.gold_category is None]
    cats = [Rating(r.annotator, r.segment_id, r.category) for r in regular]
    vals = [Rating(r.annotator, r.segment_id, r.valence) for r in regular]
    aros = [Rating(r.annotator, r.segment_id, r.arousal) for r in regular]

    per_rater = {a.rater: asdict(a) for a in rater_agreement(cats, vals, aros)}
    gold = {g.rater: g for g in gold_accuracy(
        (r.annotator, r.category, r.gold_category, r.valence, r.gold_valence, r.arousal, r.gold_arousal)
        for r in rows if r.gold_category is not None)}
    raters = []
    for name in sorted({r.annotator for r in rows}, key=str):
        mine = [r for r in rows if r.annotator == name]
        seconds = sum(r.seconds_spent for r in mine)
        entry = per_rater.get(name) or asdict(RaterAgreement(name, 0, None, None, None, None, None))
        entry.update(n_labels=len(mine), hours=seconds / 3600.0,
                     labels_per_hour=labels_per_hour(len(mine), seconds),
                     acceptance_rate=acceptance_rate((r.shown_category, r.category) for r in mine),
                     gold_n=gold[name].n if name in gold else 0,
                     gold_accuracy=gold[name].accuracy if name in gold else None,
                     gold_valence_mae=gold[name].valence_mae if name in gold else None,
                     gold_arousal_mae=gold[name].arousal_mae if name in gold else None)
        raters.append(entry)
    return AgreementReport(
        n_labels=len(rows), n_items=len({r.segment_id for r in regular}),
        n_raters=len({r.annotator for r in rows}),
        alpha_category=krippendorff_alpha(cats, "nominal"),
        alpha_valence=krippendorff_alpha(vals, "interval"),
        alpha_arousal=krippendorff_alpha(aros, "interval"),
        ccc_valence=pairwise_ccc(vals), ccc_arousal=pairwise_ccc(aros), raters=raters,
        teacher_confusion=confusion_matrix((r.teacher_category, r.category) for r in rows if r.teacher_category),
        classes=list(EMOTIONS),
        acceptance_rate=acceptance_rate((r.shown_category, r.category) for r in rows),
        n_with_prelabel=sum(1 for r in rows if r.shown_category),
        teacher_agreement_shown=_share_equal((r.teacher_category, r.category) for r in rows
                                             if r.teacher_category and r.shown_category),
        teacher_agreement_blind=_share_equal((r.teacher_category, r.category) for r in rows
                                             if r.teacher_category and not r.shown_category),
        n_blind=sum(1 for r in rows if r.teacher_category and not r.shown_category))


def _share_equal(pairs) -> float | None:
    pairs = list(pairs)
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None
