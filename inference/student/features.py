"""Audio in, log-mel out (numpy + torch, librosa's mel filters; no torchaudio).

Pure functions: no Django, no Celery. The same `FeatureConfig` is saved with
every checkpoint so inference computes exactly what training saw.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_fft: int = 400          # 25 ms window
    hop_length: int = 160     # 10 ms hop -> 100 frames per second
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    max_seconds: float = 10.0  # longer clips are cut (centre) to bound memory
    min_seconds: float = 0.25  # shorter clips are zero-padded

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "FeatureConfig":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in fields})

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


def read_audio(source, sample_rate: int = 16000) -> np.ndarray:
    """Any WAV/FLAC/OGG (path, bytes or file object), any rate, mono or
    multi-channel -> float32 mono at `sample_rate`."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, Path):
        source = str(source)
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"cannot read audio: {exc}") from exc
    wave = data.mean(axis=1)  # downmix: stereo emotion cues are not channel-specific
    if rate != sample_rate and wave.size:
        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


def fit_length(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Centre-cut clips longer than max_seconds; zero-pad clips under min_seconds."""
    longest = int(cfg.max_seconds * cfg.sample_rate)
    shortest = int(cfg.min_seconds * cfg.sample_rate)
    if wave.size > longest:
        start = (wave.size - longest) // 2
        wave = wave[start:start + longest]
    if wave.size < shortest:
        wave = np.pad(wave, (0, shortest - wave.size))
    return wave


_MEL_CACHE: dict[FeatureConfig, np.ndarray] = {}


def mel_filters(cfg: FeatureConfig) -> np.ndarray:
    if cfg not in _MEL_CACHE:
        _MEL_CACHE[cfg] = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                              fmin=cfg.fmin, fmax=min(cfg.fmax, cfg.sample_rate / 2)
                                              ).astype(np.float32)
    return _MEL_CACHE[cfg]


def log_mel_torch(waves: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """[batch, samples] float -> [batch, n_mels, frames] log-mel (natural log
    of power + 1e-6). Runs on whatever device `waves` is on."""
    window = torch.hann_window(cfg.n_fft, device=waves.device)
    spec = torch.stft(waves, n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=window,
                      center=True, pad_mode="reflect", return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2
    mel = torch.from_numpy(mel_filters(cfg)).to(waves.device)
    return torch.log(torch.matmul(mel, power) + 1e-6)


def log_mel(wave: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """One mono wave at cfg.sample_rate -> [n_mels, frames] float32 log-mel."""
    wave = fit_length(np.asarray(wave, dtype=np.float32), cfg)
    with torch.no_grad():
        feats = log_mel_torch(torch.from_numpy(wave)[None], cfg)[0]
    return feats.numpy()


def file_log_mel(source, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    return log_mel(read_audio(source, cfg.sample_rate), cfg)
