"""Segmentation pipeline: the only place that writes segmentation results to
the database.

Stages run in order after import (Video.Stage):
    audio -> scenes -> faces -> speakers -> segments  (then prelabel)
Each stage reads its inputs from the database, calls a pure module of
clips.segmentation, and writes its results in one transaction together with
`Video.stage` = its name, so a crash resumes from the first unfinished stage
and a rerun replaces (never duplicates) the stage's rows and everything
downstream of them. Media files are written before the transaction commits
and removed when their rows are replaced.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from clips import media, proxies
from clips.importing.files import local_path
from clips.models import FaceTrack, Person, ReferencePhoto, Scene, Segment, Video
from clips.segmentation import av, people
from clips.segmentation.crops import CropRequest, make_face_crops, pick_crop_times
from clips.segmentation.faces import FaceTrack as Track
from clips.segmentation.faces import assign_scenes, find_faces
from clips.segmentation.params import SegmentationParams
from clips.segmentation.scenes import Scene as SceneSpec
from clips.segmentation.scenes import detect_scenes, split_scenes
from clips.segmentation.segments import make_segments
from clips.segmentation.speakers import find_speech_turns, make_speaker_model, speech_regions, voice_activity
from labelstudio_emo.celery import run_task_by_name, task_by_name
from labelstudio_emo.progress_writer import ProgressWriter

log = logging.getLogger(__name__)

Progress = Callable[[int, str], None]

Stage = Video.Stage
# Video.stage values in pipeline order; segmentation runs the middle ones.
STAGES = list(Stage.values)
SEGMENTATION_STAGES = [Stage.AUDIO, Stage.SCENES, Stage.FACES, Stage.SPEAKERS, Stage.SEGMENTS]
# Overall progress (0-100) when each stage starts and ends; import ends at 20.
SPAN = {Stage.AUDIO: (20, 22), Stage.SCENES: (22, 30), Stage.FACES: (30, 80), Stage.SPEAKERS: (80, 85),
        Stage.SEGMENTS: (85, 95)}
PRELABEL_START = 95
PRELABEL_TASK = "gpu.prelabel_video"  # the teacher's task (inference), which ends segmentation

NOTE_NO_AUDIO = "no audio track: no speech to segment"
NOTE_ONE_SHOT = "one continuous shot: no scene cuts found"
NOTE_AUDIO_ONLY = "audio only: any speech becomes off-screen segments"
NOTE_NO_FACES = "no faces found: any speech becomes off-screen segments"
NOTE_NO_SPEECH = "no speech found"
NOTE_ALL_OFFSCREEN = "no speaking face on screen: every segment is off-screen speech"
NOTE_DROPPED = "speech shorter than {min_s:g} s dropped"
# Which notes each stage owns (a rerun replaces them, others are kept).
STAGE_NOTES = {
    Stage.AUDIO: (NOTE_NO_AUDIO,),
    Stage.SCENES: (NOTE_ONE_SHOT,),
    Stage.FACES: (NOTE_NO_FACES, NOTE_AUDIO_ONLY),
    Stage.SPEAKERS: (NOTE_NO_SPEECH, NOTE_ALL_OFFSCREEN, "speech shorter than"),
}


class SegmentationError(RuntimeError):
    """A clear, user-facing reason why a video cannot be segmented."""


# The student's speech-encoder features are cached as soon as segment audio exists.
ENCODE_SEGMENTS_TASK = "gpu.encode_segments"


def default_params() -> SegmentationParams:
    """Defaults, overridden by settings.SEGMENTATION (e.g. {"faces": {"detector": "cnn"}})."""
    return SegmentationParams.from_dict(getattr(settings, "SEGMENTATION", None))


def speaker_model(params: SegmentationParams):
    """settings.SEGMENTATION_SPEAKER_MODEL (dotted path to an ActiveSpeakerModel class taking
    SpeakerParams) replaces the built-in choice, params.speakers.model (Light-ASD by default,
    "mouth-motion" for the heuristic)."""
    path = getattr(settings, "SEGMENTATION_SPEAKER_MODEL", "")
    return import_string(path)(params.speakers) if path else make_speaker_model(params.speakers)


# --- orchestration ------------------------------------------------------------------

def remaining_stages(video: Video) -> list[str]:
    """Segmentation stages after the last finished one (all of them for a fresh import)."""
    done = STAGES.index(video.stage) if video.stage in STAGES else 0
    return [s for s in SEGMENTATION_STAGES if STAGES.index(s) > done]


def rewind(video_id: int, stage: str) -> None:
    """Mark `stage` and everything after it unfinished (segment_video --from)."""
    if stage not in SEGMENTATION_STAGES:
        raise SegmentationError(f"unknown stage {stage!r}: one of {', '.join(SEGMENTATION_STAGES)}")
    video = Video.objects.get(pk=video_id)
    if STAGES.index(stage) <= STAGES.index(Stage.SPEAKERS):
        _refuse_if_labelled(video)
    previous = STAGES[STAGES.index(stage) - 1]
    if STAGES.index(video.stage or Stage.DOWNLOADED) > STAGES.index(previous):
        Video.objects.filter(pk=video_id).update(stage=previous, updated_at=timezone.now())


def process_video(video_id: int, progress: Progress | None = None, params: SegmentationParams | None = None) -> int:
    """Run every unfinished segmentation stage in-process, then prelabel.

    Returns the number of segments. Idempotent: on a video whose stages are
    all finished it does nothing but report. Failure: Video.status = failed
    with a clear Video.error, and the exception propagates.
    """
    params = params or default_params()
    video = Video.objects.get(pk=video_id)
    if not video.file:
        raise SegmentationError(f"video {video.pk} has no media file yet: import it first")
    for stage in remaining_stages(video):
        run_stage(video_id, stage, params, progress)
    video.refresh_from_db()
    if video.stage == Stage.SEGMENTS:
        hand_to_prelabel(video_id, progress)
    return Segment.objects.filter(video_id=video_id).count()


def run_stage(video_id: int, stage: str, params: SegmentationParams | None = None,
              progress: Progress | None = None) -> None:
    """One stage, with status/progress/error bookkeeping around it."""
    params = params or default_params()
    runner = {Stage.AUDIO: stage_audio, Stage.SCENES: stage_scenes, Stage.FACES: stage_faces,
              Stage.SPEAKERS: stage_speakers, Stage.SEGMENTS: stage_segments}[stage]
    video = Video.objects.get(pk=video_id)
    # Preconditions leave the video as it is (a download in progress, labelled segments).
    _check_ready_for(video, stage)
    reporter = _Reporter(video_id, stage, progress)
    started = time.monotonic()
    try:
        Video.objects.filter(pk=video_id).update(status=Video.Status.SEGMENTING, error="",
                                                 progress=SPAN[stage][0], updated_at=timezone.now())
        runner(video_id, params, reporter)
    except Exception as exc:
        fail(video_id, f"Segmentation failed at stage '{stage}': {_reason(exc)}")
        raise
    reporter(1.0, force=True)
    log.info("video %s: stage %s done in %.1f s", video_id, stage, time.monotonic() - started)


def hand_to_prelabel(video_id: int, progress: Progress | None = None) -> None:
    Video.objects.filter(pk=video_id).update(status=Video.Status.PRELABELLING, progress=PRELABEL_START,
                                             updated_at=timezone.now())
    if progress:
        progress(PRELABEL_START, "prelabelling")
    try:
        run_task_by_name(PRELABEL_TASK, video_id)  # a later stage: by name, never imported
    except Exception as exc:
        fail(video_id, f"Prelabelling failed: {_reason(exc)}")
        raise


def fail(video_id: int, message: str) -> None:
    log.error("video %s: %s", video_id, message)
    Video.objects.filter(pk=video_id).update(status=Video.Status.FAILED, error=message[:2000],
                                             updated_at=timezone.now())


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if isinstance(exc, (SegmentationError, media.MediaError)) \
        else f"{exc.__class__.__name__}: {text}"


def _check_ready_for(video: Video, stage: str) -> None:
    if not video.file:
        raise SegmentationError(f"video {video.pk} has no media file yet: import it first")
    done = STAGES.index(video.stage) if video.stage in STAGES else 0
    if STAGES.index(stage) - 1 > done:
        raise SegmentationError(f"stage '{stage}' needs '{STAGES[STAGES.index(stage) - 1]}' first "
                                f"(video is at '{video.stage or 'nothing'}')")
    if STAGES.index(stage) <= STAGES.index(Stage.SPEAKERS):
        _refuse_if_labelled(video)


def _refuse_if_labelled(video: Video) -> None:
    """Redoing segments would delete people's labels: never silently."""
    label = apps.get_model("annotation", "Label")
    n = label.objects.filter(segment__video=video).count()
    if n:
        raise SegmentationError(f"video {video.pk} already has {n} human labels; re-segmenting would "
                                "delete them (delete the labels first if that is really wanted)")


