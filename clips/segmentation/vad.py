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


def _rms_db(frame: np.ndarray) -> float:
    rms = np.sqrt(np.mean(frame.astype(np.float64) ** 2)) / 32768.0
    return 20 * np.log10(max(rms, 1e-5))


def _mono_blocks(wav_path, blocksize: int):
    for block in sf.blocks(str(wav_path), blocksize=blocksize, dtype="int16", always_2d=True, fill_value=None):
        yield block.mean(axis=1).astype(np.int16) if block.shape[1] > 1 else block[:, 0]


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


def silero_activity(wav_path, threshold: float = 0.5, release: float = 0.35) -> FrameActivity:
    """Speech where silero's probability rises to `threshold`, until it drops below `release`."""
    import torch

    rate = sf.info(str(wav_path)).samplerate
    if rate != 16000:
        raise ValueError(f"{Path(wav_path).name}: silero-vad reads 16 kHz audio here, got {rate} Hz")
    model = silero_model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32 ms step is far too small to share between threads
    speech, energy = [], []
    talking = False
    try:
        with torch.inference_mode():
            model.reset_states()
            for mono in _mono_blocks(wav_path, SILERO_CHUNK * 2000):
                for k in range(0, len(mono) - SILERO_CHUNK + 1, SILERO_CHUNK):
                    frame = mono[k:k + SILERO_CHUNK]
                    prob = float(model(torch.from_numpy(frame.astype(np.float32) / 32768.0).unsqueeze(0), rate))
                    talking = prob >= (release if talking else threshold)
                    speech.append(talking)
                    energy.append(_rms_db(frame))
    finally:
        torch.set_num_threads(threads)
    return FrameActivity(SILERO_CHUNK / rate, np.array(speech, bool), np.array(energy, float))


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
            energy.append(_rms_db(frame))
            speech.append(vad.is_speech(frame.tobytes(), rate))
    return FrameActivity(n / rate, np.array(speech, bool), np.array(energy, float))
