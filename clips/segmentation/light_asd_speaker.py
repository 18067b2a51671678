"""Light-ASD as the `ActiveSpeakerModel` (pure: video + WAV + tracks in, scores out).

Before any decision, `prepare` runs the network once over every face track
where there is speech: one pass over the video at 25 fps (grey), a 112 px
crop per track and frame, the track's frames sent in chunks of up to
`asd_chunk_s` (one sequence per forward pass, so a track's frames are the
batch the convolutions see). Per-frame probabilities are smoothed over
`asd_smooth_frames`; a window's score for a face is their mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .asd_inputs import VIDEO_FPS, box_path, crop_region, crop_square, face_crop, mfcc_100hz
from .av import iter_frames, probe, proxy_region, proxy_scale, scaled_size
from .cpu import CoreMeter, threads_for_model, torch_threads
from .faces import FaceTrack
from .params import SpeakerParams
from .speakers import ActiveSpeakerModel, AudioActivity

_MODELS: dict[str, object] = {}  # weights path -> loaded network (a worker loads it once)


def light_asd_network(weights: str | Path | None = None):
    from .light_asd import WEIGHTS, load_light_asd
    key = str(weights or WEIGHTS)
    if key not in _MODELS:
        _MODELS[key] = load_light_asd(weights)
    return _MODELS[key]


@dataclass
class _Pending:
    """Frames of one track waiting for the network."""
    frames: list[int] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)


def wanted_frames(track: FaceTrack, regions: list[tuple[float, float]], margin_s: float = 0.5) -> np.ndarray:
    """25 fps frame numbers where the face is visible and someone may be speaking."""
    spans = [(max(a - margin_s, track.start), min(b + margin_s, track.end)) for a, b in regions]
    frames = [np.arange(int(np.ceil(a * VIDEO_FPS)), int(np.floor(b * VIDEO_FPS)) + 1) for a, b in spans if b > a]
    return np.unique(np.concatenate(frames)) if frames else np.zeros(0, int)


def score_tracks(video_path: str | Path, wav_path: str | Path, tracks: list[FaceTrack],
                 regions: list[tuple[float, float]], params: SpeakerParams = SpeakerParams(),
                 network=None, proxy: str | Path | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """track index -> (frame times, smoothed speaking probability per frame); the frames
    are read from `proxy` (the video downscaled) when given."""
    import torch

    free = CoreMeter()  # how busy the machine is, measured while the inputs are prepared
    wanted = {tr.index: wanted_frames(tr, regions) for tr in tracks if len(tr.boxes) >= 2}
    wanted = {k: v for k, v in wanted.items() if len(v)}
    if not wanted:
        return {}
    network = network or light_asd_network(params.asd_weights or None)
    from .light_asd import use_bfloat16  # torch: only where a model runs
    bfloat16 = use_bfloat16(params.asd_precision)
    mfcc = mfcc_100hz(wav_path)
    info = probe(video_path)
    scale = scaled_size(info.width, info.height, params.asd_frame_width)[0] / info.width  # source -> decoded px
    by_index = {tr.index: tr for tr in tracks}
    source = {k: box_path(by_index[k].boxes, frames / VIDEO_FPS) for k, frames in wanted.items()}
    # Only the part of the frame the crops read is decoded (a talking head: a fraction of it),
    # cut from the proxy's pixels when there is one (never finer than those) and it has
    # enough of them on every face.
    p = proxy_scale(info, proxy)
    if proxy and not proxy_detailed_enough([half for _, _, half in source.values()], p, scale):
        proxy, p = None, 1.0
    region = crop_region(source.values(), info.width, info.height)
    read = proxy_region(region, p, info.width, info.height) if proxy else region
    x, y, w, h = (v / p for v in read)  # in source pixels
    scale = min(scale, p)
    size = (max(2, round(w * scale) & ~1), max(2, round(h * scale) & ~1))
    sx, sy = size[0] / w, size[1] / h
    paths = {k: {int(f): ((cx - x) * sx, (cy - y) * sy, half * sx) for f, cx, cy, half in zip(wanted[k], *source[k])}
             for k in wanted}
    chunk = max(1, int(params.asd_chunk_s * VIDEO_FPS))
    pending = {k: _Pending() for k in wanted}
    raw: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in wanted}

    def flush(k: int):
        item = pending[k]
        if item.frames:
            raw[k].append(_run(network, item.frames, item.crops, mfcc, bfloat16))
        pending[k] = _Pending()

    last = max(int(v[-1]) for v in wanted.values())
    with torch.inference_mode(), torch_threads(threads_for_model(params.asd_threads, free)):
        for i, (_t, gray) in enumerate(iter_frames(proxy or video_path, VIDEO_FPS, size, gray=True, crop=read)):
            for k, path in paths.items():
                if i not in path:
                    continue
                item = pending[k]
                if item.frames and (item.frames[-1] != i - 1 or len(item.frames) >= chunk):
                    flush(k)  # a gap in the speech, or the chunk is full
                    item = pending[k]
                item.frames.append(i)
                item.crops.append(face_crop(gray, *path[i]))
            if i >= last:
                break
        for k in pending:
            flush(k)
    out = {}
    for k, parts in raw.items():
        if parts:
            frames = np.concatenate([p[0] for p in parts])
            probs = np.concatenate([p[1] for p in parts])
            out[k] = (frames / VIDEO_FPS, _smooth(frames, probs, params.asd_smooth_frames))
    return out


def proxy_detailed_enough(halves: list[np.ndarray], proxy_scale: float, source_scale: float,
                           size: int = 112) -> bool:
    """Whether the proxy (proxy_scale of the source's pixels) serves Light-ASD about as well
    as the source decoded at source_scale: it is no coarser, or the square each track's
    typical face is cropped from (half-sizes along its path, source pixels) still has at
    least half the model's input size there (upscaled at most 2x; a 720p talking head's
    160 px face and up). Smaller faces keep the source's detail."""
    if proxy_scale >= source_scale:
        return True
    return all(float(np.median(crop_square(0.0, 0.0, h)[2])) * proxy_scale >= size / 2 for h in halves if len(h))


