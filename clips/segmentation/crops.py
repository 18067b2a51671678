"""Aligned face crops (pure: a video + wanted (time, box) in, JPEG bytes out).

Crops are 112 px squares, rotated so the eyes are level and scaled so the eye
distance is constant, the way face-expression models expect their input.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .av import iter_frames, probe, proxy_scale, scaled_size
from .faces import FaceTrack, eye_centres, landmarks_array

EYE_Y = 0.36          # eye line at 36 % of the crop height (chin stays in)
EYE_DISTANCE = 0.32   # eye distance as a fraction of the crop width
EYES_PER_BOX = 0.35   # eye distance / detected box width, at least (0.35-0.40 on the reference photos)


@dataclass(frozen=True)
class CropRequest:
    key: Hashable                       # whose crop this is (e.g. the segment's index)
    t: float
    box: tuple[int, int, int, int]      # top, right, bottom, left in source pixels


def pick_crop_times(track: FaceTrack, start: float, end: float, limit: int = 8) -> list[tuple[float, tuple]]:
    """Up to `limit` detections of the track in [start, end], evenly spread."""
    rows = track.boxes_between(start, end)
    if len(rows) > limit:
        picks = np.linspace(0, len(rows) - 1, limit).round().astype(int)
        rows = [rows[i] for i in sorted(set(picks))]
    return [(r[0], tuple(r[1:])) for r in rows]


def align_face(frame: np.ndarray, box, size: int = 112, predictor=None) -> np.ndarray:
    """RGB crop of `size` px with level eyes; falls back to the box when landmarks fail."""
    import dlib
    if predictor is None:
        from face_recognition import api
        predictor = api.pose_predictor_68_point
    top, right, bottom, left = (int(v) for v in box)
    pts = landmarks_array(predictor(frame, dlib.rectangle(left, top, right, bottom)))
    left_eye, right_eye = eye_centres(pts)
    dist = float(np.linalg.norm(right_eye - left_eye))
    if dist < 2:
        crop = frame[max(0, top):max(top + 1, bottom), max(0, left):max(left + 1, right)]
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    dy, dx = right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]
    angle = float(np.degrees(np.arctan2(dy, dx)))
    centre = (left_eye + right_eye) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, EYE_DISTANCE * size / dist)
    matrix[0, 2] += size / 2 - centre[0]
    matrix[1, 2] += EYE_Y * size - centre[1]
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def make_face_crops(video_path: str | Path, requests: list[CropRequest], sample_fps: float,
                    sink: Callable[[Hashable, int, bytes], None], size: int = 112, quality: int = 92,
                    progress: Callable[[float], None] | None = None, proxy: str | Path | None = None) -> int:
    """Each wanted frame's crops go to sink(key, n, jpeg) as soon as they are made, in
    passes at the face-sampling rate. Returns the crop count.

    With `proxy` (the video downscaled), a key whose face is still shrunk by the
    crop there (eye distance at least the crop's) is cropped from the proxy; only
    smaller faces need a pass over the source, and only when there are any."""
    if not requests:
        return 0
    info = probe(video_path)
    scale = proxy_scale(info, proxy)
    # Decided per key, so that each key's crops stay numbered in time order.
    small = {r.key for r in requests
             if not proxy or (scale < 1 and EYES_PER_BOX * _box_width(r.box) * scale < EYE_DISTANCE * size)}
    from_proxy = [r for r in requests if r.key not in small]
    from_source = [r for r in requests if r.key in small]
    counts: dict[Hashable, int] = {}
    made = 0
    passes = [(proxy, scale, from_proxy), (video_path, 1.0, from_source)]
    total = sum(1 for _, _, reqs in passes if reqs)
    for n, (path, factor, reqs) in enumerate(p for p in passes if p[2]):
        step = (lambda f, n=n: progress((n + f) / total)) if progress else None
        for req, frame, box in _wanted_frames(path, factor, reqs, sample_fps, step):
            crop = align_face(frame, box, size)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                k = counts.get(req.key, 0)
                sink(req.key, k, jpeg.tobytes())
                counts[req.key] = k + 1
                made += 1
    return made


def _box_width(box) -> int:
    return int(box[1]) - int(box[3])


def _wanted_frames(path, scale: float, requests: list[CropRequest], sample_fps: float, progress):
    """(request, RGB frame, box in that frame's pixels) in time order: one pass over
    `path` (`scale` of the source's size), stopping after the last wanted frame."""
    info = probe(path)
    wanted: dict[int, list[CropRequest]] = {}
    for req in requests:
        wanted.setdefault(int(round(req.t * sample_fps)), []).append(req)
    last = max(wanted)
    for i, (_t, frame) in enumerate(iter_frames(path, sample_fps, scaled_size(info.width, info.height, None))):
        for req in wanted.get(i, []):
            yield req, frame, tuple(int(round(v * scale)) for v in req.box)
        if progress and i % 25 == 0:
            progress(min(1.0, i / max(last, 1)))
        if i >= last:
            break  # nothing wanted after this frame
