"""When a run may start, and when its model may replace the active student.

A run needs train/val/test splits of different speakers (the export's
splits are speaker-disjoint) with at least STUDENT_MIN_TRAIN_SEGMENTS and
STUDENT_MIN_EVAL_SEGMENTS segments; otherwise it is refused before it
starts. A finished run's model becomes active by itself only when its test
UAR beats both the majority baseline and the active student scored on the
same test segments by more than one standard error (the binomial error of
the rival's UAR over the test segments: on a few dozen segments one lucky
segment is not a better model); otherwise it waits on the Models page with
the reason. Where the active student was fitted on some of this run's test
segments (new labels can move a speaker across the splits), the two are
compared on the test segments it has not seen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

from django.conf import settings

from .data import Corpus, DataError

log = logging.getLogger(__name__)


def split_minimums() -> tuple[int, int]:
    """(train, val and test) minimum segments; evaluation splits never below 2."""
    return (max(1, int(getattr(settings, "STUDENT_MIN_TRAIN_SEGMENTS", 20))),
            max(2, int(getattr(settings, "STUDENT_MIN_EVAL_SEGMENTS", 5))))


def split_problem(sizes: dict[str, int]) -> str | None:
    """Why splits of these sizes cannot give a fair test, or None."""
    min_train, min_eval = split_minimums()
    need = {"train": min_train, "val": min_eval, "test": min_eval}
    short = [f"{name} {sizes.get(name, 0)} (needs {n})" for name, n in need.items() if sizes.get(name, 0) < n]
    if not short:
        return None
    return ("Not enough labelled data for a fair test: train, validation and test must come from different "
            f"speakers (or videos), with at least {min_train} training and {min_eval} validation and test "
            f"segments; the export would give {', '.join(short)}. Label segments of more speakers or videos "
            "(minimums: STUDENT_MIN_TRAIN_SEGMENTS, STUDENT_MIN_EVAL_SEGMENTS)")


def check_corpus(corpus: Corpus) -> None:
    """The corpus as read (unusable rows skipped) must still form fair splits."""
    problem = split_problem({name: len(items) for name, items in corpus.splits.items()})
    if problem:
        raise DataError(problem)
    groups = {name: {i.group for i in items} for name, items in corpus.splits.items()}
    shared = (groups["train"] & groups["test"]) | (groups["train"] & groups["val"]) | (groups["val"] & groups["test"])
    if shared:
        raise DataError(f"the export's splits share speakers ({', '.join(sorted(shared)[:5])}): "
                        "test figures would not hold for new speakers")


@dataclass
class Release:
    activate: bool
    reason: str
    n_test: int
    uar: float
    baseline_uar: float
    active: str | None = None          # label of the student active when the run finished
    active_uar: float | None = None
    compared_uar: float | None = None  # this run's UAR where the active one was compared on fewer segments
    n_compared: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def release_decision(uar: float, baseline_uar: float, n_test: int, active: str | None = None,
                     active_uar: float | None = None, active_error: str | None = None,
                     compared: tuple[float, int] | None = None) -> Release:
    """`compared` = (this run's UAR, count) on the test segments the active
    student has not seen, when it was scored on those only."""
    mine, n_compared = compared or (None, None)

    def release(ok: bool, reason: str) -> Release:
        return Release(ok, reason, n_test, uar, baseline_uar, active, active_uar, mine, n_compared)

    where = f"on {n_test} test segments"
    need = baseline_uar + standard_error(baseline_uar, n_test)
    if uar <= need:
        return release(False, f"test UAR {uar:.3f} does not beat the majority baseline ({baseline_uar:.3f}) "
                              f"by more than one standard error (needs more than {need:.3f}) {where}")
    if active and active_error:
        return release(False, f"the active student {active} could not be scored on the same test split "
                              f"({active_error}); compare and activate by hand")
    if active and active_uar is not None:
        own, n, on = ((mine, n_compared, f"on the {n_compared} test segments it was not trained on")
                      if compared else (uar, n_test, where))
        need = active_uar + standard_error(active_uar, n)
        if own <= need:
            return release(False, f"test UAR {own:.3f} does not beat the active student {active} "
                                  f"({active_uar:.3f}) by more than one standard error (needs more than {need:.3f}) {on}")
        if compared:
            return release(True, f"test UAR {uar:.3f} beats the baseline ({baseline_uar:.3f}) {where}, and "
                                 f"{own:.3f} beats {active} ({active_uar:.3f}) {on}, each by more than one standard error")
    beaten = f"the baseline ({baseline_uar:.3f})" + (f" and {active} ({active_uar:.3f})" if active else "")
    return release(True, f"test UAR {uar:.3f} beats {beaten} by more than one standard error {where}")


def standard_error(uar: float, n_test: int) -> float:
    """Binomial standard error of a recall-like figure over n test segments."""
    return math.sqrt(max(uar * (1 - uar), 0.0) / n_test) if n_test else 1.0
