"""Test data for the annotation workspace: real media made with ffmpeg/PIL,
a ready video, segments, a teacher with prelabels."""

import math
import subprocess
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from labelstudio_emo.emotions import EMOTIONS


def make_test_video(path: Path, seconds: float = 12.0, size: str = "320x180") -> Path:
    """A short H.264/AAC MP4 (moving test pattern + a tone) the browser can play."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=15:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "15",
         "-c:a", "aac", "-b:a", "48k", "-shortest", "-movflags", "+faststart", str(path)],
        check=True, capture_output=True)
    return path


def make_face_crop(name: str, shade: int = 128) -> str:
    from io import BytesIO

    from PIL import Image
    buffer = BytesIO()
    Image.new("RGB", (112, 112), (shade, 100, 255 - shade)).save(buffer, "JPEG")
    return default_storage.save(name, ContentFile(buffer.getvalue()))


def make_video(status="ready", video_file: Path | None = None, **fields):
    from clips.models import Video
    n = Video.objects.count() + 1
    fields = {"title": f"Test video {n}", "width": 320, "height": 180, "duration": 12.0, **fields}
    video = Video.objects.create(extractor="local", external_id=f"test-{n}", status=status, **fields)
    if video_file is not None:
        with open(video_file, "rb") as fh:
            video.file.save(f"v{video.pk}.mp4", ContentFile(fh.read()), save=True)
    return video


def teacher(name="fer-test", active=True):
    from inference.models import ModelVersion
    mv, _ = ModelVersion.objects.get_or_create(
        kind="teacher", name=name, version=1,
        defaults={"arch": "test", "weights": "/dev/null", "sha256": "0" * 64, "is_active": active})
    return mv


def probs_for(category: str, confidence: float) -> list[float]:
    rest = (1 - confidence) / 6
    return [confidence if c == category else rest for c in EMOTIONS]


def entropy(probs) -> float:
    return -sum(p * math.log(p) for p in probs if p > 0)


def add_prelabel(segment, category="happy", confidence=0.7, model=None, valence=0.5, arousal=0.3):
    from inference.models import Prelabel
    probs = probs_for(category, confidence)
    return Prelabel.objects.create(segment=segment, model_version=model or teacher(), probs=probs,
                                   category=category, confidence=confidence, valence=valence,
                                   arousal=arousal, entropy=entropy(probs))


def make_segments(video, n: int, length: float = 2.0, crops: bool = False, box=(40, 200, 140, 120)):
    from clips.models import Segment
    out = []
    for i in range(n):
        start = (i * length) % max(length, (video.duration or 12.0) - length)
        face_crops = [make_face_crop(f"faces/v{video.pk}/s{i}_{j}.jpg", 60 * j) for j in range(2)] if crops else []
        out.append(Segment.objects.create(video=video, start=start, end=start + length,
                                          box=list(box) if box else None, face_crops=face_crops))
    return out


def label_payload(assignment_id, category="happy", valence=0.5, arousal=0.2, **extra):
    return {"assignment": assignment_id, "category": category, "valence": valence, "arousal": arousal,
            "flags": [], "seconds_spent": 3.0, **extra}
