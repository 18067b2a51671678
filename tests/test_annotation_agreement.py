"""Agreement maths against small cases computed by hand."""

import pytest

from annotation.agreement import (Rating, acceptance_rate, agreement_report, ccc, confusion_matrix,
                                  gold_accuracy, krippendorff_alpha, labels_per_hour, pairwise_ccc,
                                  rater_agreement)
from annotation.agreement import LabelRow


def ratings(table: dict) -> list[Rating]:
    """{rater: [value per item or None]} -> ratings."""
    return [Rating(rater, item, value) for rater, values in table.items()
            for item, value in enumerate(values) if value is not None]


def test_nominal_alpha_hand_computed():
    # items (a,a) (a,b) (b,b): coincidences o_aa=2, o_ab=o_ba=1, o_bb=2, n=6, n_a=n_b=3
    # D_o = 2/6, D_e = 2*3*3/(6*5) = 0.6  ->  alpha = 1 - (1/3)/0.6 = 4/9
    data = ratings({"r1": ["happy", "happy", "sad"], "r2": ["happy", "sad", "sad"]})
    assert krippendorff_alpha(data, "nominal") == pytest.approx(4 / 9)


def test_interval_alpha_hand_computed():
    # items (1,1) (2,3) (3,3): D_o = (0 + 2 + 0)/6 = 1/3;
    # values 1,1,2,3,3,3: sum of squared differences over ordered pairs = 58, D_e = 58/30
    # alpha = 1 - (1/3)/(58/30) = 24/29
    data = ratings({"r1": [1, 2, 3], "r2": [1, 3, 3]})
    assert krippendorff_alpha(data, "interval") == pytest.approx(24 / 29)


def test_alpha_ignores_items_rated_once_and_handles_missing():
    # items 4 and 5 have one rating each: they cannot be paired and change nothing
    data = ratings({"r1": [1, 2, 3, 0.5, None], "r2": [1, 3, 3, None, None], "r3": [None, None, None, None, -1]})
    assert krippendorff_alpha(data, "interval") == pytest.approx(24 / 29)


def test_alpha_is_undefined_without_variation_or_overlap():
    assert krippendorff_alpha(ratings({"r1": ["sad", "sad"], "r2": ["sad", "sad"]}), "nominal") is None
    assert krippendorff_alpha(ratings({"r1": [0.1, None], "r2": [None, 0.3]}), "interval") is None
    assert krippendorff_alpha([], "nominal") is None


def test_perfect_nominal_agreement_is_one():
    data = ratings({"r1": ["happy", "sad", "fear"], "r2": ["happy", "sad", "fear"]})
    assert krippendorff_alpha(data, "nominal") == pytest.approx(1.0)


def test_ccc_hand_computed():
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    # var = 2/3 each, cov = 2/3, mean shift 1: 2*(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    # perfectly reversed: cov = -2/3 -> -1
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert ccc([0.5], [0.5]) is None


def test_pairwise_ccc_averages_pairs_with_enough_shared_items():
    data = ratings({"a": [1, 2, 3], "b": [2, 3, 4], "c": [1, 2, 3], "d": [1, None, None]})
    result = pairwise_ccc(data)
    by_pair = {(p.rater_a, p.rater_b): p.ccc for p in result.pairs}
    assert by_pair[("a", "b")] == pytest.approx(4 / 7)
    assert by_pair[("a", "c")] == pytest.approx(1.0)
    assert by_pair[("b", "c")] == pytest.approx(4 / 7)
    assert ("a", "d") not in by_pair  # one shared item is not evidence
    assert result.mean == pytest.approx((4 / 7 + 1 + 4 / 7) / 3)


