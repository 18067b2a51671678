"""Evaluate a teacher on a folder of labelled face images (no Django).

DIR/<class>/<image> with class names from EMOTIONS (FER2013 order). The
face is found with face_recognition; images that are already crops (small,
or no face found) are used whole.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

from labelstudio_emo.emotions import EMOTIONS

from . import faces
from .base import Teacher

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class Evaluation:
    accuracy: float
    macro_f1: float
    balanced_accuracy: float
    n: int
    ms_per_face: float
    faces_found: int
    confusion: list[list[int]] = field(default_factory=list)  # rows = true, cols = predicted
    labels: tuple[str, ...] = EMOTIONS

    def line(self) -> str:
        """The contract line evaluate_teacher prints last."""
        return (f"accuracy={self.accuracy:.3f} macro_f1={self.macro_f1:.3f} "
                f"n={self.n} ms_per_face={self.ms_per_face:.1f}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d


def labelled_images(directory) -> list[tuple[Path, int]]:
    """(image path, class index) for DIR/<class>/*; unknown folders ignored."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    samples = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        name = sub.name.lower()
        if name not in EMOTIONS:
            continue
        samples += [(p, EMOTIONS.index(name)) for p in sorted(sub.iterdir())
                    if p.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise ValueError(f"no images in {root}/<class>/ (classes: {', '.join(EMOTIONS)})")
    return samples


def evaluate(teacher: Teacher, samples: list[tuple[Path, int]], batch_size: int = 64,
             progress: Callable[[int, int], None] | None = None) -> Evaluation:
    crops, truth, found = [], [], 0
    for i, (path, label) in enumerate(samples):
        crop, was_found = faces.face_from_file(path)
        crops.append(crop)
        truth.append(label)
        found += was_found
        if progress:
            progress(i + 1, len(samples))
    teacher.predict(crops[:1])  # warm-up, not timed
    predicted, seconds = [], 0.0
    for start in range(0, len(crops), batch_size):
        t0 = time.perf_counter()
        predicted += [p.index for p in teacher.predict(crops[start:start + batch_size])]
        seconds += time.perf_counter() - t0
    y, p = np.array(truth), np.array(predicted)
    labels = list(range(len(EMOTIONS)))
    matrix = confusion_matrix(y, p, labels=labels)
    present = matrix.sum(axis=1) > 0
    return Evaluation(
        accuracy=float((y == p).mean()),
        macro_f1=float(f1_score(y, p, labels=labels, average="macro", zero_division=0)),
        balanced_accuracy=float((matrix.diagonal()[present] / matrix.sum(axis=1)[present]).mean()),
        n=len(y), ms_per_face=1000.0 * seconds / len(y), faces_found=found,
        confusion=matrix.tolist())


def format_confusion(confusion: list[list[int]], labels=EMOTIONS) -> str:
    width = max(len(x) for x in labels) + 1
    head = "true \\ pred".ljust(width + 2) + "".join(name[:8].rjust(9) for name in labels)
    rows = [head] + [labels[i].ljust(width + 2) + "".join(str(v).rjust(9) for v in row)
                     for i, row in enumerate(confusion)]
    return "\n".join(rows)


def confusion_png(confusion: list[list[int]], title: str, labels=EMOTIONS) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.array(confusion)
    fig, ax = plt.subplots(figsize=(5.5, 4.8), dpi=100)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
