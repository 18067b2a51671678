"""Agreement from running sums equals the `krippendorff` package and a direct
computation, on random data with unrounded floats and missing ratings."""

import itertools
import random
import subprocess
import sys

import krippendorff
import numpy as np
import pytest

from annotation.agreement import IntervalAlphaSums, Rating, ccc, krippendorff_alpha, pairwise_ccc
from tests.conftest import ROOT


def random_matrix(rng: np.random.Generator, raters: int, units: int, kind: str) -> np.ndarray:
    if kind == "nominal":
        matrix = rng.integers(0, 4, size=(raters, units)).astype(float)
    else:
        matrix = rng.uniform(-1, 1, size=(raters, units))  # unrounded floats: every value distinct
    matrix[rng.random((raters, units)) < 0.35] = np.nan  # missing ratings
    return matrix


def as_ratings(matrix: np.ndarray) -> list[Rating]:
    return [Rating(r, u, matrix[r, u]) for r, u in zip(*np.nonzero(~np.isnan(matrix)))]


@pytest.mark.parametrize("level", ["nominal", "interval"])
@pytest.mark.parametrize("seed", range(6))
def test_alpha_equals_the_krippendorff_package(level, seed):
    rng = np.random.default_rng(seed)
    matrix = random_matrix(rng, raters=int(rng.integers(2, 6)), units=int(rng.integers(5, 40)), kind=level)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert krippendorff_alpha(as_ratings(matrix), level) == pytest.approx(expected, abs=1e-9)


def direct_interval_alpha(units: list[list[float]]) -> float:
    """Textbook definition: mean squared difference within units vs over all pairable values."""
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    observed = sum(sum((a - b) ** 2 for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in units) / n
    expected = sum((a - b) ** 2 for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - observed / expected


def test_interval_alpha_equals_a_direct_computation():
    rng = random.Random(3)
    units = [[rng.uniform(-1, 1) for _ in range(rng.randint(1, 5))] for _ in range(30)]
    sums = IntervalAlphaSums()
    for unit in units:
        sums.add_unit(unit)
    assert sums.alpha() == pytest.approx(direct_interval_alpha(units), abs=1e-12)


def direct_ccc(x, y) -> float:
    x, y = np.asarray(x), np.asarray(y)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_ccc_equals_a_direct_computation(seed):
    rng = np.random.default_rng(seed)
    matrix = random_matrix(rng, raters=4, units=60, kind="interval")
    result = {(p.rater_a, p.rater_b): p for p in pairwise_ccc(as_ratings(matrix)).pairs}
    for a, b in itertools.combinations(range(4), 2):
        both = ~np.isnan(matrix[a]) & ~np.isnan(matrix[b])
        pair = result[(str(a), str(b))]
        assert pair.n == both.sum()
        assert pair.ccc == pytest.approx(direct_ccc(matrix[a, both], matrix[b, both]), abs=1e-9)
    assert ccc([0.3, 0.3, 0.3], [0.3, 0.3, 0.3]) == 1.0  # constant and equal: perfect, not 0/0 noise


MEMORY_SCRIPT = """
import random, resource, sys
from annotation.agreement import UnitLabel, agreement_sums
from labelstudio_emo.emotions import EMOTIONS

rng = random.Random(0)
raters = [f"r{i}" for i in range(6)]

def units():
    for _ in range(20_000):
        yield [UnitLabel(r, rng.choice(EMOTIONS), rng.uniform(-1, 1), rng.uniform(-1, 1))
               for r in sorted(rng.sample(raters, 3))]

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sums = agreement_sums(units())
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(sums.n_labels, sums.valence.alpha(), sums.category.alpha(), grown)
"""


def test_agreement_on_20000_segments_stays_in_bounded_memory():
    """60,000 labels of unrounded floats, streamed unit by unit in a fresh
    process: its peak memory must not grow by more than 20 MB (the package's
    interval alpha builds a values x values array per unit: gigabytes here)."""
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    n_labels, alpha_valence, alpha_category, grown_kb = result.stdout.split()
    assert int(n_labels) == 60_000
    assert abs(float(alpha_valence)) < 0.05 and abs(float(alpha_category)) < 0.05  # random: chance level
    assert int(grown_kb) < 20 * 1024, f"peak memory grew by {int(grown_kb) / 1024:.1f} MB"
