"""Checkpoints and inference for the student (pure: paths/arrays in, arrays out).

Two kinds of student: an encoder head (ARCH "encoder-head": frozen speech
encoder frames -> pooled stats -> head) and the log-mel network trained from
scratch ("crnn-attn", the fallback when no encoder is installed). Both answer
`featurize(waves)` and `predict_features(feats)`, so evaluation and
prelabelling run the same code for either.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelstudio_emo.emotions import EMOTIONS

from . import head as H
from .encoders import EncoderError, SpeechEncoder, load_encoder
from .features import FeatureConfig, log_mel, read_audio
from .model import ARCH, ModelConfig, StudentNet

ARCHS = (H.ARCH, ARCH)


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Student:
    model: StudentNet | None
    features: FeatureConfig
    device: torch.device
    meta: dict
    head: object = None            # HeadNet or ClassicalHead (encoder-head students)
    encoder_info: dict | None = None
    _encoder: SpeechEncoder | None = None
    candidates: dict = field(default_factory=dict)   # encoder heads: every head its run fitted
    validated: object = None       # the head the release guard tested, when `head` was refit after it
    validated_on: frozenset | None = None  # segment keys that head was fitted on (None: not recorded)

    @property
    def classes(self) -> tuple:
        return tuple(self.meta.get("classes") or EMOTIONS)

    @property
    def arch(self) -> str:
        return H.ARCH if self.head is not None else ARCH

    @property
    def encoder(self) -> SpeechEncoder:
        """The encoder the head was trained on, loaded on first use; a
        different checksum than at training time is refused."""
        if self._encoder is None:
            info = self.encoder_info or {}
            encoder = load_encoder(info.get("spec") or info.get("name"), mode=info.get("mode") or "trim")
            if info.get("checksum") and encoder.checksum != info["checksum"]:
                raise EncoderError(f"this student was trained on {info.get('name')} with weights "
                                   f"{info['checksum'][:12]}..., the installed encoder has {encoder.checksum[:12]}...")
            self._encoder = encoder
        return self._encoder

    def featurize(self, waves: list[np.ndarray], keys: list[str] | None = None) -> list[np.ndarray]:
        """Mono waves at 16 kHz -> what predict_features takes (encoder frames or log-mels)."""
        if self.head is not None:
            return self.encoder.encode(waves, keys)
        return [log_mel(w, self.features) for w in waves]

    def predict_features(self, feats: list[np.ndarray], validated: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """With `validated`, a head refit on its test split after the guard answers
        with the weights the guard tested (on that split the refit one would score itself)."""
        if self.head is not None:
            if not feats:
                return np.zeros((0, len(EMOTIONS)), np.float32), np.zeros((0, 2), np.float32)
            head = self.validated if validated and self.validated is not None else self.head
            return H.predict_pooled(head, np.stack([H.pooled_stats(f) for f in feats]))
        return predict_features(self.model, feats, self.device)


def checkpoint_bytes(model: StudentNet, features: FeatureConfig, meta: dict | None = None) -> bytes:
    """Serialise weights + configs (plain types only, loadable with weights_only=True)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"arch": ARCH, "model": model.cfg.to_dict(), "features": features.to_dict(),
               "classes": list(EMOTIONS), "state_dict": state, "meta": meta or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _head_body(head) -> dict:
    if isinstance(head, H.ClassicalHead):
        return {"kind": "logreg", "state": head.to_state()}
    if isinstance(head, H.EnsembleHead):
        return {"kind": "ensemble", "members": [_head_body(m) for m in head.members]}
    return {"kind": "head", "config": head.cfg.to_dict(),
            "state": {k: v.detach().cpu() for k, v in head.state_dict().items()}}


def _head_from_body(body: dict):
    if body["kind"] == "logreg":
        return H.ClassicalHead.from_state(body["state"])
    if body["kind"] == "ensemble":
        return H.EnsembleHead([_head_from_body(m) for m in body["members"]])
    head = H.HeadNet(H.HeadConfig.from_dict(body["config"]))
    head.load_state_dict(body["state"])
    return head.eval()


def head_checkpoint_bytes(head, encoder_info: dict, meta: dict | None = None, candidates: dict | None = None,
                          validated=None, validated_on: list[str] | None = None) -> bytes:
    """An encoder-head student: the encoder's identity (name, spec, checksum,
    mode), the chosen head, the candidates of its run as validated (for
    comparison), when the chosen head was refit after the guard the validated
    one too, and the segment keys the validated head was fitted on (a later
    run's guard compares with it only on segments it has not seen)."""
    payload = {"arch": H.ARCH, "encoder": dict(encoder_info), "head": _head_body(head), "classes": list(EMOTIONS),
               "candidates": {name: _head_body(h) for name, h in (candidates or {}).items()}, "meta": meta or {}}
    if validated is not None:
        payload["validated"] = _head_body(validated)
    if validated_on is not None:
        payload["validated_on"] = sorted(validated_on)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _load_head(payload: dict, device: torch.device) -> Student:
    body = payload["head"]
    meta = {**payload.get("meta", {}), "classes": payload.get("classes", list(EMOTIONS)), "head": body["kind"]}
    student = Student(model=None, features=FeatureConfig(), device=device, meta=meta, head=_head_from_body(body),
                      encoder_info=payload.get("encoder") or {})
    student.candidates = {name: _head_from_body(b) for name, b in (payload.get("candidates") or {}).items()}
    student.validated = _head_from_body(payload["validated"]) if payload.get("validated") else None
    if payload.get("validated_on") is not None:
        student.validated_on = frozenset(payload["validated_on"])
    return student


def check_checkpoint(arch: str, data: bytes) -> None:
    """Raise unless `data` is a checkpoint of this student architecture (registration)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown student architecture {arch!r}; known: {', '.join(ARCHS)}")
    student = load_student(data)
    if student.arch != arch:
        raise ValueError(f"the checkpoint is a {student.arch} student")


def load_student(source, device: str | None = None) -> Student:
    """Checkpoint path, file object or bytes -> Student ready for inference."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, Path):
        source = str(source)
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if payload.get("arch") == H.ARCH:
        return _load_head(payload, pick_device(device))
    if payload.get("arch") != ARCH:
        raise ValueError(f"not a student checkpoint (arch {payload.get('arch')!r}, expected one of {ARCHS})")
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


def predict_waves(student: Student, waves: list[np.ndarray], keys: list[str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mono waves at 16 kHz -> (probs, va), through the student's encoder or log-mel."""
    return student.predict_features(student.featurize(waves, keys))


def predict_files(student: Student, paths) -> tuple[np.ndarray, np.ndarray]:
    """Audio files (any rate, mono or stereo) -> (probs, va)."""
    return predict_waves(student, [read_audio(p, student.features.sample_rate) for p in paths])