def test_each_rater_against_the_others():
    cats = ratings({"a": ["happy", "sad", "fear"], "b": ["happy", "sad", "fear"], "c": ["happy", "angry", "fear"]})
    val = ratings({"a": [0.5, -0.5, -0.2], "b": [0.5, -0.5, -0.2], "c": [0.1, -0.5, -0.2]})
    by_rater = {r.rater: r for r in rater_agreement(cats, val, val)}
    assert by_rater["a"].category_agreement == pytest.approx(1.0)  # others' majority always matches
    # c vs a+b: item 1 happy=happy, item 2 angry vs sad, item 3 fear=fear -> 2/3
    assert by_rater["c"].category_agreement == pytest.approx(2 / 3)
    # c's valence vs others' mean: |0.1-0.5| + 0 + 0 over 3
    assert by_rater["c"].valence_mae == pytest.approx(0.4 / 3)
    assert by_rater["a"].n_shared == 3


def test_confusion_acceptance_speed_and_gold():
    matrix = confusion_matrix([("happy", "happy"), ("happy", "sad"), ("sad", "sad")])
    assert matrix[3][3] == 1 and matrix[3][4] == 1 and matrix[4][4] == 1 and sum(map(sum, matrix)) == 3
    assert acceptance_rate([("happy", "happy"), ("happy", "sad"), (None, "sad")]) == pytest.approx(0.5)
    assert acceptance_rate([(None, "sad")]) is None
    assert labels_per_hour(30, 900) == pytest.approx(120)
    assert labels_per_hour(3, 0) is None
    scores = gold_accuracy([("a", "sad", "sad", 0.0, -0.5, 0.0, None), ("a", "happy", "sad", 0.2, -0.4, 0, None)])
    assert scores[0].accuracy == pytest.approx(0.5) and scores[0].valence_mae == pytest.approx(0.55)
    assert scores[0].arousal_mae is None


def row(annotator, segment, category, valence=0.0, arousal=0.0, seconds=10.0, shown=None, teacher=None,
        gold=None):
    return LabelRow(annotator, segment, category, valence, arousal, seconds, shown, teacher, gold,
                    None if gold is None else 0.0, None if gold is None else 0.0)


def test_report_keeps_gold_out_of_inter_rater_figures():
    rows = [row("a", 1, "happy", shown="happy", teacher="happy"), row("b", 1, "happy", teacher="happy"),
            row("a", 2, "sad", teacher="happy"), row("b", 2, "fear", teacher="happy"),
            row("a", 9, "sad", gold="sad"), row("b", 9, "angry", gold="sad")]
    report = agreement_report(rows)
    # items 1 (happy,happy) and 2 (sad,fear): o_hh=2, o_sf=o_fs=1, n=4 -> D_o=2/4, D_e: n_h=2,n_s=1,n_f=1
    # sum_{c!=k} n_c n_k = 2*(2*1 + 2*1 + 1*1) = 10, /(4*3) -> 10/12; alpha = 1 - 0.5/(10/12) = 0.4
    assert report.alpha_category == pytest.approx(0.4)
    assert report.n_items == 2 and report.n_labels == 6
    raters = {r["rater"]: r for r in report.raters}
    assert raters["a"]["gold_accuracy"] == 1.0 and raters["b"]["gold_accuracy"] == 0.0
    assert raters["a"]["labels_per_hour"] == pytest.approx(3 * 3600 / 30)
    assert raters["a"]["acceptance_rate"] == 1.0 and raters["b"]["acceptance_rate"] is None
    assert report.teacher_confusion[3][3] == 2 and report.teacher_confusion[3][4] == 1


def test_anchoring_compares_shown_and_blind_labels():
    rows = [row("a", 1, "happy", shown="happy", teacher="happy"), row("a", 2, "sad", shown="happy", teacher="happy"),
            row("b", 1, "sad", teacher="happy"), row("b", 2, "sad", teacher="happy"),
            row("b", 3, "happy", teacher="happy"), row("c", 4, "fear")]
    report = agreement_report(rows)
    assert report.teacher_agreement_shown == pytest.approx(1 / 2)
    assert report.teacher_agreement_blind == pytest.approx(1 / 3) and report.n_blind == 3
