"""Target people: reference-photo encodings and naming tracks by them (pure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def encode_reference_photo(image_path: str | Path) -> list[float] | None:
    """128-d encoding of the largest face in the photo, or None when there is none."""
    import face_recognition
    image = face_recognition.load_image_file(str(image_path))
    # Portraits are usually large: try without upsampling first (4x cheaper).
    boxes = (face_recognition.face_locations(image, number_of_times_to_upsample=0)
             or face_recognition.face_locations(image, number_of_times_to_upsample=1))
    if not boxes:
        return None
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    encoding = face_recognition.face_encodings(image, [largest], num_jitters=3)[0]
    return [round(float(v), 5) for v in encoding]


def name_tracks(track_encodings: list[list[float] | None], people: dict[str, list[list[float]]],
                max_distance: float = 0.55) -> list[str | None]:
    """Per track, the name of the nearest reference person within max_distance (else None)."""
    refs = [(name, np.asarray(enc, float)) for name, encs in people.items() for enc in encs if enc]
    names: list[str | None] = []
    for enc in track_encodings:
        if enc is None or not refs:
            names.append(None)
            continue
        vec = np.asarray(enc, float)
        dist, name = min((float(np.linalg.norm(vec - ref)), name) for name, ref in refs)
        names.append(name if dist <= max_distance else None)
    return names
