"""The small interface every facial-emotion teacher implements (no Django).

A teacher takes face images (numpy arrays, RGB or grey, any size) and returns
one `Prediction` per face: 7 probabilities in FER2013 order, valence and
arousal in [-1, 1] and whether V/A came from the model or were derived from
the class probabilities (see circumplex.py).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from labelstudio_emo.emotions import EMOTIONS

from . import circumplex


@dataclass(frozen=True)
class Prediction:
    probs: tuple[float, ...]  # 7 floats, FER2013 order, sum to 1
    valence: float
    arousal: float
    va_derived: bool = True  # True: from the circumplex, not the model

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def category(self) -> str:
        return EMOTIONS[self.index]

    @property
    def confidence(self) -> float:
        return float(self.probs[self.index])

    @property
    def entropy(self) -> float:
        """Shannon entropy in nats (0 = certain, ln 7 ≈ 1.95 = uniform)."""
        return float(-sum(p * math.log(p) for p in self.probs if p > 0))


def make_prediction(probs, va=None) -> Prediction:
    """A Prediction from one probability row and optional model V/A."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    p = p / p.sum()
    if va is None:
        valence, arousal = circumplex.valence_arousal(p)
        derived = True
    else:
        valence, arousal = (float(np.clip(v, -1.0, 1.0)) for v in va)
        derived = False
    return Prediction(tuple(float(x) for x in p), float(valence), float(arousal), derived)


def aggregate(predictions: list[Prediction]) -> Prediction:
    """One prediction for a segment from its per-crop predictions.

    Confidence-weighted mean of the per-crop probabilities: crops where the
    model is sure (sharp, frontal faces) count more than blurred or profile
    ones. V/A: the same weighting when the model predicted them, otherwise
    derived again from the pooled probabilities.
    """
    if not predictions:
        raise ValueError("aggregate() needs at least one prediction")
    probs = np.array([p.probs for p in predictions], dtype=np.float64)
    weights = probs.max(axis=1)
    pooled = (probs * weights[:, None]).sum(axis=0) / weights.sum()
    if all(not p.va_derived for p in predictions):
        va = np.array([(p.valence, p.arousal) for p in predictions])
        return make_prediction(pooled, (va * weights[:, None]).sum(axis=0) / weights.sum())
    return make_prediction(pooled)


class Teacher(ABC):
    """Face crops in, one Prediction per face out."""

    #: architecture key in teachers.archs.ARCHITECTURES
    arch: str = ""

    @abstractmethod
    def forward(self, faces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 7) probabilities and (N, 2) valence/arousal or None."""

    def predict(self, faces: list[np.ndarray]) -> list[Prediction]:
        if not faces:
            return []
        probs, va = self.forward(faces)
        return [make_prediction(probs[i], None if va is None else va[i]) for i in range(len(faces))]
