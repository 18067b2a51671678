"""The student's head on frozen encoder frames (pure: arrays in, arrays out).

Candidates are fitted in one run on the same pooled statistics; validation
UAR picks one (head_train.py: the simplest within one standard error of the
best), and the kept heads are refitted on train + validation:

- `HeadNet`: mean/std pooling over frames -> MLP ->
  7-class logits + (valence, arousal), trained with the distillation
  objective of losses.py (KL to the teacher at T, CE on humans, CCC on V/A).
- `ClassicalHead`: mean+std of the frames, standardised -> logistic
  regression (scikit-learn), with ridge regressions for valence/arousal.
- `EnsembleHead`: the mean of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from labelstudio_emo.emotions import EMOTIONS

from .config import JsonConfig

ARCH = "encoder-head"


def pooled_stats(frames: np.ndarray) -> np.ndarray:
    """[frames, dim] -> [2 * dim]: mean and standard deviation over time."""
    frames = np.asarray(frames, dtype=np.float32)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


@dataclass(frozen=True)
class HeadConfig(JsonConfig):
    dim: int = 384
    hidden: int = 256
    dropout: float = 0.3
    n_classes: int = len(EMOTIONS)


class HeadNet(nn.Module):
    """Pooled statistics [B, F] -> logits [B, C], va [B, 2]: standardised
    (training-set statistics kept as buffers), one hidden layer, dropout.
    Pooling is done once per segment (mean+std), so an epoch over 10,000
    cached segments takes well under a second."""

    def __init__(self, cfg: HeadConfig = HeadConfig()):
        super().__init__()
        self.cfg = cfg
        n_in = 2 * cfg.dim
        self.register_buffer("feat_mean", torch.zeros(n_in))
        self.register_buffer("feat_std", torch.ones(n_in))
        self.body = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(n_in, cfg.hidden), nn.GELU(),
                                  nn.Dropout(cfg.dropout))
        self.classifier = nn.Linear(cfg.hidden, cfg.n_classes)
        self.va_head = nn.Linear(cfg.hidden, 2)

    def set_normalisation(self, mean, std):
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def forward(self, pooled: torch.Tensor) -> dict:
        h = self.body((pooled - self.feat_mean) / self.feat_std)
        return {"logits": self.classifier(h), "va": torch.tanh(self.va_head(h))}


# ------------------------------------------------------------------ classical
@dataclass
class ClassicalHead:
    """Standardised pooled stats -> multinomial logistic regression (+ ridge V/A).
    Kept as plain arrays so a checkpoint loads with torch's weights_only."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray          # [C, F]
    intercept: np.ndarray     # [C]
    va_coef: np.ndarray | None = None       # [2, F]
    va_intercept: np.ndarray | None = None  # [2]
    c: float = 1.0

    def predict(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (np.asarray(pooled, np.float32) - self.mean) / self.scale
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        if self.va_coef is None:
            va = np.zeros((len(x), 2), np.float32)
        else:
            va = np.clip(x @ self.va_coef.T + self.va_intercept, -1, 1)
        return probs.astype(np.float32), va.astype(np.float32)

    def to_state(self) -> dict:
        state = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in
                 (("mean", self.mean), ("scale", self.scale), ("coef", self.coef), ("intercept", self.intercept))}
        if self.va_coef is not None:
            state["va_coef"] = torch.from_numpy(np.asarray(self.va_coef, np.float32))
            state["va_intercept"] = torch.from_numpy(np.asarray(self.va_intercept, np.float32))
        state["c"] = float(self.c)
        return state

    @classmethod
    def from_state(cls, state: dict) -> "ClassicalHead":
        arr = {k: v.numpy() for k, v in state.items() if isinstance(v, torch.Tensor)}
        return cls(mean=arr["mean"], scale=arr["scale"], coef=arr["coef"], intercept=arr["intercept"],
                   va_coef=arr.get("va_coef"), va_intercept=arr.get("va_intercept"), c=float(state.get("c", 1.0)))


@dataclass
class EnsembleHead:
    """Mean of its members' probabilities and V/A."""
    members: list

    def predict(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = [predict_pooled(m, pooled) for m in self.members]
        return (np.mean([o[0] for o in outs], axis=0).astype(np.float32),
                np.mean([o[1] for o in outs], axis=0).astype(np.float32))


def predict_head(model: HeadNet, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(pooled, np.float32)))
    return torch.softmax(out["logits"], -1).numpy(), out["va"].numpy()


def predict_pooled(model, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Any candidate: pooled stats [N, F] -> (probs [N, C], va [N, 2])."""
    if isinstance(model, (ClassicalHead, EnsembleHead)):
        return model.predict(pooled)
    return predict_head(model, pooled)
