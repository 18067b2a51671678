"""Fit both heads on cached encoder frames and keep the better one (pure).

Items carry [frames, dim] encoder features. Both candidates see the same
pooled statistics; the neural head is trained with the distillation
objective (losses.student_loss), the classical one is a logistic regression
whose strength C is chosen by speaker-grouped cross-validation (one fold per
speaker on small data, see c_folds). Validation
UAR picks the winner by the one-standard-error rule: the simplest candidate
within one standard error of the best (a validation split of a few dozen
segments cannot tell 0.05 UAR apart); when validation has fewer than
`cv_choice_below` labelled segments (a couple of speakers), the candidates
are compared instead on out-of-fold predictions of speaker-grouped folds of
train + validation, which see every speaker once. Then every candidate is refitted on
train + validation (the neural head for its best epoch count, C re-chosen by
grouped CV over the larger set), so the released model sees all labelled
speakers but the test split, which is never looked at here. Only after the
release guard passed on the test split may the service refit the chosen head
on every segment (refit_chosen, STUDENT_REFIT_FULL).
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from labelstudio_emo.emotions import EMOTIONS

from . import metrics as M
from .config import JsonConfig
from .data import Item
from .head import ClassicalHead, EnsembleHead, HeadConfig, HeadNet, pooled_stats, predict_head
from .losses import LossConfig, class_weights, student_loss
from .train import TrainingCancelled, evaluation_truth

CANDIDATES = ("logreg", "head", "ensemble")   # on equal validation UAR the earlier (simpler) wins


@dataclass(frozen=True)
class HeadTrainConfig(JsonConfig):
    epochs: int = 80
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 20            # epochs without a better val UAR before stopping
    hidden: int = 256
    dropout: float = 0.3
    c_grid: tuple = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    cv_folds: int = 4
    c_loso_max_groups: int = 20   # C: leave one speaker out when there are at most this many speakers
    c_loso_max_rows: int = 1000   # ... and at most this many rows (bounds the fits: 20 x 6 C on 1,000 rows ~ 18 s)
    cv_max_rows: int = 3000       # C is chosen on at most this many training rows (whole groups)
    cv_choice_below: int = 100    # fewer labelled val segments: choose the candidate by grouped CV
    seed: int = 0
    threads: int | None = 1


@dataclass
class Candidate:
    name: str
    val_uar: float
    model: object                 # HeadNet or ClassicalHead
    details: dict = field(default_factory=dict)


@dataclass
class HeadResult:
    chosen: str
    candidates: dict[str, Candidate]
    history: list[dict]
    seconds: float
    dim: int

    @property
    def model(self):
        return self.candidates[self.chosen].model


@contextmanager
def torch_threads(threads: int | None):
    """Torch's CPU threads set for a fit (None: unchanged), restored after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pool_items(items: list[Item]) -> np.ndarray:
    return np.stack([pooled_stats(i.feats) for i in items]) if items else np.zeros((0, 0), np.float32)


def _targets(items: list[Item]) -> dict:
    n = len(EMOTIONS)
    return {
        "human": torch.tensor([i.human for i in items], dtype=torch.long),
        "teacher_probs": torch.stack([torch.from_numpy(i.teacher_probs) if i.teacher_probs is not None
                                      else torch.zeros(n) for i in items]),
        "has_teacher": torch.tensor([float(i.teacher_probs is not None) for i in items]),
        "va": torch.tensor([[i.valence or 0.0, i.arousal or 0.0] for i in items]),
        "has_va": torch.tensor([float(i.valence is not None and i.arousal is not None) for i in items]),
    }


