"""Distillation + supervision losses for the student.

total = kl_weight * T^2 * KL(teacher_T || student_T)       (segments with teacher probs)
      + ce_weight  * CE(student, human majority class)    (segments with a human majority)
      + ccc_weight * (1 - CCC) averaged over valence and arousal (segments with V/A targets)

Class imbalance: each sample is weighted by the inverse frequency of its
class in the training set (human class if present, else teacher argmax),
normalised so the average weight is 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossConfig:
    temperature: float = 2.0
    kl_weight: float = 1.0
    ce_weight: float = 1.0
    ccc_weight: float = 0.5
    balance_classes: bool = True
    max_class_weight: float = 10.0   # one rare class must not dominate
    label_smoothing: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "LossConfig":
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


def class_weights(classes: np.ndarray, n_classes: int, max_weight: float = 10.0) -> np.ndarray:
    """Inverse-frequency weights for class ids (-1 = unknown, ignored);
    absent classes get weight 1; mean weight over the samples is 1."""
    classes = np.asarray(classes)
    known = classes[classes >= 0]
    weights = np.ones(n_classes, dtype=np.float32)
    if known.size == 0:
        return weights
    counts = np.bincount(known, minlength=n_classes).astype(np.float32)
    present = counts > 0
    weights[present] = known.size / (present.sum() * counts[present])
    weights = np.minimum(weights, max_weight)
    weights /= float(weights[known].mean())
    return weights.astype(np.float32)


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    if total <= 0:
        return values.new_zeros(())
    return (values * weights).sum() / total


def kl_to_teacher(logits, teacher_probs, mask, weights, temperature: float):
    """T^2-scaled KL(teacher softened at T || student at T), per-sample weighted."""
    t = float(temperature)
    teacher = teacher_probs.clamp_min(1e-8).log() / t           # logits of the teacher at T
    teacher = torch.softmax(teacher, dim=-1)
    log_student = torch.log_softmax(logits / t, dim=-1)
    kl = (teacher * (teacher.clamp_min(1e-8).log() - log_student)).sum(-1)
    return _weighted_mean(kl, weights * mask) * t * t


def ce_on_humans(logits, target, weights, label_smoothing: float = 0.0):
    """Cross-entropy on human majority classes; target -1 = no human label."""
    mask = (target >= 0).float()
    ce = F.cross_entropy(logits, target.clamp_min(0), reduction="none", label_smoothing=label_smoothing)
    return _weighted_mean(ce, weights * mask)


def ccc(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient of two 1-D tensors."""
    pm, tm = pred.mean(), target.mean()
    pv, tv = pred.var(unbiased=False), target.var(unbiased=False)
    cov = ((pred - pm) * (target - tm)).mean()
    return 2 * cov / (pv + tv + (pm - tm) ** 2 + 1e-8)


def ccc_loss(pred_va, target_va, mask):
    """Mean over valence and arousal of (1 - CCC) on the rows that have targets."""
    keep = mask > 0
    if keep.sum() < 2:
        return pred_va.new_zeros(())
    p, t = pred_va[keep], target_va[keep]
    return torch.stack([1 - ccc(p[:, i], t[:, i]) for i in range(2)]).mean()


def student_loss(out: dict, batch: dict, cfg: LossConfig, weights_by_class: torch.Tensor) -> dict:
    """out: model output; batch: tensors teacher_probs [B,C], has_teacher [B],
    human [B] (-1 none), va [B,2], has_va [B]. Returns loss parts and the total."""
    logits = out["logits"]
    human, teacher = batch["human"], batch["teacher_probs"]
    reference = torch.where(human >= 0, human, teacher.argmax(-1))
    sample_w = weights_by_class[reference] if cfg.balance_classes else torch.ones_like(logits[:, 0])
    parts = {
        "kl": kl_to_teacher(logits, teacher, batch["has_teacher"], sample_w, cfg.temperature),
        "ce": ce_on_humans(logits, human, sample_w, cfg.label_smoothing),
        "ccc": ccc_loss(out["va"], batch["va"], batch["has_va"]),
    }
    total = cfg.kl_weight * parts["kl"] + cfg.ce_weight * parts["ce"] + cfg.ccc_weight * parts["ccc"]
    return {"total": total, **parts}
