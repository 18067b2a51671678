"""Teacher architectures by name (no Django): how to turn a weights file
into canonical bytes to store, and stored bytes into a working Teacher.

- "mini_xception": the FER2013 mini-Xception (state dict .pt, or a Keras
  .h5/.hdf5 of the same network, converted on registration).
- "torch_export": any stronger model saved with torch.export.save (.pt2,
  batch dimension dynamic) that maps a float batch (N, C, S, S) to 7 logits
  in FER2013 order, optionally followed by valence and arousal in [-1, 1].
  Its input is described by the version's config: {"input_size": 224,
  "channels": "rgb"|"grey", "mean": [...], "std": [...]} (defaults: 224,
  rgb, ImageNet statistics).
- "torchscript": the same contract for models saved with torch.jit.save
  (deprecated by PyTorch, kept for existing exports).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from .base import Teacher
from .fer_weights import keras_hdf5_to_state_dict, state_dict_bytes
from .mini_xception import MiniXceptionTeacher, pick_device, to_grey

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


class WeightsError(ValueError):
    """The weights file cannot be used with the named architecture."""


def _load_state_dict(data: bytes) -> dict:
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise WeightsError(f"not a PyTorch state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError("not a PyTorch state dict (expected a dict of tensors)")
    return state


# --- mini_xception -----------------------------------------------------------

def _mini_xception_canonical(path: Path, config: dict) -> bytes:
    if path.suffix.lower() in (".h5", ".hdf5", ".keras"):
        try:
            return state_dict_bytes(keras_hdf5_to_state_dict(path))
        except (OSError, KeyError, ValueError) as exc:
            raise WeightsError(f"cannot convert Keras file: {exc}") from exc
    return path.read_bytes()


def _mini_xception_load(data: bytes, config: dict, device: str) -> Teacher:
    state = _load_state_dict(data)
    try:
        return MiniXceptionTeacher(state, device=device)
    except RuntimeError as exc:  # missing/unexpected keys, shape mismatch
        raise WeightsError(f"weights do not fit mini_xception: {str(exc).splitlines()[0]}") from exc


# --- torchscript ---------------------------------------------------------------

class ImageModelTeacher(Teacher):
    """A generic image classifier: 7 logits (+ optional V, A) per face."""

    def __init__(self, module, config: dict, arch: str, device: str = "auto", batch_size: int = 32):
        self.arch = arch
        self.device = pick_device(device)
        self.module = module.to(self.device)
        self.size = int(config.get("input_size", 224))
        self.grey = config.get("channels", "rgb") == "grey"
        default = {"mean": [0.5], "std": [0.5]} if self.grey else IMAGENET
        self.mean = np.array(config.get("mean", default["mean"]), dtype=np.float32)
        self.std = np.array(config.get("std", default["std"]), dtype=np.float32)
        self.batch_size = batch_size

    def _prepare(self, face: np.ndarray) -> np.ndarray:
        face = np.asarray(face)
        if self.grey:
            img = to_grey(face)[:, :, None]
        else:
            img = np.repeat(to_grey(face)[:, :, None], 3, axis=2) if face.ndim == 2 else face[:, :, :3]
        img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        img = img.reshape(self.size, self.size, -1).astype(np.float32) / 255.0
        return ((img - self.mean) / self.std).transpose(2, 0, 1)

    @torch.inference_mode()
    def forward(self, faces):
        probs, va = [], []
        for start in range(0, len(faces), self.batch_size):
            x = torch.from_numpy(np.stack([self._prepare(f) for f in faces[start:start + self.batch_size]]))
            out = self.module(x.to(self.device)).float().cpu()
            if out.ndim != 2 or out.shape[1] not in (7, 9):
                raise WeightsError(f"{self.arch} teacher returned shape {tuple(out.shape)}, expected (N, 7) or (N, 9)")
            probs.append(torch.softmax(out[:, :7], dim=1).numpy())
            if out.shape[1] == 9:
                va.append(out[:, 7:9].clamp(-1, 1).numpy())
        return np.concatenate(probs), (np.concatenate(va) if va else None)


def _as_is(path: Path, config: dict) -> bytes:
    return path.read_bytes()


def _torchscript_load(data: bytes, config: dict, device: str) -> Teacher:
    try:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    except Exception as exc:
        raise WeightsError(f"not a TorchScript file ({type(exc).__name__}: {exc})") from exc
    return ImageModelTeacher(module, config, "torchscript", device=device)


def _torch_export_load(data: bytes, config: dict, device: str) -> Teacher:
    try:
        module = torch.export.load(io.BytesIO(data)).module()
    except Exception as exc:
        raise WeightsError(f"not a torch.export (.pt2) file ({type(exc).__name__}: {exc})") from exc
    return ImageModelTeacher(module, config, "torch_export", device=device)


# --- registry ----------------------------------------------------------------

ARCHITECTURES: dict[str, tuple[Callable[[Path, dict], bytes], Callable[[bytes, dict, str], Teacher]]] = {
    "mini_xception": (_mini_xception_canonical, _mini_xception_load),
    "torch_export": (_as_is, _torch_export_load),
    "torchscript": (_as_is, _torchscript_load),
}


def _arch(arch: str):
    if arch not in ARCHITECTURES:
        raise WeightsError(f"unknown teacher architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[arch]


def load_teacher(arch: str, data: bytes, config: dict | None = None, device: str = "auto") -> Teacher:
    return _arch(arch)[1](data, config or {}, device)


def canonical_weights(arch: str, path: Path, config: dict | None = None) -> bytes:
    """Bytes to store for a weights file, after checking that they load and
    predict 7 probabilities for a face (WeightsError otherwise)."""
    data = _arch(arch)[0](Path(path), config or {})
    teacher = load_teacher(arch, data, config, device="cpu")
    probe = [np.full((64, 64), 128, np.uint8), np.full((112, 112, 3), 128, np.uint8)]
    try:
        predictions = teacher.predict(probe)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{arch} model failed on a test face ({type(exc).__name__}: {exc})") from exc
    if len(predictions) != 2 or not all(np.isfinite(p.probs).all() for p in predictions):
        raise WeightsError(f"{arch} model did not return finite probabilities for a test face")
    return data
