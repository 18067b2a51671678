"""Export zip (manifest.jsonl + audio/) -> feature datasets per split.

Pure module (no Django): reads the zip layout that annotation/export/build.py
writes (manifest.jsonl, audio/, splits.json) and class-per-folder WAV directories.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from annotation.export.splits import SPLITS
from labelstudio_emo.emotions import EMOTIONS

from .features import FeatureConfig, file_log_mel, read_audio

CLASS_INDEX = {name: i for i, name in enumerate(EMOTIONS)}


class DataError(ValueError):
    """The corpus cannot be used for training (message says why)."""


@dataclass
class Item:
    key: str                          # segment id or file path
    split: str
    feats: np.ndarray                 # [n_mels, frames] log-mel (float16 to halve memory)
    human: int = -1                   # human majority class, -1 = none
    teacher_probs: np.ndarray | None = None
    valence: float | None = None      # human mean, else the teacher's
    arousal: float | None = None
    group: str = ""                   # speaker (else video): rows of one group are never split apart
    audio: bytes | None = None        # kept for the test split (to score the active student on it too)

    @property
    def reference(self) -> int:
        """Class used for evaluation and balancing: the human one, else the teacher's argmax."""
        if self.human >= 0:
            return self.human
        if self.teacher_probs is not None:
            return int(np.argmax(self.teacher_probs))
        return -1


@dataclass
class Corpus:
    splits: dict[str, list[Item]]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    teacher_models: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        out = {}
        for name, items in self.splits.items():
            out[name] = {"segments": len(items),
                         "human": sum(i.human >= 0 for i in items),
                         "teacher": sum(i.teacher_probs is not None for i in items)}
        return out


def _probs(teacher: dict | None) -> np.ndarray | None:
    if not teacher or teacher.get("probs") is None:
        return None
    probs = np.asarray(teacher["probs"], dtype=np.float32)
    if probs.shape != (len(EMOTIONS),) or not np.isfinite(probs).all() or probs.sum() <= 0:
        return None
    probs = np.clip(probs, 0, None)
    return probs / probs.sum()


def _float(value) -> float | None:
    return None if value is None else float(np.clip(float(value), -1.0, 1.0))


def item_from_row(row: dict, feats: np.ndarray) -> Item:
    teacher = row.get("teacher") or None
    human = CLASS_INDEX.get(row.get("category") or "", -1)
    valence, arousal = _float(row.get("valence")), _float(row.get("arousal"))
    if valence is None or arousal is None:  # fall back to the teacher's V/A
        t_val = _float((teacher or {}).get("valence"))
        t_aro = _float((teacher or {}).get("arousal"))
        if t_val is not None and t_aro is not None:
            valence, arousal = t_val, t_aro
    group = row.get("speaker") or (f"hint:{row['speaker_hint']}" if row.get("speaker_hint") else
                                   f"video:{row.get('video_id', row.get('segment_id'))}")
    return Item(key=str(row.get("segment_id")), split=row.get("split") or "train", feats=feats,
                human=human, teacher_probs=_probs(teacher), valence=valence, arousal=arousal, group=str(group))


def manifest_split_sizes(zip_path) -> dict[str, int]:
    """Rows per split in an export zip's manifest (no audio read)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            manifest = next((n for n in archive.namelist() if n.endswith("manifest.jsonl")), None)
            lines = archive.read(manifest).decode().splitlines() if manifest else []
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{Path(zip_path).name} is not a readable export zip ({exc})") from exc
    sizes = Counter((json.loads(line).get("split") or "train") for line in lines if line.strip())
    return {name: sizes.get(name, 0) for name in SPLITS}


def log_mel_featurizer(cfg: FeatureConfig = FeatureConfig()):
    """The log-mel network's features: [(row, audio bytes)] -> [log-mel or the error]."""
    def featurize(entries):
        out = []
        for _, audio in entries:
            try:
                out.append(file_log_mel(audio, cfg).astype(np.float16))
            except ValueError as exc:
                out.append(exc)
        return out
    return featurize


