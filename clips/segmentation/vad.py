"""Voice activity per short frame of a WAV (pure: a file in, arrays out).

silero-vad (default): a small trained network, the weights shipped inside
the `silero-vad` package, loaded here as TorchScript with torch.jit.load
(neither torchaudio nor the package's own loader, which changes torch's
thread count at import). webrtcvad stays selectable; it also fires on music
and breaths. Both read the file in blocks, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import soundfile as sf

SILERO_CHUNK = 512   # samples per silero-vad decision at 16 kHz (32 ms)
_SILERO: dict[str, object] = {}


@dataclass
class FrameActivity:
    frame_s: float
    speech: np.ndarray      # bool per frame
    energy_db: np.ndarray   # RMS dBFS per frame


def _rms_db(frames: np.ndarray) -> np.ndarray:
    """RMS dBFS of int16 samples along the last axis (one frame, or a row per frame)."""
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=-1)) / 32768.0
    return 20 * np.log10(np.maximum(rms, 1e-5))


def _mono(block: np.ndarray) -> np.ndarray:
    """int16 mono samples of a (samples, channels) int16 block."""
    return block.mean(axis=1).astype(np.int16) if block.shape[1] > 1 else block[:, 0]


def _mono_blocks(wav_path, blocksize: int):
    for block in sf.blocks(str(wav_path), blocksize=blocksize, dtype="int16", always_2d=True, fill_value=None):
        yield _mono(block)


def silero_weights() -> Path:
    spec = find_spec("silero_vad")
    if spec is None or not spec.origin:
        raise RuntimeError("the silero-vad package is not installed")
    path = Path(spec.origin).parent / "data" / "silero_vad.jit"
    if not path.is_file():
        raise RuntimeError(f"silero-vad weights missing at {path}")
    return path


def silero_model():
    import torch
    key = str(silero_weights())
    if key not in _SILERO:
        _SILERO[key] = torch.jit.load(key, map_location="cpu").eval()
    return _SILERO[key]


# One 32 ms step is too small a job for silero-vad's network, and its state mostly reflects the
# last second or two: the file is cut into stretches ("lanes") that run side by side as one
# batch, each lane but the first starting WARM_UP_S early (its decisions there are dropped).
# On a minute of speech (7 lanes): 0.3-0.45 s instead of 0.5-0.9 s; ~0.2 % of frames differ
# from one pass (a frame at a few speech offsets, where the probability sits at the release
# threshold; 8 s of warm-up still left half of them).
LANES_MAX = 16
LANE_MIN_S = 8.0
WARM_UP_S = 2.0
_BLOCK_STEPS = 1000  # steps read per lane at a time (16 lanes: ~33 MB of float audio)


def silero_activity(wav_path, threshold: float = 0.5, release: float = 0.35,
                    lanes: int | None = None) -> FrameActivity:
    """Speech where silero's probability rises to `threshold`, until it drops below `release`.
    `lanes`: stretches of the file run side by side (None: as many as its length allows)."""
    info = sf.info(str(wav_path))
    if info.samplerate != 16000:
        raise ValueError(f"{Path(wav_path).name}: silero-vad reads 16 kHz audio here, got {info.samplerate} Hz")
    probs = silero_probabilities(wav_path, lanes)
    speech = np.zeros(len(probs), bool)
    talking = False
    for i, prob in enumerate(probs):
        talking = prob >= (release if talking else threshold)
        speech[i] = talking
    return FrameActivity(SILERO_CHUNK / info.samplerate, speech, _chunk_energy_db(wav_path))


def silero_probabilities(wav_path, lanes: int | None = None) -> np.ndarray:
    """silero-vad's speech probability for every 512-sample step of a 16 kHz WAV."""
    import torch

    steps = sf.info(str(wav_path)).frames // SILERO_CHUNK
    if lanes is None:
        lanes = int(steps * SILERO_CHUNK / 16000 // LANE_MIN_S)
    lanes = max(1, min(LANES_MAX, lanes, steps))
    if not steps:
        return np.zeros(0)
    per_lane = -(-steps // lanes)
    warm = int(round(WARM_UP_S * 16000 / SILERO_CHUNK))
    starts = [max(0, k * per_lane - warm) for k in range(lanes)]
    ends = [min(steps, (k + 1) * per_lane) for k in range(lanes)]
    length = max(e - s for s, e in zip(starts, ends))
    out = np.zeros((lanes, length), np.float32)
    model = silero_model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # even a batch of 32 ms steps is too small to share between threads
    try:
        with torch.inference_mode(), sf.SoundFile(str(wav_path)) as audio:
            model.reset_states()
            for first in range(0, length, _BLOCK_STEPS):
                count = min(_BLOCK_STEPS, length - first)
                block = np.zeros((lanes, count * SILERO_CHUNK), np.float32)
                for k, (s, e) in enumerate(zip(starts, ends)):
                    block[k, :max(0, min(e, s + first + count) - s - first) * SILERO_CHUNK] = _read_steps(
                        audio, s + first, min(e, s + first + count))
                batch = torch.from_numpy(block)
                for j in range(count):
                    out[:, first + j] = model(batch[:, j * SILERO_CHUNK:(j + 1) * SILERO_CHUNK], 16000).view(-1).numpy()
    finally:
        torch.set_num_threads(threads)
    probs = np.zeros(steps, np.float32)
    for k, (s, e) in enumerate(zip(starts, ends)):
        own = k * per_lane  # where this lane's own stretch begins (before it: its warm-up)
        probs[own:e] = out[k, own - s:e - s]
    return probs


def _read_steps(audio: sf.SoundFile, first: int, last: int) -> np.ndarray:
    """Mono float samples of steps [first, last) of an open file."""
    if last <= first:
        return np.zeros(0, np.float32)
    audio.seek(first * SILERO_CHUNK)
    return _mono(audio.read((last - first) * SILERO_CHUNK, dtype="int16", always_2d=True)).astype(np.float32) / 32768.0


def _chunk_energy_db(wav_path) -> np.ndarray:
    """RMS dBFS of every 512-sample step, read in blocks."""
    out = []
    for mono in _mono_blocks(wav_path, SILERO_CHUNK * 2000):
        n = len(mono) // SILERO_CHUNK
        out.append(_rms_db(mono[:n * SILERO_CHUNK].reshape(n, SILERO_CHUNK)))
    return np.concatenate(out) if out else np.zeros(0)


def webrtc_activity(wav_path, aggressiveness: int = 2, frame_ms: int = 30) -> FrameActivity:
    import webrtcvad

    rate = sf.info(str(wav_path)).samplerate
    if rate not in (8000, 16000, 32000, 48000):
        raise ValueError(f"{Path(wav_path).name}: webrtcvad needs 8/16/32/48 kHz audio, got {rate} Hz")
    vad = webrtcvad.Vad(aggressiveness)
    n = int(rate * frame_ms / 1000)
    speech, energy = [], []
    for mono in _mono_blocks(wav_path, n * 2000):
        for k in range(0, len(mono) - n + 1, n):
            frame = mono[k:k + n]
            energy.append(float(_rms_db(frame)))
            speech.append(vad.is_speech(frame.tobytes(), rate))
    return FrameActivity(n / rate, np.array(speech, bool), np.array(energy, float))
