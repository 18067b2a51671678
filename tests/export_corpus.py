"""A small labelled corpus in the database and storage, for the export tests.

Generated media only: tiny sine WAVs (one deliberately 22.05 kHz stereo, to
check the export hands out 16 kHz mono anyway) and Pillow JPEG crops.
"""

import io
from dataclasses import dataclass, field

import numpy as np
import soundfile
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from annotation.models import Label, ReviewedLabel
from clips.models import FaceTrack, Person, Scene, Segment, Video
from inference.models import ModelVersion, Prelabel
from labelstudio_emo.emotions import EMOTIONS


def wav_bytes(seconds=0.25, rate=16000, channels=1, freq=220.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * freq * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def jpeg_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (112, 112), (shade % 256, 80, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass
class Corpus:
    videos: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    raters: list = field(default_factory=list)
    teacher_old: ModelVersion | None = None
    teacher_active: ModelVersion | None = None
    prelabel_only: Segment | None = None
    single_label: list = field(default_factory=list)
    resampled: Segment | None = None


def probs_for(category: str) -> list[float]:
    p = [0.05] * len(EMOTIONS)
    p[EMOTIONS.index(category)] = 0.7
    return p


def build_corpus(make_annotator) -> Corpus:
    """4 videos, ~26 segments; speakers: named person across two videos, per-video face
    clusters, off-screen speech. Labels from 3 raters with ties, a review and flags."""
    corpus = Corpus()
    corpus.raters = [make_annotator(f"rater{i}") for i in range(3)]
    alice = Person.objects.create(name="Alice")
    corpus.teacher_old = ModelVersion.objects.create(kind="teacher", name="fer", version=1, arch="cnn",
                                                     weights="x", sha256="0" * 64)
    corpus.teacher_active = ModelVersion.objects.create(kind="teacher", name="fer", version=2, arch="cnn",
                                                        weights="y", sha256="1" * 64, is_active=True)
    rng = np.random.default_rng(7)
    n = 0
    for v in range(4):
        video = Video.objects.create(extractor="youtube", external_id=f"vid{v}", title=f"Talk {v}",
                                     channel=f"Channel {v % 2}", license="Creative Commons Attribution license (reuse allowed)" if v != 3 else "",
                                     webpage_url=f"https://www.youtube.com/watch?v=vid{v}", status="ready")
        corpus.videos.append(video)
        scene = Scene.objects.create(video=video, index=0, start=0, end=100)
        tracks = []
        if v in (0, 1):
            tracks = [FaceTrack.objects.create(video=video, scene=scene, identity=i, start=0, end=100) for i in range(2)]
        elif v == 2:
            tracks = [FaceTrack.objects.create(video=video, scene=scene, identity=0, person=alice, start=0, end=100)]
        for s in range(7 if v < 3 else 5):
            track = tracks[s % len(tracks)] if tracks and not (v == 2 and s == 6) else None
            if v == 1 and s == 0:
                track = None  # off-screen speech in a video with known faces
            rate, channels = (22050, 2) if (v, s) == (0, 1) else (16000, 1)
            segment = Segment(video=video, scene=scene, face_track=track, start=s * 3.0, end=s * 3.0 + 2.5)
            segment.audio.save(f"v{v}_s{s}.wav", ContentFile(wav_bytes(rate=rate, channels=channels,
                                                                       freq=200 + 20 * n)), save=False)
            if track is not None:
                crops = []
                for k in range(2):
                    crops.append(default_storage.save(f"faces/v{v}/s{s}_{k}.jpg", ContentFile(jpeg_bytes(n * 10 + k))))
                segment.face_crops = crops
            segment.save()
            if (v, s) == (0, 1):
                corpus.resampled = segment
            corpus.segments.append(segment)
            truth = EMOTIONS[n % len(EMOTIONS)]
            Prelabel.objects.create(segment=segment, model_version=corpus.teacher_old, probs=probs_for("neutral"),
                                    category="neutral", confidence=0.7, valence=0.0, arousal=0.0, entropy=1.0)
            Prelabel.objects.create(segment=segment, model_version=corpus.teacher_active, probs=probs_for(truth),
                                    category=truth, confidence=0.7, valence=0.1, arousal=0.2, entropy=1.0)
            n += 1
            if (v, s) == (3, 4):
                corpus.prelabel_only = segment
                continue  # no human label
            raters = corpus.raters if s % 4 else corpus.raters[:1]
            if len(raters) == 1:
                corpus.single_label.append(segment)
            for r, rater in enumerate(raters):
                category = truth if (r < 2 or s % 3) else EMOTIONS[(n + 3) % len(EMOTIONS)]
                if (v, s) == (2, 1):  # a three-way tie
                    category = EMOTIONS[(r + 2) % len(EMOTIONS)]
                flags = ["bad_audio"] if (v, s) == (3, 2) and r < 2 else []
                Label.objects.create(segment=segment, annotator=rater, category=category,
                                     valence=float(np.round(rng.uniform(-1, 1), 2)),
                                     arousal=float(np.round(rng.uniform(-1, 1), 2)), flags=flags)
    ReviewedLabel.objects.create(segment=corpus.segments[2], category="surprise", valence=0.5, arousal=0.6)
    return corpus
