"""MediaPipe BlazeFace full-range face detector (pure: RGB arrays in, boxes out).

Finds faces from about 20 px, where dlib's HOG needs about 80 px, and runs
faster. The model file (`face_detection_full_range_sparse.tflite`,
Apache-2.0) ships inside the mediapipe 0.10.21 wheel; scripts/bootstrap.sh
takes it from there at set-up (sha256 checked). Nothing is fetched at run
time. It runs on mediapipe's Tasks FaceDetector (XNNPACK on the CPU).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# Beside the installed packages (the virtualenv), where scripts/bootstrap.sh puts it.
MODEL = Path(sys.prefix) / "share" / "labelstudio_emo" / "face_detection_full_range_sparse.tflite"
MODEL_SHA256 = "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"

Box = tuple[int, int, int, int]  # top, right, bottom, left


class BlazeFace:
    """detector(rgb) -> [(top, right, bottom, left, score)] in the image's pixels."""

    def __init__(self, min_confidence: float = 0.5, model_path: str | Path | None = None):
        path = Path(model_path or MODEL)
        if not path.is_file():
            raise FileNotFoundError(f"BlazeFace model missing at {path}: run ./run.sh (scripts/bootstrap.sh) once "
                                    "to take it from the mediapipe wheel, or choose the 'hog' face detector")
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                             running_mode=vision.RunningMode.IMAGE,
                                             min_detection_confidence=min_confidence)
        self._detector = vision.FaceDetector.create_from_options(options)

    def __call__(self, rgb: np.ndarray) -> list[tuple[int, int, int, int, float]]:
        import mediapipe as mp

        h, w = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        out = []
        for det in self._detector.detect(image).detections:
            b = det.bounding_box
            left, top = max(0, b.origin_x), max(0, b.origin_y)
            right, bottom = min(w, b.origin_x + b.width), min(h, b.origin_y + b.height)
            if right - left >= 4 and bottom - top >= 4:
                out.append((top, right, bottom, left, float(det.categories[0].score)))
        return out

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
