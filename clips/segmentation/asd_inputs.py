"""What Light-ASD reads, made the way it was trained (pure: files/arrays in, arrays out).

- Audio: 13 MFCCs every 10 ms (25 ms windows) of the 16 kHz track, computed
  with python_speech_features on int16-scaled samples, as the authors did.
- Video: per face and per 25 fps frame, a grey 112 px crop. The authors crop
  a square around the detected box (half-size s, centre cx, cy) from cy - s to
  cy + 1.8 s and cx +- 1.4 s, resize it to 224 px and keep the central 112 px;
  that central part is the square of side 1.4 s centred at (cx, cy + 0.4 s),
  which `face_crop` takes in one affine warp (grey 110 beyond the frame).
"""

from __future__ import annotations

import numpy as np
import soundfile as sf

from .av import even_region

MFCC_RATE = 100        # MFCC frames per second
VIDEO_FPS = 25         # video frames per second the model was trained on
CROP_SCALE = 0.4       # the authors' margin around the face box
PAD_GREY = 110
PRE_EMPHASIS = 0.97    # python_speech_features' default


def mfcc_100hz(wav_path, block_s: float = 60.0) -> np.ndarray:
    """(n, 13) MFCCs of the whole file, read in blocks (memory bounded for hours of audio)."""
    from python_speech_features import mfcc

    info = sf.info(str(wav_path))
    rate = info.samplerate
    if rate != 16000:
        raise ValueError(f"Light-ASD needs 16 kHz audio, got {rate} Hz")
    hop, win = rate // MFCC_RATE, int(0.025 * rate)
    block = int(block_s * MFCC_RATE) * hop
    out = []
    for start in range(0, max(info.frames, 1), block):
        # A block plus the tail its last windows need (frames line up across blocks), and the
        # sample before it for the pre-emphasis filter, applied here as the package would.
        first = max(0, start - 1)
        data, _ = sf.read(str(wav_path), start=first, stop=min(info.frames, start + block + win - hop),
                          dtype="int16", always_2d=True)
        samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0].astype(np.float64)
        emphasised = samples[1:] - PRE_EMPHASIS * samples[:-1]
        if start == 0:
            emphasised = np.concatenate([samples[:1], emphasised])
        if len(emphasised) < win:
            break
        feats = mfcc(emphasised, rate, winlen=0.025, winstep=0.010, numcep=13, preemph=0.0)
        out.append(feats[:block // hop])
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 13), np.float32)


def crop_square(cx, cy, half):
    """(left, top, side) of the square a face's input is taken from (arrays work too)."""
    side = 2 * half * (1 + CROP_SCALE) / 2                 # central half of the 2.8 s square
    return cx - side / 2, cy - half + half * (1 + CROP_SCALE) / 2, side


def crop_region(paths, width: int, height: int, margin: int = 8) -> tuple[int, int, int, int]:
    """(x, y, w, h), even, of the part of a width x height frame that the face crops
    along `paths` [(cx, cy, half) arrays] read, plus a margin: decoding only that
    part costs less and gives the same crops (beyond the frame they stay grey)."""
    boxes = [crop_square(np.asarray(cx), np.asarray(cy), np.asarray(half)) for cx, cy, half in paths]
    x0 = min(float(np.min(left)) for left, _top, _side in boxes) - margin
    y0 = min(float(np.min(top)) for _left, top, _side in boxes) - margin
    x1 = max(float(np.max(left + side)) for left, _top, side in boxes) + margin
    y1 = max(float(np.max(top + side)) for _left, top, side in boxes) + margin
    return even_region(x0, y0, x1, y1, width, height)


def face_crop(gray: np.ndarray, cx: float, cy: float, half: float, size: int = 112) -> np.ndarray:
    """The 112 px grey input for a face of half-size `half` centred at (cx, cy)."""
    import cv2

    x0, y0, side = crop_square(cx, cy, half)
    scale = size / side
    matrix = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]], np.float32)
    return cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_GREY)


def box_path(boxes: list[tuple[float, int, int, int, int]], times: np.ndarray,
             smooth: int = 13) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre x, centre y and half-size of a track's face at `times` (s): the sampled
    detections interpolated to every frame, then median-filtered over `smooth`
    frames as the authors smooth their per-frame detections."""
    from scipy.signal import medfilt

    rows = np.asarray([b[:5] for b in boxes], float)
    t, top, right, bottom, left = rows.T
    cx = np.interp(times, t, (left + right) / 2)
    cy = np.interp(times, t, (top + bottom) / 2)
    half = np.interp(times, t, np.maximum(right - left, bottom - top) / 2)
    if len(times) >= 3:
        k = min(smooth, len(times) - (1 - len(times) % 2))  # odd, no longer than the series
        cx, cy, half = (medfilt(v, k) for v in (cx, cy, half))
    return cx, cy, half
