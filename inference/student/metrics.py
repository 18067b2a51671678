"""Evaluation figures computed from predictions (numpy; matplotlib Agg for the PNG).

WA (weighted accuracy) follows the speech-emotion literature: plain accuracy,
i.e. each class weighted by its frequency; UAR = mean per-class recall over
the classes present in the truth (sklearn's balanced accuracy).
"""

from __future__ import annotations

import io

import numpy as np

from labelstudio_emo.emotions import EMOTIONS


def confusion_matrix(y_true, y_pred, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """rows = truth, columns = prediction."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Recall per class; NaN for classes absent from the truth."""
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


def uar(y_true, y_pred, n_classes: int = len(EMOTIONS)) -> float:
    recall = per_class_recall(confusion_matrix(y_true, y_pred, n_classes))
    return float(np.nanmean(recall)) if np.isfinite(recall).any() else 0.0


def weighted_accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def macro_f1(y_true, y_pred, n_classes: int = len(EMOTIONS)) -> float:
    """Mean F1 over classes present in the truth or the predictions (as sklearn)."""
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    used = (support + predicted) > 0
    if not used.any():
        return 0.0
    denom = support + predicted
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[used].mean())


def ccc(pred, target) -> float | None:
    """Lin's concordance correlation coefficient; None with fewer than 2 values."""
    pred, target = np.asarray(pred, float), np.asarray(target, float)
    if pred.size < 2:
        return None
    pm, tm = pred.mean(), target.mean()
    cov = ((pred - pm) * (target - tm)).mean()
    denom = pred.var() + target.var() + (pm - tm) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def classification_figures(y_true, y_pred, class_names=EMOTIONS) -> dict:
    n = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, n)
    recall = per_class_recall(matrix)
    return {
        "n": int(len(y_true)),
        "uar": uar(y_true, y_pred, n),
        "wa": weighted_accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred, n),
        "per_class_recall": {name: (None if np.isnan(r) else float(r)) for name, r in zip(class_names, recall)},
        "support": {name: int(s) for name, s in zip(class_names, matrix.sum(axis=1))},
        "confusion": matrix.tolist(),
    }


def majority_class(train_classes) -> int:
    """Most frequent class in the training labels (ties -> lowest index)."""
    known = np.asarray([c for c in train_classes if c >= 0], int)
    if known.size == 0:
        return len(EMOTIONS) - 1  # neutral
    return int(np.bincount(known, minlength=len(EMOTIONS)).argmax())


def majority_baseline(train_classes, y_true, train_va=None, target_va=None, class_names=EMOTIONS) -> dict:
    """Figures of a model that always answers the training majority class
    (and the training mean V/A, whose CCC is therefore 0)."""
    top = majority_class(train_classes)
    figures = classification_figures(y_true, np.full(len(y_true), top), class_names)
    figures["predicts"] = class_names[top]
    if target_va is not None and len(target_va) >= 2:
        target_va = np.asarray(target_va, float)
        mean = np.asarray(train_va, float).mean(axis=0) if train_va is not None and len(train_va) else np.zeros(2)
        figures["ccc_valence"] = ccc(np.full(len(target_va), mean[0]), target_va[:, 0])
        figures["ccc_arousal"] = ccc(np.full(len(target_va), mean[1]), target_va[:, 1])
    return figures


def confusion_png(matrix, class_names=EMOTIONS, title: str = "") -> bytes:
    """Row-normalised confusion matrix (counts printed) as PNG bytes."""
    buffer = io.BytesIO()
    # tight: the saved area grows to hold the title and labels instead of cutting them
    confusion_figure(matrix, class_names, title).savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def confusion_figure(matrix, class_names=EMOTIONS, title: str = ""):
    import textwrap

    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    keep = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0   # drop classes never seen nor predicted
    if not keep.any():
        keep[:] = True
    matrix = matrix[np.ix_(keep, keep)]
    names = [n for n, k in zip(class_names, keep) if k]
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = 1.2 + 0.6 * len(names)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:  # a baseline predicting one class keeps few columns: wrap its long title to the plot's width
        ax.set_title(textwrap.fill(title, width=max(20, int(size * 9))), fontsize=10)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