class _Reporter:
    """Maps a stage's 0..1 fraction onto Video.progress; writes at most twice a second."""

    def __init__(self, video_id: int, stage: str, callback: Progress | None):
        self.stage, self.callback = stage, callback
        self.lo, self.hi = SPAN[stage]
        self.writer = ProgressWriter(lambda value: Video.objects.filter(pk=video_id).update(
            progress=value, updated_at=timezone.now()), interval=0.5)

    def __call__(self, fraction: float, force: bool = False):
        value = int(self.lo + (self.hi - self.lo) * min(max(fraction, 0.0), 1.0))
        if self.writer(value, force) and self.callback:
            self.callback(value, self.stage)


# --- helpers ------------------------------------------------------------------------

@contextmanager
def _stage_transaction(video_id: int):
    """A stage's writes, serialised per video by a row lock: should a requeued
    duplicate of a stage run beside the original, one replaces the other's rows
    instead of both inserting (clips.recovery)."""
    with transaction.atomic():
        Video.objects.select_for_update().filter(pk=video_id).exists()
        yield


def _save_bytes(name: str, data: bytes) -> str:
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def _delete_files(names) -> None:
    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except OSError:
                log.warning("could not delete %s", name)


def _delete_segments(video_id: int) -> None:
    """Segment rows of the video and their clips/crops (rows first: files of a
    rolled-back transaction would otherwise be lost)."""
    rows = list(Segment.objects.filter(video_id=video_id).values_list("audio", "face_crops"))
    Segment.objects.filter(video_id=video_id).delete()
    transaction.on_commit(lambda: _delete_files([a for a, _ in rows] + [c for _, cs in rows for c in cs or []]))


