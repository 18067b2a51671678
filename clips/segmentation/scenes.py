"""Shots of a video with PySceneDetect (pure: a file in, [Scene] out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clips.media import MediaError

from .av import iter_frames, probe, scaled_size
from .params import SceneParams


@dataclass(frozen=True)
class Scene:
    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def detect_scenes(video_path: str | Path, params: SceneParams = SceneParams(),
                  proxy: str | Path | None = None) -> list[Scene]:
    """Scenes covering the whole media, in order.

    One endless shot gives one scene; audio-only media gives one scene, too.
    ffmpeg decodes every frame already downscaled to `params.analysis_width`
    (in its own process, memory bounded) and PySceneDetect's detector compares
    them as they stream by. With `proxy` (a path), the same decode writes the
    video's proxy there (no wider than params.proxy_width; see av.proxy_args),
    which the later stages read instead of decoding the source again; no file
    is left there if the pass fails.
    """
    info = probe(video_path)
    if not info.has_video:
        return _whole(info.duration)

    from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

    # The container's frame rate (a broken header's 1000 fps would mean 40x the frames).
    fps = info.fps if 1.0 <= info.fps <= 120.0 else 25.0
    min_len = max(1, int(round(params.min_scene_s * fps)))
    if params.detector == "content":
        detector = ContentDetector(threshold=params.content_threshold, min_scene_len=min_len)
    elif params.detector == "adaptive":
        detector = AdaptiveDetector(adaptive_threshold=params.adaptive_threshold, min_scene_len=min_len,
                                    min_content_val=params.min_content_val)
    else:
        raise ValueError(f"unknown scene detector {params.detector!r} (adaptive or content)")
    # Downscaled by a whole factor, as PySceneDetect's own decoder would (its thresholds suit that).
    factor = max(1, info.width // max(1, params.analysis_width))
    size = (max(1, round(info.width / factor)), max(1, round(info.height / factor)))
    found, position = [], None
    tee = (Path(proxy), scaled_size(info.width, info.height, params.proxy_width), info) if proxy else None
    try:
        for i, (_t, frame) in enumerate(iter_frames(video_path, fps, size, pix_fmt="bgr24", proxy=tee)):
            position = FrameTimecode(i, fps)
            found += detector.process_frame(position, frame)
    except MediaError:
        if not tee:
            raise
    if tee and not tee[0].exists():
        # ffmpeg stopped on the proxy (it is removed then), and with it the frames seen here:
        # the scenes come from a pass of their own (which says why if the video is at fault),
        # the later stages decode the source.
        return detect_scenes(video_path, params)
    if position is None:
        return _whole(info.duration)
    found += detector.post_process(position)
    # Cut times are where each new shot begins.
    cuts = sorted({_seconds(cut) for cut in found})
    end = max(info.duration, (position.frame_num + 1) / fps)
    bounds = [0.0] + [c for c in cuts if 0.0 < c < end] + [end]
    scenes = [Scene(i, round(a, 3), round(b, 3)) for i, (a, b) in enumerate(zip(bounds, bounds[1:])) if b > a]
    return scenes or _whole(end)


def _seconds(timecode) -> float:
    """FrameTimecode -> s (`seconds` in PySceneDetect 0.7, `get_seconds()` in 0.6)."""
    value = getattr(timecode, "seconds", None)
    return float(value) if value is not None else float(timecode.get_seconds())


def _whole(duration: float) -> list[Scene]:
    return [Scene(0, 0.0, round(max(duration, 0.001), 3))]


def split_scenes(scenes: list[Scene], cuts: list[float], min_scene_s: float = 0.0) -> list[Scene]:
    """The scenes with extra cuts (e.g. identity cuts from face tracking), renumbered;
    a cut closer than `min_scene_s` to an existing boundary is ignored."""
    if not scenes:
        return []
    bounds = [s.start for s in scenes] + [scenes[-1].end]
    first, last = bounds[0], bounds[-1]
    for cut in sorted(cuts):
        if first < cut < last and all(abs(cut - b) >= max(min_scene_s, 1e-3) for b in bounds):
            bounds.append(cut)
    bounds.sort()
    return [Scene(i, round(a, 3), round(b, 3)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