def _run(network, frames: list[int], crops: list[np.ndarray], mfcc: np.ndarray,
         bfloat16: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities for consecutive frames (the last MFCC frame is repeated where the
    audio ends a little before the picture)."""
    import torch

    first, n = frames[0], len(frames)
    audio = mfcc[4 * first:4 * (first + n)]
    if len(audio) < 4 * n:
        tail = audio[-1:] if len(audio) else np.full((1, 13), mfcc[-1] if len(mfcc) else 0.0, np.float32)
        audio = np.concatenate([audio, np.repeat(tail, 4 * n - len(audio), axis=0)])
    faces = torch.from_numpy(np.stack(crops)).float().unsqueeze(0)
    probs = network(faces, torch.from_numpy(np.ascontiguousarray(audio)).unsqueeze(0), bfloat16=bfloat16)[0].numpy()
    return np.asarray(frames), probs.astype(float)


def _smooth(frames: np.ndarray, probs: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean over `width` frames, never across a gap between frames."""
    if width <= 1 or len(probs) < 2:
        return probs
    out = np.empty_like(probs)
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    for a, b in zip([0, *breaks], [*breaks, len(frames)]):
        run = probs[a:b]
        kernel = np.ones(min(width, len(run)))
        out[a:b] = np.convolve(run, kernel, "same") / np.convolve(np.ones(len(run)), kernel, "same")
    return out


class LightASDSpeaker(ActiveSpeakerModel):
    """Speaking probability of each face from Light-ASD (audio-visual, trained)."""

    name = "light-asd"
    reads_pixels = True

    def __init__(self, params: SpeakerParams = SpeakerParams()):
        self.params = params
        self.threshold = params.asd_threshold
        self.window_s = params.asd_window_s
        self._scores: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def prepare(self, tracks: list[FaceTrack], audio: AudioActivity, regions: list[tuple[float, float]]) -> None:
        if not tracks or not regions:
            self._scores = {}
            return
        if not audio.video_path:
            raise ValueError("Light-ASD needs the video as well as the audio (AudioActivity.video_path)")
        self._scores = score_tracks(audio.video_path, audio.wav_path, tracks, regions, self.params,
                                    proxy=audio.proxy_path)

    def speaking_scores(self, start, end, candidates, audio):
        scores = []
        for track in candidates:
            times, probs = self._scores.get(track.index, (np.zeros(0), np.zeros(0)))
            inside = (times >= start - 1e-6) & (times <= end + 1e-6)
            scores.append(round(float(probs[inside].mean()), 4) if inside.any() else 0.0)
        return scores
