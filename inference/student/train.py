"""Training loop (pure: items in, trained model + history out).

Fits on train, picks the epoch with the best validation UAR (early stopping
with patience), reports each epoch through `progress`, and stops when
`should_cancel()` says so. CUDA is used when present.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader

from labelstudio_emo.emotions import EMOTIONS

from . import metrics as M
from .data import FeatureDataset, Item, collate
from .features import FeatureConfig
from .losses import LossConfig, class_weights, student_loss
from .model import ModelConfig, StudentNet
from .predict import pick_device, predict_features


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6            # epochs without a better val UAR before stopping
    crop_seconds: float = 4.0    # random crops of longer clips while training
    spec_augment: bool = True    # random frequency/time masks while training
    seed: int = 0
    device: str | None = None    # None = CUDA when present, else CPU
    # CPU threads for torch; None = torch's default. One by default: with these
    # small tensors extra threads barely help, and on a shared box (web server,
    # io worker) they spin against each other: bench/student.py measured
    # 24 vs 2.6 training segments/s for 1 vs 2 threads on a loaded 2-core machine.
    threads: int | None = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainConfig":
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


class TrainingCancelled(Exception):
    """should_cancel() returned True."""


@dataclass
class TrainResult:
    model: StudentNet
    best_epoch: int
    best_val_uar: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False
    device: str = "cpu"


def evaluation_truth(items: list[Item]) -> tuple[np.ndarray, np.ndarray, str]:
    """(indices, classes, source): human majority classes where any item has
    one, otherwise the teacher's argmax (distillation-only corpora)."""
    human = [i for i, item in enumerate(items) if item.human >= 0]
    if human:
        return np.array(human), np.array([items[i].human for i in human]), "human"
    idx = [i for i, item in enumerate(items) if item.reference >= 0]
    return np.array(idx, int), np.array([items[i].reference for i in idx], int), "teacher"


def evaluate_items(model: StudentNet, items: list[Item], train_items: list[Item],
                   device: torch.device | None = None) -> dict:
    """Figures of `model` on `items` and of the training-majority baseline beside them."""
    probs, va = predict_features(model, [i.feats for i in items], device)
    return evaluate_predictions(probs, va, items, train_items)


def evaluate_predictions(probs: np.ndarray, va: np.ndarray, items: list[Item], train_items: list[Item]) -> dict:
    """Figures of predictions (probs [N, C], va [N, 2]) on `items`, with the baseline beside them."""
    idx, truth, source = evaluation_truth(items)
    pred = probs.argmax(axis=1)[idx] if len(idx) else np.array([], int)
    out = M.classification_figures(truth, pred)
    out["truth"] = source
    has_va = [i for i, item in enumerate(items) if item.valence is not None and item.arousal is not None]
    target_va = np.array([[items[i].valence, items[i].arousal] for i in has_va], float).reshape(-1, 2)
    out["ccc_valence"] = M.ccc(va[has_va, 0], target_va[:, 0]) if has_va else None
    out["ccc_arousal"] = M.ccc(va[has_va, 1], target_va[:, 1]) if has_va else None
    out["n_va"] = len(has_va)
    train_classes = [i.human if source == "human" else i.reference for i in train_items]
    train_va = [[i.valence, i.arousal] for i in train_items if i.valence is not None and i.arousal is not None]
    out["baseline"] = M.majority_baseline(train_classes, truth, train_va, target_va if has_va else None)
    return out