def encoder_featurizer(encoder):
    """A speech encoder's frames: [(row, audio bytes)] -> [[frames, dim] float16 or the error]."""
    def featurize(entries):
        out, waves, keep = [None] * len(entries), [], []
        for n, (_, audio) in enumerate(entries):
            try:
                waves.append(read_audio(audio))
                keep.append(n)
            except ValueError as exc:
                out[n] = exc
        keys = [str(entries[n][0].get("segment_id")) for n in keep]
        for n, frames in zip(keep, encoder.encode(waves, keys) if keep else []):
            out[n] = frames.astype(np.float16)
        return out
    return featurize


def read_export(zip_path, cfg: FeatureConfig = FeatureConfig(), progress=None, featurize=None,
                keep_audio: tuple[str, ...] = ()) -> Corpus:
    """Read manifest.jsonl + audio/ of an export zip into features per split.
    `featurize([(row, audio bytes)]) -> [features or exception]` (default: log-mel);
    the audio of the `keep_audio` splits stays on the items.
    Rows without audio, or with neither a human nor a teacher label, are skipped."""
    featurize = featurize or log_mel_featurizer(cfg)
    zip_path = Path(zip_path)
    if not zip_path.exists():
        raise DataError(f"export file not found: {zip_path}")
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path.name} is not a zip file") from exc
    with archive:
        names = set(archive.namelist())
        manifest = next((n for n in names if n.endswith("manifest.jsonl")), None)
        if manifest is None:
            raise DataError("export has no manifest.jsonl")
        prefix = manifest[: -len("manifest.jsonl")]  # zips may wrap everything in one folder
        rows = [json.loads(line) for line in archive.read(manifest).decode().splitlines() if line.strip()]
        splits: dict[str, list[Item]] = {s: [] for s in SPLITS}
        skipped, teachers, entries = [], Counter(), []
        for row in rows:
            sid = str(row.get("segment_id"))
            audio = prefix + (row.get("audio") or f"audio/{sid}.wav")
            if audio not in names:
                skipped.append(f"{sid}: audio missing")
                continue
            entries.append((row, audio))
        for start in range(0, len(entries), 256):  # features in chunks: progress, bounded memory
            chunk = [(row, archive.read(name)) for row, name in entries[start:start + 256]]
            for (row, audio), feats in zip(chunk, featurize(chunk)):
                sid = str(row.get("segment_id"))
                if isinstance(feats, Exception):
                    skipped.append(f"{sid}: {feats}")
                    continue
                item = item_from_row(row, feats)
                if item.reference < 0:
                    skipped.append(f"{sid}: no human or teacher label")
                    continue
                if item.split not in splits:
                    item.split = "train"
                if item.split in keep_audio:
                    item.audio = audio
                if row.get("teacher") and row["teacher"].get("model"):
                    teachers[row["teacher"]["model"]] += 1
                splits[item.split].append(item)
            if progress:
                progress(min(start + 256, len(entries)), len(entries))
    return Corpus(splits=splits, skipped=skipped, teacher_models=sorted(teachers))


def ensure_splits(corpus: Corpus, fraction: float = 0.15, seed: int = 0) -> Corpus:
    """Small corpora may come without val/test rows: carve them from train,
    stratified by class, and say so in corpus.notes."""
    rng = np.random.default_rng(seed)
    for split in ("val", "test"):
        if corpus.splits[split]:
            continue
        train = corpus.splits["train"]
        by_class: dict[int, list[Item]] = {}
        for item in train:
            by_class.setdefault(item.reference, []).append(item)
        moved = []
        for items in by_class.values():
            take = int(round(len(items) * fraction))
            if take and len(items) - take >= 1:
                moved += [items[i] for i in rng.permutation(len(items))[:take]]
        if not moved:
            continue
        ids = {id(i) for i in moved}
        corpus.splits["train"] = [i for i in train if id(i) not in ids]
        for item in moved:
            item.split = split
        corpus.splits[split] = moved
        corpus.notes.append(f"export had no {split} rows: {len(moved)} train segments moved to {split}")
    if not corpus.splits["train"]:
        raise DataError("no usable training segments (need audio plus a human or teacher label)")
    if not corpus.splits["val"] or not corpus.splits["test"]:
        raise DataError("too few segments to hold out validation and test sets")
    return corpus


