"""Speech turns x scenes -> the segments people label (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .params import SegmentParams
from .scenes import Scene
from .speakers import SpeechTurn


@dataclass(frozen=True)
class SegmentSpec:
    start: float
    end: float
    scene_index: int
    track: int | None          # FaceTrack.index of the speaking face; None = off-screen
    confidence: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def make_segments(turns: list[SpeechTurn], scenes: list[Scene],
                  params: SegmentParams = SegmentParams()) -> list[SegmentSpec]:
    """One speaker, one scene, `min_s` <= duration <= `max_s`, in time order.

    Turns are cut at scene boundaries, close pieces of the same speaker are
    merged, long ones split evenly, short ones widened into the surrounding
    pause (never across a cut or into a neighbour) or dropped.
    """
    pieces = _merge(_intersect(turns, scenes), params)
    pieces = [p for piece in pieces for p in _split(piece, params.max_s)]
    out: list[SegmentSpec] = []
    for i, piece in enumerate(pieces):
        if piece.duration < params.min_s:
            scene = scenes[piece.scene_index]
            lo = max(scene.start, out[-1].end if out else 0.0)
            hi = min(scene.end, pieces[i + 1].start if i + 1 < len(pieces) else scene.end)
            piece = _widen(piece, lo, hi, params.min_s)
            if piece is None:
                continue
        out.append(piece)
    return out


def _intersect(turns, scenes) -> list[SegmentSpec]:
    pieces = []
    for turn in turns:
        for scene in scenes:
            a, b = max(turn.start, scene.start), min(turn.end, scene.end)
            if b - a > 1e-3:
                pieces.append(SegmentSpec(round(a, 3), round(b, 3), scene.index, turn.track, turn.confidence))
    return sorted(pieces, key=lambda p: p.start)


def _merge(pieces, params) -> list[SegmentSpec]:
    out: list[SegmentSpec] = []
    for p in pieces:
        prev = out[-1] if out else None
        if (prev and prev.scene_index == p.scene_index and prev.track == p.track
                and p.start - prev.end <= params.merge_gap_s
                and (p.end - prev.start <= params.max_s or min(prev.duration, p.duration) < params.min_s)):
            conf = (prev.confidence * prev.duration + p.confidence * p.duration) / (prev.duration + p.duration)
            out[-1] = replace(prev, end=p.end, confidence=round(conf, 4))
        else:
            out.append(p)
    return out


def _split(piece: SegmentSpec, max_s: float) -> list[SegmentSpec]:
    n = math.ceil(piece.duration / max_s - 1e-9)
    if n <= 1:
        return [piece]
    step = piece.duration / n
    bounds = [round(piece.start + k * step, 3) for k in range(n)] + [piece.end]
    return [replace(piece, start=a, end=b) for a, b in zip(bounds, bounds[1:])]


def _widen(piece: SegmentSpec, lo: float, hi: float, min_s: float) -> SegmentSpec | None:
    """Grow symmetrically to min_s inside [lo, hi]; None when there is no room."""
    if hi - lo < min_s:
        return None
    need = min_s - piece.duration
    start = max(lo, piece.start - need / 2)
    end = min(hi, start + min_s)
    start = max(lo, end - min_s)
    return replace(piece, start=round(start, 3), end=round(max(end, start + min_s), 3))