def _set_notes(video: Video, stage: str, new: list[str]) -> list[str]:
    owned = STAGE_NOTES.get(stage, ())
    kept = [n for n in (video.notes or []) if not any(n.startswith(o) for o in owned)]
    return kept + [n for n in new if n not in kept]


def _finish(video_id: int, stage: str, notes: list[str] | None = None) -> None:
    video = Video.objects.select_for_update().get(pk=video_id)
    video.stage = stage
    if notes is not None:
        video.notes = _set_notes(video, stage, notes)
    video.save(update_fields=["stage", "notes", "updated_at"])


def scene_specs(video_id: int) -> list[SceneSpec]:
    return [SceneSpec(s.index, s.start, s.end) for s in Scene.objects.filter(video_id=video_id).order_by("index")]


def track_specs(video_id: int) -> tuple[list[Track], dict[int, FaceTrack]]:
    """Stored tracks as pure dataclasses (index = position) and index -> row."""
    rows = list(FaceTrack.objects.filter(video_id=video_id).select_related("scene").order_by("start", "pk"))
    specs = [Track(index=i, scene_index=row.scene.index, boxes=[tuple(b) for b in row.boxes],
                   mouth=[tuple(m) for m in row.mouth], encoding=row.encoding, identity=row.identity,
                   person=row.person.name if row.person_id else None)
             for i, row in enumerate(rows)]
    return specs, dict(enumerate(rows))


# --- stages -------------------------------------------------------------------------

def stage_audio(video_id: int, params: SegmentationParams, report) -> None:
    """16 kHz mono WAV (import usually made it already)."""
    video = Video.objects.get(pk=video_id)
    notes = []
    if not video.audio:
        with local_path(video.file.name) as path:
            info = av.probe(path)
            if info.has_audio:
                with tempfile.TemporaryDirectory(prefix="seg-") as tmp:
                    wav = media.extract_audio(path, Path(tmp) / "audio.wav", rate=16000)
                    video.audio.name = _save_bytes(f"audio/{video.pk}.wav", wav.read_bytes())
            else:
                notes.append(NOTE_NO_AUDIO)
    with _stage_transaction(video_id):
        Video.objects.filter(pk=video_id).update(audio=video.audio.name or "")
        _finish(video_id, Stage.AUDIO, notes)


def stage_scenes(video_id: int, params: SegmentationParams, report) -> None:
    video = Video.objects.get(pk=video_id)
    with local_path(video.file.name) as path, proxies.writing(video, params) as proxy:
        info = av.probe(path)
        scene_params = replace(params.scenes, proxy_width=params.proxy_width())
        scenes = detect_scenes(path, scene_params, proxy=proxy if info.has_video else None)
    notes = [NOTE_ONE_SHOT] if len(scenes) == 1 and info.has_video and info.duration > 60 else []
    with _stage_transaction(video_id):
        _delete_segments(video_id)
        Scene.objects.filter(video_id=video_id).delete()  # tracks go with them
        Scene.objects.bulk_create([Scene(video_id=video_id, index=s.index, start=s.start, end=s.end)
                                   for s in scenes])
        Video.objects.filter(pk=video_id).update(duration=video.duration or info.duration or None)
        _finish(video_id, Stage.SCENES, notes)


