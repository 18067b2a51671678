"""Composites of the GRID talking-head clips (../shared/media/clips) with
per-frame ground truth of who speaks, made with ffmpeg (nothing committed).

- `pair`: two clips side by side, the right one starting later (turns that
  overlap, as in a conversation), played twice: the first time only the left
  voice is heard, the second time only the right one (both mouths move both
  times, so moving lips alone cannot tell who is heard).
- `montage`: clips of different people back to back, each with its own voice,
  trimmed to uneven lengths: known cut times between very similar shots
  (same blue backdrop and framing).

A face "speaks" in a 25 fps frame when its voice is heard then and the clip's
own audio is loud there (within 20 dB of its loudest 50 ms, as in GRID the
words stand well clear of the silence around them).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FPS = 25
RATE = 16000


@dataclass(frozen=True)
class Composite:
    path: Path
    duration: float
    faces: int                    # faces on screen at once
    speaker: np.ndarray           # per 25 fps frame: face slot speaking (0 = left/only, 1 = right), -1 = nobody
    cuts: tuple[float, ...] = ()  # shot changes, s


def _pcm(path: Path, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    cmd = ["ffmpeg", "-v", "error", "-ss", f"{start:.3f}", "-i", str(path)]
    cmd += ["-t", f"{duration:.3f}"] if duration else []
    cmd += ["-vn", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.int16).astype(np.float32)


def loud_frames(path: Path, n_frames: int, duration: float | None = None) -> np.ndarray:
    """Per 25 fps frame of the clip: is its own voice loud there (words, not the silence)."""
    audio = _pcm(path, 0.0, duration)
    win = RATE // 20
    rms = np.array([np.sqrt(np.mean(audio[i:i + win] ** 2)) if len(audio[i:i + win]) else 0.0
                    for i in range(0, max(len(audio), 1), win)])
    loud = rms >= rms.max() * 0.1 if rms.size and rms.max() > 0 else np.zeros(0, bool)
    centres = (np.arange(n_frames) + 0.5) / FPS
    idx = np.minimum((centres / 0.05).astype(int), len(loud) - 1)
    return loud[idx] if len(loud) else np.zeros(n_frames, bool)


def _run(cmd: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *cmd], check=True)


def pair(left: Path, right: Path, out: Path, clip_s: float = 3.0, offset_s: float = 1.5) -> Composite:
    """Left and right side by side, the right one starting `offset_s` later (so the
    two people take turns, as in a conversation, with some overlap); shown twice,
    first with only the left voice heard, then with only the right one."""
    n = int(round(clip_s * FPS))
    k = int(round(offset_s * FPS))
    total = clip_s + offset_s
    graph = (f"[0:v]trim=0:{clip_s},setpts=PTS-STARTPTS,fps={FPS},tpad=stop_mode=clone:stop_duration={offset_s}[l];"
             f"[1:v]trim=0:{clip_s},setpts=PTS-STARTPTS,fps={FPS},tpad=start_mode=clone:start_duration={offset_s}[r];"
             "[l][r]hstack=2,split=2[v1][v2];"
             f"[0:a]aresample={RATE},apad=whole_dur={total},atrim=0:{total}[a1];"
             f"[1:a]aresample={RATE},atrim=0:{clip_s},adelay={int(offset_s * 1000)},apad=whole_dur={total},"
             f"atrim=0:{total}[a2];"
             "[v1][a1][v2][a2]concat=n=2:v=1:a=1[v][a]")
    _run(["-i", str(left), "-i", str(right), "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
          "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
          "-c:a", "aac", "-b:a", "128k", str(out)])
    half = n + k
    speaker = np.full(2 * half, -1)
    speaker[:n][loud_frames(left, n, clip_s)] = 0
    speaker[half + k:half + k + n][loud_frames(right, n, clip_s)] = 1
    return Composite(out, 2 * total, 2, speaker)


def montage(clips: list[Path], lengths: list[float], out: Path) -> Composite:
    inputs, parts = [], []
    for k, (clip, length) in enumerate(zip(clips, lengths)):
        inputs += ["-i", str(clip)]
        parts.append(f"[{k}:v]trim=0:{length},setpts=PTS-STARTPTS,fps={FPS}[v{k}];"
                     f"[{k}:a]aresample={RATE},apad=whole_dur={length},atrim=0:{length},asetpts=PTS-STARTPTS[a{k}];")
    graph = "".join(parts) + "".join(f"[v{k}][a{k}]" for k in range(len(clips))) + \
        f"concat=n={len(clips)}:v=1:a=1[v][a]"
    _run([*inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
          "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(out)])
    frames = [int(round(length * FPS)) for length in lengths]
    speaker = np.concatenate([np.where(loud_frames(c, n, n / FPS), 0, -1) for c, n in zip(clips, frames)])
    cuts = tuple(float(x) / FPS for x in np.cumsum(frames)[:-1])
    return Composite(out, sum(frames) / FPS, 1, speaker, cuts)
