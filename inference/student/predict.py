"""Checkpoints and inference for the student (pure: paths/arrays in, arrays out)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from labelstudio_emo.emotions import EMOTIONS

from .features import FeatureConfig, log_mel, read_audio
from .model import ARCH, ModelConfig, StudentNet


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Student:
    model: StudentNet
    features: FeatureConfig
    device: torch.device
    meta: dict

    @property
    def classes(self) -> tuple:
        return tuple(self.meta.get("classes") or EMOTIONS)


def checkpoint_bytes(model: StudentNet, features: FeatureConfig, meta: dict | None = None) -> bytes:
    """Serialise weights + configs (plain types only, loadable with weights_only=True)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"arch": ARCH, "model": model.cfg.to_dict(), "features": features.to_dict(),
               "classes": list(EMOTIONS), "state_dict": state, "meta": meta or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def check_checkpoint(arch: str, data: bytes) -> None:
    """Raise unless `data` is a checkpoint of this student architecture (registration)."""
    if arch != ARCH:
        raise ValueError(f"unknown student architecture {arch!r}; known: {ARCH}")
    load_student(data)


def load_student(source, device: str | None = None) -> Student:
    """Checkpoint path, file object or bytes -> Student ready for inference."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, Path):
        source = str(source)
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if payload.get("arch") != ARCH:
        raise ValueError(f"not a student checkpoint (arch {payload.get('arch')!r}, expected {ARCH!r})")
    model = StudentNet(ModelConfig.from_dict(payload["model"]))
    model.load_state_dict(payload["state_dict"])
    dev = pick_device(device)
    model.to(dev).eval()
    meta = {**payload.get("meta", {}), "classes": payload.get("classes", list(EMOTIONS))}
    return Student(model=model, features=FeatureConfig.from_dict(payload["features"]), device=dev, meta=meta)


def predict_features(model: StudentNet, feats: list[np.ndarray], device: torch.device | None = None,
                     batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Log-mels -> (probs [N, C], va [N, 2]). Batches similar lengths together."""
    device = device or next(model.parameters()).device
    n = len(feats)
    probs = np.zeros((n, model.cfg.n_classes), np.float32)
    va = np.zeros((n, 2), np.float32)
    order = np.argsort([f.shape[1] for f in feats])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            lengths = torch.tensor([feats[i].shape[1] for i in idx])
            batch = torch.full((len(idx), feats[idx[0]].shape[0], int(lengths.max())), float(np.log(1e-6)))
            for row, i in enumerate(idx):
                batch[row, :, : feats[i].shape[1]] = torch.from_numpy(np.asarray(feats[i], np.float32))
            out = model(batch.to(device), lengths.to(device))
            probs[idx] = torch.softmax(out["logits"], -1).cpu().numpy()
            va[idx] = out["va"].cpu().numpy()
    model.train(was_training)
    return probs, va


def predict_waves(student: Student, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mono waves at student.features.sample_rate -> (probs, va)."""
    feats = [log_mel(w, student.features) for w in waves]
    return predict_features(student.model, feats, student.device)


def predict_files(student: Student, paths) -> tuple[np.ndarray, np.ndarray]:
    """Audio files (any rate, mono or stereo) -> (probs, va)."""
    return predict_waves(student, [read_audio(p, student.features.sample_rate) for p in paths])