def stage_faces(video_id: int, params: SegmentationParams, report) -> None:
    """Face tracks; where the only face became someone else, the scene is cut there too."""
    video = Video.objects.get(pk=video_id)
    scenes = scene_specs(video_id)
    with local_path(video.file.name) as path, proxies.reading(video, params, path) as proxy:
        info = av.probe(path)
        found = find_faces(path, scenes, params.face_stage(), progress=report, proxy=proxy)
    tracks = found.tracks
    if found.cuts:
        scenes = split_scenes(scenes, found.cuts)
        assign_scenes(tracks, scenes)
    names = people.name_tracks([t.encoding for t in tracks], person_encodings(), params.faces.person_distance)
    persons = {p.name: p for p in Person.objects.filter(name__in={n for n in names if n})}
    notes = []
    if not info.has_video:
        notes.append(NOTE_AUDIO_ONLY)
    elif not tracks:
        notes.append(NOTE_NO_FACES)
    with _stage_transaction(video_id):
        _delete_segments(video_id)
        FaceTrack.objects.filter(video_id=video_id).delete()
        if found.cuts:
            _replace_scenes(video_id, scenes)
        scene_rows = {s.index: s for s in Scene.objects.filter(video_id=video_id)}
        FaceTrack.objects.bulk_create([
            FaceTrack(video_id=video_id, scene=scene_rows[t.scene_index], identity=t.identity,
                      person=persons.get(name), start=t.start, end=t.end,
                      boxes=[list(b) for b in t.boxes], mouth=[list(m) for m in t.mouth], encoding=t.encoding)
            for t, name in zip(tracks, names)])
        _finish(video_id, Stage.FACES, notes)


def _replace_scenes(video_id: int, scenes: list[SceneSpec]) -> None:
    Scene.objects.filter(video_id=video_id).delete()
    Scene.objects.bulk_create([Scene(video_id=video_id, index=s.index, start=s.start, end=s.end) for s in scenes])


def stage_speakers(video_id: int, params: SegmentationParams, report) -> None:
    """Speech turns with their speaking face -> Segment rows (times, face, box)."""
    video = Video.objects.get(pk=video_id)
    scenes = scene_specs(video_id)
    tracks, rows = track_specs(video_id)
    specs, notes = [], []
    model = speaker_model(params)
    if video.audio:
        with local_path(video.audio.name) as wav, local_path(video.file.name) as media_path, \
                _proxy_if_wanted(video, params, media_path, model) as proxy:
            activity = voice_activity(wav, params.speakers, video_path=media_path, proxy=proxy)
            report(0.3)
            if not speech_regions(activity, params.speakers):
                notes.append(NOTE_NO_SPEECH)
            turns = find_speech_turns(wav, tracks, params.speakers, scenes=scenes, audio=activity, model=model)
        specs = make_segments(turns, scenes, params.segments)
        if turns and not specs:
            notes.append(NOTE_DROPPED.format(min_s=params.segments.min_s))
    else:
        notes.append(NOTE_NO_SPEECH)
    if specs and all(s.track is None for s in specs) and tracks:
        notes.append(NOTE_ALL_OFFSCREEN)
    scene_rows = {s.index: s for s in Scene.objects.filter(video_id=video_id)}
    with _stage_transaction(video_id):
        _delete_segments(video_id)
        Segment.objects.bulk_create([
            Segment(video_id=video_id, scene=scene_rows.get(s.scene_index), start=s.start, end=s.end,
                    face_track=rows[s.track] if s.track is not None else None,
                    box=list(tracks[s.track].median_box(s.start, s.end)) if s.track is not None else None,
                    speaking_confidence=round(s.confidence, 4))
            for s in specs])
        Video.objects.filter(pk=video_id).update(speaker_model=describe_speaker_model(model, params))
        _finish(video_id, Stage.SPEAKERS, notes)


def _proxy_if_wanted(video: Video, params: SegmentationParams, media_path: Path, model):
    """The proxy for a speaker model that reads pixels (Light-ASD); none for the others."""
    if getattr(model, "reads_pixels", False):
        return proxies.reading(video, params, media_path)
    return contextlib.nullcontext()


def describe_speaker_model(model, params: SegmentationParams) -> str:
    """What decided who speaks, as the video page shows it (e.g. "light-asd, silero-vad")."""
    return f"{getattr(model, 'name', type(model).__name__)}, {params.speakers.vad}{'-vad' if params.speakers.vad == 'silero' else 'vad'}"


