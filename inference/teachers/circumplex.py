"""Valence/arousal from class probabilities (pure Python + numpy).

When a teacher predicts only the 7 categories, a segment's valence and
arousal are the probability-weighted mean of fixed coordinates of the
categories (the "circumplex" position of Russell, 1980, J. Pers. Soc.
Psychol. 39(6):1161-1178, which places discrete emotions on a valence x
arousal plane). Such values are flagged `va_derived=True`.

Where the numbers come from
---------------------------
Warriner, A. B., Kuperman, V., & Brysbaert, M. (2013). Norms of valence,
arousal, and dominance for 13,915 English lemmas. Behavior Research
Methods, 45(4), 1191-1207. https://doi.org/10.3758/s13428-012-0314-x

File Ratings_Warriner_et_al.csv (supplementary material; as redistributed
in github.com/JULIELab/XANEW), columns V.Mean.Sum and A.Mean.Sum (mean
rating over all raters, 1 = unhappy/calm ... 9 = happy/excited), rows:

    word      row    V.Mean.Sum  A.Mean.Sum
    angry       423     2.53        6.20
    disgust    3569     3.32        5.00
    fear       4524     2.93        6.14
    happy      5596     8.47        6.05
    sad       10583     2.10        3.49
    surprise  12138     7.44        6.57
    neutral    8155     5.50        3.45

rescaled linearly to [-1, 1] with (x - 5) / 4 (5 is the scale midpoint).

Caveat: these are norms for the *words*, i.e. how people rate the meaning
of the category name, not ratings of facial expressions; they are a
documented, reproducible prior, not a measurement of the clip. Human V/A
labels replace them as soon as annotators rate a segment.
"""

from __future__ import annotations

import numpy as np

from labelstudio_emo.emotions import EMOTIONS

# (V.Mean.Sum, A.Mean.Sum) on the 1-9 scale, Warriner et al. (2013).
WARRINER_2013 = {
    "angry": (2.53, 6.20),
    "disgust": (3.32, 5.00),
    "fear": (2.93, 6.14),
    "happy": (8.47, 6.05),
    "sad": (2.10, 3.49),
    "surprise": (7.44, 6.57),
    "neutral": (5.50, 3.45),
}


def _rescale(x: float) -> float:
    return (x - 5.0) / 4.0


#: (7, 2) array of (valence, arousal) in [-1, 1], FER2013 category order.
COORDINATES = np.array([[_rescale(v), _rescale(a)] for v, a in (WARRINER_2013[e] for e in EMOTIONS)])


def valence_arousal(probs) -> tuple[float, float]:
    """Probability-weighted circumplex position of 7 class probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(EMOTIONS),):
        raise ValueError(f"expected {len(EMOTIONS)} probabilities, got shape {p.shape}")
    p = p / p.sum()
    valence, arousal = p @ COORDINATES
    return float(np.clip(valence, -1.0, 1.0)), float(np.clip(arousal, -1.0, 1.0))
