"""Encoder features per segment, cached under MEDIA_ROOT (the student's services side).

features/<encoder name>-<checksum>/<video>/<segment>-<tag>.npy holds one
segment's [frames, dim] float16 frames. The folder names the encoder and its
weights, so a changed encoder misses the whole cache (and re-encodes); the
tag hashes the segment's audio file and times, so a re-cut segment misses
too. Retraining reads these files, not the audio.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clips.models import Segment

from .encoders import DEFAULT_ENCODER, DEFAULT_MODE, LOG_MEL, EncoderError, EncoderMissing, SpeechEncoder, load_encoder
from .data import encoder_featurizer
from .features import read_audio

log = logging.getLogger(__name__)

CACHE_ROOT = "features"


def encoder_spec() -> str:
    return getattr(settings, "STUDENT_ENCODER", DEFAULT_ENCODER) or DEFAULT_ENCODER


def current_encoder(spec: str | None = None) -> SpeechEncoder | None:
    """The configured speech encoder; None means the log-mel network (asked for
    with STUDENT_ENCODER=log-mel, or the default encoder is not installed).
    A configured encoder that is present but broken raises EncoderError."""
    spec = spec or encoder_spec()
    if spec == LOG_MEL:
        return None
    try:
        return load_encoder(spec, threads=getattr(settings, "STUDENT_ENCODER_THREADS", 1),
                            mode=getattr(settings, "STUDENT_ENCODER_MODE", DEFAULT_MODE) or DEFAULT_MODE)
    except EncoderMissing as exc:
        if spec != DEFAULT_ENCODER:
            raise
        log.warning("%s; the student falls back to the log-mel network", exc)
        return None


# ------------------------------------------------------------------- cache
def _tag(segment: Segment) -> str:
    text = f"{segment.audio.name}|{segment.start:.3f}|{segment.end:.3f}"
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def cache_name(encoder: SpeechEncoder, segment: Segment) -> str:
    return f"{CACHE_ROOT}/{encoder.cache_key}/{segment.video_id}/{segment.pk}-{_tag(segment)}.npy"


def read_cached(encoder: SpeechEncoder, segment: Segment) -> np.ndarray | None:
    name = cache_name(encoder, segment)
    try:
        with default_storage.open(name, "rb") as fh:
            frames = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return frames if frames.ndim == 2 and frames.shape[1] == encoder.dim else None


def write_cached(encoder: SpeechEncoder, segment: Segment, frames: np.ndarray) -> str:
    name = cache_name(encoder, segment)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(frames, dtype=np.float16), allow_pickle=False)
    if default_storage.exists(name):  # a concurrent encode of the same audio wrote the same frames
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(buffer.getvalue()))


@dataclass
class EncodeReport:
    encoded: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"encoded": self.encoded, "cached": self.cached, "failed": len(self.failed),
                "audio_seconds": round(self.audio_seconds, 1)}


def segment_features(segments, encoder: SpeechEncoder, force: bool = False,
                     report: EncodeReport | None = None) -> dict[int, np.ndarray]:
    """{segment id: frames} for segments with audio: from the cache, else
    encoded now (packed) and cached. Unreadable audio is reported, not raised."""
    report = report if report is not None else EncodeReport()
    out, todo, waves = {}, [], []
    for segment in segments:
        if not segment.audio:
            continue
        frames = None if force else read_cached(encoder, segment)
        if frames is not None:
            out[segment.pk] = frames
            report.cached += 1
            continue
        try:
            with default_storage.open(segment.audio.name, "rb") as fh:
                waves.append(read_audio(fh.read()))
            todo.append(segment)
        except (OSError, ValueError) as exc:
            report.failed.append(f"segment {segment.pk}: {exc}")
    if todo:
        for segment, wave, frames in zip(todo, waves, encoder.encode(waves, [str(s.pk) for s in todo])):
            write_cached(encoder, segment, frames)
            out[segment.pk] = frames.astype(np.float16)
            report.audio_seconds += wave.size / 16000
        report.encoded += len(todo)
    return out


def encode_segments(video_id: int | None = None, force: bool = False, batch: int = 256,
                    progress=None) -> EncodeReport:
    """Cache features of every segment with audio (of one video, or all) that
    has none for the current encoder (all of them with force). Idempotent."""
    report = EncodeReport()
    encoder = current_encoder()
    if encoder is None:
        return report
    segments = Segment.objects.exclude(audio="").order_by("video_id", "start", "id")
    if video_id is not None:
        segments = segments.filter(video_id=video_id)
    ids = list(segments.values_list("id", flat=True))
    for start in range(0, len(ids), batch):
        chunk = Segment.objects.filter(id__in=ids[start:start + batch]).order_by("video_id", "start", "id")
        segment_features(chunk, encoder, force=force, report=report)
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return report


def export_featurizer(encoder: SpeechEncoder):
    """read_export's featurize for an encoder: rows of segments still in the
    database read (and fill) the cache; other rows are encoded from the zip's audio."""
    encode = encoder_featurizer(encoder)

    def featurize(entries):
        ids = [row.get("segment_id") for row, _ in entries]
        segments = {s.pk: s for s in Segment.objects.filter(pk__in=[i for i in ids if isinstance(i, int)])}
        out: list = [None] * len(entries)
        missing = []
        for n, (row, _) in enumerate(entries):
            segment = segments.get(row.get("segment_id"))
            out[n] = read_cached(encoder, segment) if segment is not None and segment.audio else None
            if out[n] is None:
                missing.append(n)
        for n, frames in zip(missing, encode([entries[n] for n in missing])):
            out[n] = frames
            segment = segments.get(entries[n][0].get("segment_id"))
            if segment is not None and segment.audio and not isinstance(frames, Exception):
                write_cached(encoder, segment, frames)
        return out
    return featurize


def describe_cache() -> dict:
    """Which encoder is configured and whether it loads (for pages and commands)."""
    try:
        encoder = current_encoder()
    except EncoderError as exc:
        return {"encoder": encoder_spec(), "error": str(exc)}
    return {"encoder": encoder.name if encoder else LOG_MEL, **(encoder.describe() if encoder else {})}