def stage_segments(video_id: int, params: SegmentationParams, report) -> None:
    cut_segment_audio(video_id, lambda f: report(0.3 * f))
    make_segment_crops(video_id, params, lambda f: report(0.3 + 0.7 * f))


def cut_segment_audio(video_id: int, report=None) -> int:
    """A WAV clip per segment, sample-exact from the video's 16 kHz track (no stage change:
    the crops finish the 'segments' stage)."""
    video = Video.objects.get(pk=video_id)
    segments = list(Segment.objects.filter(video_id=video_id).order_by("start"))
    if not segments or not video.audio:
        return 0
    old = [s.audio.name for s in segments if s.audio]
    with local_path(video.audio.name) as wav:
        for n, seg in enumerate(segments):
            seg.audio.name = _save_bytes(f"segments/{video_id}/{seg.pk}.wav", av.cut_wav(wav, seg.start, seg.end))
            if report and n % 20 == 0:
                report(n / len(segments))
    with _stage_transaction(video_id):
        Segment.objects.bulk_update(segments, ["audio"])
    stale = set(old) - {s.audio.name for s in segments}
    transaction.on_commit(lambda: _delete_files(stale))
    transaction.on_commit(lambda: _enqueue_encoding(video_id))
    return len(segments)


def _enqueue_encoding(video_id: int) -> None:
    """The student's speech-encoder features of the new segments (a later stage: by name)."""
    try:
        task_by_name(ENCODE_SEGMENTS_TASK, video_id).delay()
    except Exception:  # noqa: BLE001 - e.g. broker down: `encode_segments` backfills, training encodes
        log.exception("could not queue %s for video %s", ENCODE_SEGMENTS_TASK, video_id)


def make_segment_crops(video_id: int, params: SegmentationParams | None = None, report=None) -> int:
    """Up to 8 aligned 112 px face crops per on-screen segment; finishes the 'segments' stage."""
    params = params or default_params()
    video = Video.objects.get(pk=video_id)
    tracks, rows = track_specs(video_id)
    by_pk = {row.pk: tracks[i] for i, row in rows.items()}
    segments = list(Segment.objects.filter(video_id=video_id).order_by("start"))
    requests = [CropRequest(seg.pk, t, box) for seg in segments if seg.face_track_id in by_pk
                for t, box in pick_crop_times(by_pk[seg.face_track_id], seg.start, seg.end,
                                              params.segments.crops_per_segment)]
    crops: dict[int, list[str]] = {seg.pk: [] for seg in segments}
    old = [c for seg in segments for c in seg.face_crops or []]

    def sink(key, n, jpeg):
        crops[key].append(_save_bytes(f"segments/{video_id}/faces/{key}/{n}.jpg", jpeg))

    made = 0
    if requests:
        with local_path(video.file.name) as path, proxies.reading(video, params, path) as proxy:
            made = make_face_crops(path, requests, params.faces.sample_fps, sink, params.segments.crop_size,
                                   params.segments.jpeg_quality, progress=report, proxy=proxy)
    for seg in segments:
        seg.face_crops = crops[seg.pk]
    with _stage_transaction(video_id):
        Segment.objects.bulk_update(segments, ["face_crops"])
        _finish(video_id, Stage.SEGMENTS)
    stale = set(old) - {c for cs in crops.values() for c in cs}
    transaction.on_commit(lambda: _delete_files(stale))
    transaction.on_commit(lambda: proxies.delete_proxies(video_id, leftovers=True))  # the last stage reading it
    return made


# --- target people ------------------------------------------------------------------

def person_encodings() -> dict[str, list[list[float]]]:
    """Name -> reference encodings, computing those of newly uploaded photos."""
    for photo in ReferencePhoto.objects.filter(encoding__isnull=True).select_related("person"):
        try:
            with local_path(photo.image.name) as path:
                encoding = people.encode_reference_photo(path)
        except (OSError, ValueError) as exc:
            log.warning("reference photo %s unreadable: %s", photo.pk, exc)
            continue
        # [] marks "looked, no face" so the photo is not decoded again every run.
        ReferencePhoto.objects.filter(pk=photo.pk).update(encoding=encoding or [])
    out: dict[str, list[list[float]]] = {}
    for person in Person.objects.prefetch_related("photos"):
        encs = [p.encoding for p in person.photos.all() if p.encoding]
        if encs != person.encodings:
            Person.objects.filter(pk=person.pk).update(encodings=encs)
        if encs:
            out[person.name] = encs
    return out
