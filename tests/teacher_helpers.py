"""Real faces for teacher tests: scikit-image's astronaut (Eileen Collins, smiling)."""

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    from skimage import data
    return data.astronaut()


@functools.lru_cache(maxsize=1)
def astronaut_face() -> np.ndarray:
    """Her face, found with face_recognition and cropped as for evaluation."""
    from inference.teachers import faces
    image = astronaut()
    box = faces.largest_face(image)
    assert box is not None, "face_recognition found no face in skimage.data.astronaut()"
    return faces.crop_box(image, box)


def jpeg_bytes(image: np.ndarray, size: int | None = None) -> bytes:
    import io

    from PIL import Image
    im = Image.fromarray(image)
    if size:
        im = im.resize((size, size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
