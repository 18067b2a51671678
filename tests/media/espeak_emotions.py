"""Learnable 'emotional' speech from espeak-ng: voice, pitch, rate and
loudness depend on the class, so a speech model can tell the classes apart.
Also writes export zips in the manifest layout annotation/export/build.py writes."""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# class -> (voice, pitch 0-99, words per minute, amplitude)
PROSODY = {
    "angry": ("en+m3", 35, 230, 190),
    "happy": ("en+f3", 80, 185, 120),
    "sad": ("en+m1", 15, 105, 60),
    "neutral": ("en", 50, 150, 100),
    "fear": ("en+f2", 90, 250, 80),
    "surprise": ("en+f4", 95, 160, 160),
    "disgust": ("en+m2", 25, 120, 130),
}
CIRCUMPLEX = {"angry": (-0.6, 0.7), "disgust": (-0.6, 0.3), "fear": (-0.6, 0.6), "happy": (0.8, 0.5),
              "sad": (-0.7, -0.5), "surprise": (0.3, 0.8), "neutral": (0.0, 0.0)}
SENTENCES = [
    "Kids are talking by the door.", "Dogs are sitting by the door.", "The meeting starts at nine tomorrow.",
    "I cannot believe you did that.", "We should take the train home.", "Put the box on the table please.",
    "It is raining again in the city.", "She wrote a letter to her brother.", "The soup is on the stove.",
    "Nobody told me about the change.", "Open the window for some air.", "He parked the car outside.",
]


@dataclass
class Clip:
    path: Path
    category: str
    index: int


def speak(text: str, category: str, out: Path, rng: np.random.Generator, rate: int = 16000) -> Path:
    voice, pitch, wpm, amp = PROSODY[category]
    pitch = int(np.clip(pitch + rng.integers(-6, 7), 0, 99))
    wpm = int(wpm * rng.uniform(0.9, 1.1))
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(wpm), "-a", str(amp),
                        "-w", raw.name, text], check=True, capture_output=True)
        wave, sr = sf.read(raw.name, dtype="float32")
    wave = librosa.resample(wave, orig_sr=sr, target_sr=rate)
    wave = wave + rng.normal(0, 0.003, wave.size).astype(np.float32)  # a little room noise
    sf.write(out, wave, rate, subtype="PCM_16")
    return out


def make_clips(folder: Path, classes=("angry", "happy", "sad", "neutral"), per_class: int = 20,
               seed: int = 0, rate: int = 16000, layout: str = "flat") -> list[Clip]:
    """per_class clips per class; layout 'flat' -> folder/<class>_<n>.wav,
    'by_class' -> folder/<class>/<n>.wav (evaluate_student's layout)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for category in classes:
        for n in range(per_class):
            if layout == "by_class":
                (folder / category).mkdir(exist_ok=True)
                path = folder / category / f"{n:03d}.wav"
            else:
                path = folder / f"{category}_{n:03d}.wav"
            text = SENTENCES[int(rng.integers(len(SENTENCES)))]
            clips.append(Clip(speak(text, category, path, rng, rate), category, n))
    return clips


def teacher_probs(category: str, rng: np.random.Generator, confidence: float = 0.6) -> list[float]:
    """A noisy face-teacher opinion that leans towards the true class."""
    noise = rng.dirichlet(np.ones(len(EMOTIONS)))
    probs = (1 - confidence) * noise
    probs[EMOTIONS.index(category)] += confidence
    return [float(p) for p in probs / probs.sum()]


def write_export_zip(path: Path, clips: list[Clip], human: bool = True, teacher: bool = True,
                     seed: int = 0, splits=(0.6, 0.2, 0.2)) -> Path:
    """A zip with the export layout: manifest.jsonl, audio/<id>.wav, splits.json.
    Splits are stratified per class so every split sees every class; each clip
    is its own video (speaker unknown), so no group spans two splits."""
    rng = np.random.default_rng(seed)
    rows = []
    by_class: dict[str, list[Clip]] = {}
    for clip in clips:
        by_class.setdefault(clip.category, []).append(clip)
    sid = 0
    for category, group in by_class.items():
        n = len(group)
        n_train, n_val = int(round(n * splits[0])), int(round(n * splits[1]))
        for k, clip in enumerate(group):
            sid += 1
            split = "train" if k < n_train else "val" if k < n_train + n_val else "test"
            val, aro = CIRCUMPLEX[category]
            rows.append({
                "segment_id": sid, "video_id": sid, "video_url": "", "video_title": "generated", "channel": "",
                "license": "generated", "start": 0.0, "end": 1.0, "speaker": None,
                "audio": f"audio/{sid}.wav", "faces": [],
                "labels": [{"annotator": "a1", "category": category, "valence": val, "arousal": aro,
                            "flags": []}] if human else [],
                "category": category if human else None, "vote_share": 1.0 if human else None,
                "valence": val if human else None, "arousal": aro if human else None,
                "teacher": {"model": "fer@1", "probs": teacher_probs(category, rng),
                            "valence": val, "arousal": aro} if teacher else None,
                "split": split, "_path": clip.path,
            })
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.jsonl", "".join(
            json.dumps({k: v for k, v in r.items() if k != "_path"}) + "\n" for r in rows))
        for r in rows:
            archive.write(r["_path"], r["audio"])
        archive.writestr("splits.json", json.dumps(
            {s: [r["segment_id"] for r in rows if r["split"] == s] for s in ("train", "val", "test")}))
    return path


_CACHE: dict = {}


def cached_clips(folder_factory, classes=("angry", "happy", "sad", "neutral"), per_class: int = 20,
                 seed: int = 0, layout: str = "flat") -> list[Clip]:
    """make_clips once per test session (espeak-ng takes a few seconds per class)."""
    key = (tuple(classes), per_class, seed, layout)
    if key not in _CACHE:
        _CACHE[key] = make_clips(folder_factory(f"espeak-{seed}-{layout}"), classes, per_class, seed, layout=layout)
    return _CACHE[key]
