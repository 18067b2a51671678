"""Find and crop the face in a still image for evaluation (no Django).

Segments already carry face crops, so prelabelling never needs this; it is
for labelled image folders (evaluate_teacher, bench, tests), where images
range from whole photos to FER2013-style 48 px face crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: Images this small are already face crops at (or below) the model's scale;
#: the HOG detector cannot see faces under ~40 px anyway.
ALREADY_A_CROP_PX = 96
#: Margin added around face_recognition's box on each side, as a fraction of
#: its size: its boxes are tight (brows to lip), FER2013 crops also show the
#: forehead and chin.
MARGIN = 0.2
DETECT_MAX_PX = 1024


def load_rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def largest_face(image: np.ndarray, upsample: int = 1):
    """(top, right, bottom, left) of the largest face, or None."""
    import face_recognition  # heavy import (dlib models), only when needed

    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=upsample, model="hog")
    if not boxes:
        return None
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))


def crop_box(image: np.ndarray, box, margin: float = MARGIN) -> np.ndarray:
    """Square crop around box, widened by margin, clipped to the image."""
    top, right, bottom, left = box
    side = max(bottom - top, right - left) * (1 + 2 * margin)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    h, w = image.shape[:2]
    y0, y1 = int(max(cy - side / 2, 0)), int(min(cy + side / 2, h))
    x0, x1 = int(max(cx - side / 2, 0)), int(min(cx + side / 2, w))
    return image[y0:y1, x0:x1]


def face_or_whole(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(face crop, found) — the whole image when it is already a crop or no
    face is found."""
    if min(image.shape[:2]) <= ALREADY_A_CROP_PX:
        return image, False
    # HOG detection time grows with pixels: look on a <= 1024 px copy.
    scale = min(1.0, DETECT_MAX_PX / max(image.shape[:2]))
    small = image if scale == 1.0 else np.asarray(
        Image.fromarray(image).resize((round(image.shape[1] * scale), round(image.shape[0] * scale))))
    box = largest_face(small)
    if box is None:
        return image, False
    return crop_box(image, [round(v / scale) for v in box]), True


def face_from_file(path: Path) -> tuple[np.ndarray, bool]:
    return face_or_whole(load_rgb(path))