def read_class_folders(directory) -> list[tuple[Path, int]]:
    """DIR/<class>/*.wav -> [(path, class index)]; class folders use the FER2013 names."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"not a directory: {directory}")
    out, unknown = [], []
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        if sub.name.lower() not in CLASS_INDEX:
            unknown.append(sub.name)
            continue
        for wav in sorted(sub.iterdir()):
            if wav.suffix.lower() in (".wav", ".flac", ".ogg"):
                out.append((wav, CLASS_INDEX[sub.name.lower()]))
    if not out:
        hint = f" (unknown folders: {', '.join(unknown)})" if unknown else ""
        raise DataError(f"no WAV files in class sub-folders of {directory}; folders must be named "
                        f"{', '.join(EMOTIONS)}{hint}")
    return out


class FeatureDataset(Dataset):
    """Items -> training tensors; random crops of long clips when training."""

    def __init__(self, items: list[Item], crop_frames: int | None = None, train: bool = False, seed: int = 0,
                 spec_augment: bool = False):
        self.items, self.crop_frames, self.train = items, crop_frames, train
        self.spec_augment = spec_augment and train
        self.rng = np.random.default_rng(seed)

    def _mask(self, feats: np.ndarray) -> np.ndarray:
        """SpecAugment-style: one band of up to 8 mel channels and one stretch of
        up to 10% of the frames set to the clip's mean (a few thousand
        segments overfit quickly otherwise)."""
        feats = feats.copy()
        n_mels, frames = feats.shape
        fill = float(feats.mean())
        width = int(self.rng.integers(0, 9))
        if width:
            start = int(self.rng.integers(0, n_mels - width + 1))
            feats[start:start + width] = fill
        span = int(self.rng.integers(0, max(1, frames // 10) + 1))
        if span:
            start = int(self.rng.integers(0, frames - span + 1))
            feats[:, start:start + span] = fill
        return feats

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = self.items[index]
        feats = item.feats
        if self.train and self.crop_frames and feats.shape[1] > self.crop_frames:
            start = int(self.rng.integers(0, feats.shape[1] - self.crop_frames + 1))
            feats = feats[:, start:start + self.crop_frames]
        feats = feats.astype(np.float32)
        if self.spec_augment:
            feats = self._mask(feats)
        has_va = item.valence is not None and item.arousal is not None
        n = len(EMOTIONS)
        return {
            "feats": torch.from_numpy(np.ascontiguousarray(feats)),
            "human": item.human,
            "teacher_probs": torch.from_numpy(item.teacher_probs) if item.teacher_probs is not None
            else torch.zeros(n),
            "has_teacher": float(item.teacher_probs is not None),
            "va": torch.tensor([item.valence or 0.0, item.arousal or 0.0] if has_va else [0.0, 0.0]),
            "has_va": float(has_va),
            "reference": item.reference,
        }


def collate(rows: list[dict]) -> dict:
    """Pad log-mels to the longest in the batch (with log-silence) and stack the rest."""
    lengths = torch.tensor([r["feats"].shape[1] for r in rows])
    n_mels, longest = rows[0]["feats"].shape[0], int(lengths.max())
    feats = torch.full((len(rows), n_mels, longest), float(np.log(1e-6)))
    for i, r in enumerate(rows):
        feats[i, :, : r["feats"].shape[1]] = r["feats"]
    return {
        "feats": feats,
        "lengths": lengths,
        "human": torch.tensor([r["human"] for r in rows], dtype=torch.long),
        "teacher_probs": torch.stack([r["teacher_probs"] for r in rows]),
        "has_teacher": torch.tensor([r["has_teacher"] for r in rows]),
        "va": torch.stack([r["va"] for r in rows]),
        "has_va": torch.tensor([r["has_va"] for r in rows]),
        "reference": torch.tensor([r["reference"] for r in rows], dtype=torch.long),
    }