def _feature_stats(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate([i.feats for i in items], axis=1).astype(np.float32)
    return frames.mean(axis=1), frames.std(axis=1)


def train_student(train_items: list[Item], val_items: list[Item], *,
                  model_cfg: ModelConfig = ModelConfig(), loss_cfg: LossConfig = LossConfig(),
                  train_cfg: TrainConfig = TrainConfig(), feature_cfg: FeatureConfig = FeatureConfig(),
                  progress=None, should_cancel=None) -> TrainResult:
    if not train_items or not val_items:
        raise ValueError("need training and validation items")
    threads_before = torch.get_num_threads()
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    try:
        return _train(train_items, val_items, model_cfg, loss_cfg, train_cfg, feature_cfg, progress, should_cancel)
    finally:
        torch.set_num_threads(threads_before)


def _train(train_items, val_items, model_cfg, loss_cfg, train_cfg, feature_cfg, progress, should_cancel):
    started = time.monotonic()
    torch.manual_seed(train_cfg.seed)
    device = pick_device(train_cfg.device)
    model = StudentNet(model_cfg)
    model.set_normalisation(*_feature_stats(train_items))
    model.to(device)

    weights = torch.from_numpy(class_weights(np.array([i.reference for i in train_items]), len(EMOTIONS),
                                             loss_cfg.max_class_weight)).to(device)
    crop = int(train_cfg.crop_seconds * feature_cfg.frames_per_second) or None
    generator = torch.Generator().manual_seed(train_cfg.seed)
    loader = DataLoader(FeatureDataset(train_items, crop, train=True, seed=train_cfg.seed,
                                       spec_augment=train_cfg.spec_augment),
                        batch_size=train_cfg.batch_size, shuffle=True, collate_fn=collate,
                        generator=generator, drop_last=len(train_items) > train_cfg.batch_size)
    val_loader = DataLoader(FeatureDataset(val_items), batch_size=32, collate_fn=collate)
    optimiser = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    steps = max(1, train_cfg.epochs * len(loader))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=train_cfg.lr, total_steps=steps,
                                                   pct_start=0.15)
    val_idx, val_truth, _ = evaluation_truth(val_items)

    best = {"epoch": 0, "uar": -1.0, "loss": math.inf, "state": None}
    history, stopped_early = [], False
    for epoch in range(1, train_cfg.epochs + 1):
        t0 = time.monotonic()
        model.train()
        sums, count = {"total": 0.0, "kl": 0.0, "ce": 0.0, "ccc": 0.0}, 0
        for batch in loader:
            if should_cancel and should_cancel():
                raise TrainingCancelled()
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model(batch["feats"], batch["lengths"])
            parts = student_loss(out, batch, loss_cfg, weights)
            optimiser.zero_grad()
            parts["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            n = batch["feats"].shape[0]
            count += n
            for key in sums:
                sums[key] += float(parts[key].detach()) * n
        train_seconds = time.monotonic() - t0

        val_loss = _mean_loss(model, val_loader, loss_cfg, weights, device)
        probs, _ = predict_features(model, [i.feats for i in val_items], device)
        val_uar = M.uar(val_truth, probs.argmax(1)[val_idx]) if len(val_idx) else 0.0
        improved = val_uar > best["uar"] + 1e-9 or (abs(val_uar - best["uar"]) <= 1e-9 and val_loss < best["loss"])
        if improved:
            best = {"epoch": epoch, "uar": val_uar, "loss": val_loss,
                    "state": copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})}
        report = {
            "epoch": epoch, "epochs": train_cfg.epochs,
            "train_loss": sums["total"] / max(count, 1),
            "train_kl": sums["kl"] / max(count, 1), "train_ce": sums["ce"] / max(count, 1),
            "train_ccc": sums["ccc"] / max(count, 1),
            "val_loss": val_loss, "val_uar": val_uar,
            "best_epoch": best["epoch"], "best_val_uar": best["uar"],
            "seconds": time.monotonic() - t0, "train_seconds": train_seconds,
            "segments_per_second": count / train_seconds if train_seconds > 0 else None,
        }
        history.append(report)
        if progress:
            progress(report)
        if epoch - best["epoch"] >= train_cfg.patience:
            stopped_early = True
            break

    model.load_state_dict(best["state"])
    model.to("cpu").eval()
    return TrainResult(model=model, best_epoch=best["epoch"], best_val_uar=best["uar"], history=history,
                       seconds=time.monotonic() - started, stopped_early=stopped_early, device=str(device))


def _mean_loss(model, loader, loss_cfg, weights, device) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            parts = student_loss(model(batch["feats"], batch["lengths"]), batch, loss_cfg, weights)
            total += float(parts["total"]) * batch["feats"].shape[0]
            count += batch["feats"].shape[0]
    return total / max(count, 1)