def _truth(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    """(indices, classes): human classes where any item has one, else the teacher's argmax."""
    idx, truth, _ = evaluation_truth(items)
    return idx, truth


def _uar(probs: np.ndarray, items: list[Item]) -> float:
    idx, truth = _truth(items)
    return M.uar(truth, probs.argmax(1)[idx]) if len(idx) else 0.0


def _new_head(x_train, train, loss_cfg: LossConfig, cfg: HeadTrainConfig):
    torch.manual_seed(cfg.seed)
    model = HeadNet(HeadConfig(dim=x_train.shape[1] // 2, hidden=cfg.hidden, dropout=cfg.dropout))
    model.set_normalisation(x_train.mean(0), x_train.std(0))
    weights = torch.from_numpy(class_weights(np.array([i.reference for i in train]), len(EMOTIONS),
                                             loss_cfg.max_class_weight))
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return model, weights, optimiser, torch.Generator().manual_seed(cfg.seed)


def _train_epoch(model, optimiser, generator, xt, targets, weights, loss_cfg, cfg, should_cancel) -> dict:
    """One pass over the rows in random order; mean losses per row."""
    model.train()
    order = torch.randperm(len(xt), generator=generator)
    sums = {"total": 0.0, "kl": 0.0, "ce": 0.0, "ccc": 0.0}
    for start in range(0, len(order), cfg.batch_size):
        if should_cancel and should_cancel():
            raise TrainingCancelled()
        idx = order[start:start + cfg.batch_size]
        if len(idx) < 2 and len(order) > 1:
            continue  # a lone last row would make a one-sample CCC
        batch = {k: v[idx] for k, v in targets.items()}
        parts = student_loss(model(xt[idx]), batch, loss_cfg, weights)
        optimiser.zero_grad()
        parts["total"].backward()
        optimiser.step()
        for key in sums:
            sums[key] += float(parts[key].detach()) * len(idx)
    return {key: value / max(len(xt), 1) for key, value in sums.items()}


def fit_neural(x_train, train, x_val, val, loss_cfg: LossConfig, cfg: HeadTrainConfig,
               progress=None, should_cancel=None) -> Candidate:
    model, weights, optimiser, generator = _new_head(x_train, train, loss_cfg, cfg)
    xt, targets = torch.from_numpy(x_train), _targets(train)
    xv, val_targets = torch.from_numpy(x_val), _targets(val)
    best = {"epoch": 0, "uar": -1.0, "state": None}
    history = []
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.monotonic()
        losses = _train_epoch(model, optimiser, generator, xt, targets, weights, loss_cfg, cfg, should_cancel)
        probs, _ = predict_head(model, x_val)
        with torch.no_grad():
            val_loss = float(student_loss(model(xv), val_targets, loss_cfg, weights)["total"])
        val_uar = _uar(probs, val)
        if val_uar > best["uar"] + 1e-9:
            best = {"epoch": epoch, "uar": val_uar, "state": copy.deepcopy(model.state_dict())}
        report = {"epoch": epoch, "epochs": cfg.epochs, "train_loss": losses["total"], "train_kl": losses["kl"],
                  "train_ce": losses["ce"], "train_ccc": losses["ccc"], "val_loss": val_loss,
                  "val_uar": val_uar,
                  "best_epoch": best["epoch"], "best_val_uar": best["uar"], "seconds": time.monotonic() - t0}
        history.append(report)
        if progress:
            progress(report)
        if epoch - best["epoch"] >= cfg.patience:
            break
    model.load_state_dict(best["state"])
    model.eval()
    return Candidate("head", best["uar"], model, {"best_epoch": best["epoch"], "epochs_run": len(history),
                                                  "history": history})


def refit_neural(x, items, epochs: int, loss_cfg: LossConfig, cfg: HeadTrainConfig, should_cancel=None) -> HeadNet:
    """The neural head trained afresh on `items` for the epoch count validation chose."""
    model, weights, optimiser, generator = _new_head(x, items, loss_cfg, cfg)
    xt, targets = torch.from_numpy(x), _targets(items)
    for _ in range(max(epochs, 1)):
        _train_epoch(model, optimiser, generator, xt, targets, weights, loss_cfg, cfg, should_cancel)
    return model.eval()


def _groups(items: list[Item]) -> np.ndarray:
    return np.array([i.group or i.key for i in items])


def c_folds(n_groups: int, n_rows: int, cfg: HeadTrainConfig) -> int:
    """Folds for choosing C: one per speaker on small data (each fold then
    trains on all speakers but one, as close to the final fit as it gets, and
    the mean over more folds is steadier; nested speaker-grouped CV on RAVDESS
    actors 1-16: UAR 0.708 vs 0.700 with 4 folds), else cv_folds."""
    if n_groups <= cfg.c_loso_max_groups and n_rows <= cfg.c_loso_max_rows:
        return n_groups
    return min(cfg.cv_folds, n_groups)


def choose_c(x, y, groups, cfg: HeadTrainConfig) -> tuple[float, dict, int]:
    """Strength of the logistic regression by speaker-grouped CV (UAR) on the
    training split: (C, mean UAR per C, folds)."""
    from sklearn.model_selection import GroupKFold

    if len(y) > cfg.cv_max_rows:  # whole groups, drawn at random, up to the budget
        rng = np.random.default_rng(cfg.seed)
        keep, rows = set(), 0
        for g in rng.permutation(sorted(set(groups))):
            if rows >= cfg.cv_max_rows:
                break
            keep.add(g)
            rows += int((groups == g).sum())
        mask = np.isin(groups, list(keep))
        x, y, groups = x[mask], y[mask], groups[mask]
    folds = c_folds(len(set(groups)), len(y), cfg)
    if folds < 2 or len(set(y)) < 2:
        return cfg.c_grid[len(cfg.c_grid) // 2], {}, 0
    scores = {}
    for c in cfg.c_grid:
        recalls = []
        for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
            if len(set(y[tr])) < 2:
                continue
            model = _fit_logreg(x[tr], y[tr], c)
            recalls.append(M.uar(y[te], model.predict(x[te])))
        scores[c] = float(np.mean(recalls)) if recalls else 0.0
    best = max(cfg.c_grid, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    return best, {str(c): round(s, 4) for c, s in scores.items()}, folds


def _fit_logreg(x, y, c):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a loaded 2-core machine OpenBLAS's threads fight
    # (an 8,000 x 768 fit took 35 s with 2 threads, 4.6 s with 1).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence chatter on tiny sets
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
                             ).fit(x, y)


def logreg_head(x, items: list[Item], cfg: HeadTrainConfig) -> tuple[ClassicalHead, dict]:
    """Standardised logistic regression (C by speaker-grouped CV on `items`) + ridge for V/A."""
    from sklearn.linear_model import Ridge

    y = np.array([i.reference for i in items])
    c, cv, folds = choose_c(x, y, _groups(items), cfg)
    head = _classical_from(_fit_logreg(x, y, c), x.shape[1], c)
    has_va = [k for k, i in enumerate(items) if i.valence is not None and i.arousal is not None]
    if len(has_va) >= 2:
        xs = (x[has_va] - head.mean) / head.scale
        ridge = Ridge(alpha=10.0).fit(xs, np.array([[items[k].valence, items[k].arousal] for k in has_va]))
        head.va_coef, head.va_intercept = ridge.coef_.astype(np.float32), ridge.intercept_.astype(np.float32)
    return head, {"C": c, "cv_uar": cv, "cv_folds": folds}


def _classical_from(pipe, dim: int, c: float) -> ClassicalHead:
    """A fitted scaler + logistic regression as a ClassicalHead over all classes."""
    scaler, logreg = pipe[0], pipe[1]
    coef = np.zeros((len(EMOTIONS), dim), np.float32)
    intercept = np.full(len(EMOTIONS), -30.0, np.float32)   # classes never seen: never predicted
    if len(logreg.classes_) == 2:  # sklearn keeps one row for two classes
        coef[logreg.classes_[1]], intercept[logreg.classes_[1]] = logreg.coef_[0], logreg.intercept_[0]
        intercept[logreg.classes_[0]] = 0.0
    else:
        coef[logreg.classes_], intercept[logreg.classes_] = logreg.coef_, logreg.intercept_
    return ClassicalHead(mean=scaler.mean_.astype(np.float32), scale=scaler.scale_.astype(np.float32),
                         coef=coef, intercept=intercept, c=c)


def fit_classical(x_train, train, x_val, val, cfg: HeadTrainConfig) -> Candidate:
    head, details = logreg_head(x_train, train, cfg)
    return Candidate("logreg", _uar(head.predict(x_val)[0], val), head, details)


def one_se_choice(scores: dict[str, float], n: int) -> str:
    """The simplest candidate (CANDIDATES order) whose UAR is within one standard
    error of the best; the error is the binomial one of the best UAR over the
    n segments that carry a class."""
    best = max(scores.values())
    se = float(np.sqrt(best * (1 - best) / n)) if n else 0.0
    return next(name for name in CANDIDATES if scores[name] >= best - se - 1e-9)


def grouped_cv_scores(x, items: list[Item], c: float, epochs: int, loss_cfg: LossConfig,
                      cfg: HeadTrainConfig, should_cancel=None) -> dict[str, float]:
    """Each candidate's UAR on out-of-fold predictions over speaker-grouped folds
    (C and the neural head's epoch count fixed as the main fit chose them)."""
    from sklearn.model_selection import GroupKFold

    groups = _groups(items)
    folds = min(cfg.cv_folds, len(set(groups)))
    if folds < 2:
        return {}
    probs = {name: np.zeros((len(items), len(EMOTIONS)), np.float32) for name in CANDIDATES}
    y = np.array([i.reference for i in items])
    for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
        part = [items[k] for k in tr]
        classical = _classical_from(_fit_logreg(x[tr], y[tr], c), x.shape[1], c)
        neural = refit_neural(x[tr], part, epochs, loss_cfg, cfg, should_cancel)
        probs["logreg"][te] = classical.predict(x[te])[0]
        probs["head"][te] = predict_head(neural, x[te])[0]
        probs["ensemble"][te] = EnsembleHead([classical, neural]).predict(x[te])[0]
    return {name: _uar(p, items) for name, p in probs.items()}


def fit_heads(train: list[Item], val: list[Item], loss_cfg: LossConfig = LossConfig(),
              cfg: HeadTrainConfig = HeadTrainConfig(), progress=None, should_cancel=None,
              refit: bool = True) -> HeadResult:
    """Both heads fitted on train and scored on val; the choice by the one-SE rule;
    with `refit`, every candidate then refitted on train + val (val_uar stays the
    held-out figure of the train-only fit)."""
    if not train or not val:
        raise ValueError("need training and validation items")
    started = time.monotonic()
    with torch_threads(cfg.threads):
        x_train, x_val = pool_items(train), pool_items(val)
        neural = fit_neural(x_train, train, x_val, val, loss_cfg, cfg, progress, should_cancel)
        classical = fit_classical(x_train, train, x_val, val, cfg)
        both = EnsembleHead([classical.model, neural.model])
        ensemble = Candidate("ensemble", _uar(both.predict(x_val)[0], val), both)
        candidates = {"logreg": classical, "head": neural, "ensemble": ensemble}
        everything, x_all = train + val, np.concatenate([x_train, x_val])
        n_val = len(_truth(val)[0])
        cv_scores = (grouped_cv_scores(x_all, everything, classical.details["C"], neural.details["best_epoch"],
                                       loss_cfg, cfg, should_cancel) if n_val < cfg.cv_choice_below else {})
        if cv_scores:
            chosen = one_se_choice(cv_scores, len(_truth(everything)[0]))
            for name, score in cv_scores.items():
                candidates[name].details["cv_choice_uar"] = round(score, 4)
        else:
            chosen = one_se_choice({name: c.val_uar for name, c in candidates.items()}, n_val)
        if refit:
            classical.model, refit_details = logreg_head(x_all, everything, cfg)
            classical.details.update({"refit_" + k: v for k, v in refit_details.items()})
            neural.model = refit_neural(x_all, everything, neural.details["best_epoch"], loss_cfg, cfg,
                                        should_cancel)
            ensemble.model = EnsembleHead([classical.model, neural.model])
            for candidate in candidates.values():
                candidate.details["refit_on"] = f"train+val ({len(everything)} segments)"
    return HeadResult(chosen=chosen, candidates=candidates,
                      history=neural.details.pop("history"), seconds=time.monotonic() - started,
                      dim=x_train.shape[1] // 2)


def refit_chosen(result: HeadResult, items: list[Item], loss_cfg: LossConfig = LossConfig(),
                 cfg: HeadTrainConfig = HeadTrainConfig(), should_cancel=None) -> tuple[object, dict]:
    """The chosen head fitted afresh on `items` (every labelled segment, test
    included: AutoML's "refit_full"), with what the run chose: the same kind of
    head, the neural head's epoch count, C re-chosen by speaker-grouped CV on
    `items`. Only for release after the guard passed on the test split, which
    these weights then no longer have held out."""
    x = pool_items(items)
    chosen, details = result.chosen, {"segments": len(items), "head": result.chosen}
    members = []
    with torch_threads(cfg.threads):
        if chosen in ("logreg", "ensemble"):
            classical, fit = logreg_head(x, items, cfg)
            details.update(fit)
            members.append(classical)
        if chosen in ("head", "ensemble"):
            epochs = result.candidates["head"].details["best_epoch"]
            members.append(refit_neural(x, items, epochs, loss_cfg, cfg, should_cancel))
            details["epochs"] = epochs
    return (members[0] if len(members) == 1 else EnsembleHead(members)), details
