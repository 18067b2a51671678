"""Import services: turn URLs, uploads and local files into Video rows with
a stored media file and a 16 kHz mono WAV, then hand them to segmentation.

Status flow owned here: queued -> downloading -> (segmenting, handed off) or
failed with a short message in Video.error. A video is claimed atomically
before work starts, so a redelivered Celery message and a re-enqueued one
never download the same video twice at once.
"""

from __future__ import annotations

import errno
import logging
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from clips import media
from clips.models import Segment, Video
from clips.proxies import delete_proxies
from clips.segmentation.tasks import enqueue_segmentation
from labelstudio_emo.celery import task_by_name
from labelstudio_emo.progress_writer import ProgressWriter

from . import files
from .inputs import ImportOptions, SourceRequest
from .safety import UnresolvableHost, UnsafeURL, check_url
from .sources import (Entry, ImportFailed, SourceOptions, TransientImportError, check_duration, download,
                      expand, url_id)

PROBE_FIELDS = ["duration", "fps", "width", "height", "has_video", "has_audio", "notes"]
META_FIELDS = ["extractor", "external_id", "title", "channel", "upload_date", "license", "webpage_url", "language"]

log = logging.getLogger(__name__)

PLACEHOLDER = "url"  # extractor of a submitted URL not yet looked at by yt-dlp
DOWNLOAD_SHARE = 15  # overall progress when the download is complete
IMPORT_DONE_PROGRESS = 20  # ... and when the WAV exists (segmentation takes it from here)
DISK_FULL = "Disk full on the server: free some space, then retry."

Progress = Callable[[int, str], None]


@dataclass
class RunResult:
    video_id: int
    done: bool = False  # media + audio stored, ready for segmentation
    spawned: list[int] = field(default_factory=list)  # playlist entries created
    merged_into: int | None = None  # the URL turned out to be an existing video


# --- submitting ----------------------------------------------------------------

def find_existing(url: str) -> Video | None:
    return Video.objects.filter(Q(source_url=url) | Q(webpage_url=url)).order_by("pk").first()


def submit_url(req: SourceRequest, options: ImportOptions, user=None, enqueue: bool = True) -> Video:
    """One row per submitted URL, right away (no network): either the video we
    already have for it, or a queued placeholder that the import task expands.
    Unsafe or malformed URLs become failed rows with the reason, so every line
    the user pasted is accounted for."""
    url = req.url.strip()
    existing = find_existing(url)
    if existing:
        if existing.status == Video.Status.FAILED and not existing.file:
            reset_for_retry(existing)
            if enqueue:
                enqueue_import(existing.pk)
        elif existing.status == Video.Status.FAILED and enqueue:
            retry(existing)  # downloaded but segmentation failed: run that again
        return existing
    error = ""
    try:
        check_url(url)
    except UnresolvableHost:
        pass  # DNS may be down for a moment: the import task checks again (and retries)
    except UnsafeURL as exc:
        error = str(exc)
    video, created = Video.objects.get_or_create(
        extractor=PLACEHOLDER, external_id=url_id(url),
        defaults=dict(source_url=url[:2000], title=req.title[:500], speaker_hint=req.speaker[:255],
                      clip_start=req.start, clip_end=req.end, language=options.language[:16],
                      options=options.to_dict(), created_by=user if getattr(user, "pk", None) else None,
                      status=Video.Status.FAILED if error else Video.Status.QUEUED, error=error))
    if created and not error and enqueue:
        enqueue_import(video.pk)
    return video


IMPORT_TASK = "io.import_video"


def enqueue_import(video_id: int):
    # By name: the tasks module imports this one (tasks call services, never the reverse).
    transaction.on_commit(lambda: task_by_name(IMPORT_TASK, video_id).delay())


def reset_for_retry(video: Video):
    video.status, video.error, video.progress = Video.Status.QUEUED, "", 0
    video.save(update_fields=["status", "error", "progress", "updated_at"])


# --- claiming and status -------------------------------------------------------

def claim(video_id: int, worker: str = "") -> Video | None:
    """queued -> downloading, atomically; None if someone else has it (or it's done)."""
    with transaction.atomic():
        video = Video.objects.select_for_update().filter(pk=video_id).first()
        if video is None or video.status != Video.Status.QUEUED:
            return None
        video.status = Video.Status.DOWNLOADING
        video.error = ""
        video.options = {**(video.options or {}), "worker": worker}
        video.save(update_fields=["status", "error", "options", "updated_at"])
    return video


def fail(video_id: int, message: str):
    log.info("import of video %s failed: %s", video_id, message)
    Video.objects.filter(pk=video_id).update(status=Video.Status.FAILED, error=message[:2000],
                                             updated_at=timezone.now())


def back_to_queue(video_id: int, message: str):
    """Transient failure: queued again (the task retries later) with the reason shown."""
    Video.objects.filter(pk=video_id).update(status=Video.Status.QUEUED, error=message[:2000],
                                             updated_at=timezone.now())


def _add_note(video: Video, note: str):
    if note not in (video.notes or []):
        video.notes = [*(video.notes or []), note]


class _ProgressWriter:
    """Writes Video.progress at most every half second (it is also the heartbeat
    that tells a restarted worker this download is still alive)."""

    def __init__(self, video_id: int, callback: Progress | None):
        self.callback = callback
        self.writer = ProgressWriter(lambda value: Video.objects.filter(pk=video_id).update(
            progress=value, updated_at=timezone.now()), interval=0.5)

    def __call__(self, value: int, stage: str = "downloading", force: bool = False):
        value = max(0, min(100, int(value)))
        self.writer(value, force)
        if self.callback:
            self.callback(value, stage)


# --- running one import ------------------------------------------------------------

def source_options(options: ImportOptions) -> SourceOptions:
    opts = options.resolved()
    return SourceOptions(max_height=opts.max_height, max_duration=opts.max_duration,
                         max_videos=opts.max_videos, max_filesize=settings.IMPORT_MAX_UPLOAD_BYTES,
                         allow_private=settings.IMPORT_ALLOW_PRIVATE_NETWORKS)


def run_import(video_id: int, worker: str = "", progress: Progress | None = None,
               hand_off: bool = True) -> RunResult:
    """Everything import does for one video; TransientImportError propagates
    (the caller retries), every other failure lands in Video.error."""
    video = claim(video_id, worker)
    result = RunResult(video_id)
    if video is None:
        return result
    try:
        if video.extractor == PLACEHOLDER:
            outcome = _resolve_placeholder(video)
            if isinstance(outcome, RunResult):
                return outcome
            video = outcome
        _fetch_and_prepare(video, _ProgressWriter(video.pk, progress))
        result.done = True
    except TransientImportError:
        raise
    except (ImportFailed, media.MediaError, UnsafeURL) as exc:
        fail(video.pk, str(exc))
        return result
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            fail(video.pk, f"Import failed: {exc.strerror or exc}")
            raise
        fail(video.pk, DISK_FULL)
        return result
    except DatabaseError:
        if not Video.objects.filter(pk=video.pk).exists():
            return result  # deleted by the user while importing
        fail(video.pk, "Import failed: database error (see the worker log).")
        raise
    except Exception as exc:  # a bug or a time limit: never leave the video stuck in `downloading`
        fail(video.pk, f"Import failed: {exc.__class__.__name__}: {str(exc)[:300]}")
        raise
    finally:
        files.remove_incoming(video.pk)
    if hand_off:
        hand_off_to_segmentation(video.pk)
    return result


def _resolve_placeholder(video: Video) -> Video | RunResult:
    """Ask yt-dlp what the URL is: one video (the row takes its identity) or
    a playlist/channel (one row per entry, the placeholder goes away)."""
    options = ImportOptions.from_dict(video.options)
    found = expand(video.source_url, source_options(options))
    if not found.entries:
        raise ImportFailed("No videos found at this address." if not found.is_playlist
                           else "The playlist or channel has no videos.")
    if not found.is_playlist:
        return _adopt_identity(video, found.entries[0])
    spawned = [_spawn_entry(video, entry) for entry in found.entries]
    Video.objects.filter(pk=video.pk).delete()
    return RunResult(video.pk, spawned=[v.pk for v in spawned])


def _adopt_identity(video: Video, entry: Entry) -> Video | RunResult:
    other = Video.objects.filter(extractor=entry.extractor, external_id=entry.external_id).exclude(pk=video.pk).first()
    if other:  # same video under another URL: keep the one we have
        Video.objects.filter(pk=video.pk).delete()
        if other.status == Video.Status.FAILED and not other.file:
            reset_for_retry(other)
            enqueue_import(other.pk)
        return RunResult(video.pk, merged_into=other.pk)
    video.extractor, video.external_id = entry.extractor, entry.external_id
    video.source_url = (entry.url or video.source_url)[:2000]
    video.title = video.title or entry.title[:500]
    video.save(update_fields=["extractor", "external_id", "source_url", "title", "updated_at"])
    return video


def _spawn_entry(parent: Video, entry: Entry) -> Video:
    options = ImportOptions.from_dict(parent.options)
    child, created = Video.objects.get_or_create(
        extractor=entry.extractor, external_id=entry.external_id,
        defaults=dict(source_url=entry.url[:2000], title=entry.title[:500], channel=entry.channel[:255],
                      duration=entry.duration, language=parent.language, speaker_hint=parent.speaker_hint,
                      options=parent.options, created_by=parent.created_by))
    listed_again = not created and child.status == Video.Status.FAILED and not child.file
    if created or listed_again:
        try:  # flat entries often know the duration: refuse long ones without a download
            check_duration(entry.duration, options.resolved().max_duration)
        except ImportFailed as exc:
            fail(child.pk, str(exc))
            return child
        if listed_again:
            reset_for_retry(child)
        enqueue_import(child.pk)
    return child


def _fetch_and_prepare(video: Video, progress: _ProgressWriter):
    options = ImportOptions.from_dict(video.options).resolved()
    work = files.incoming_dir(video.pk)
    progress(0, "downloading", force=True)
    if not video.file:
        fetched = download(video.source_url, work, source_options(options),
                           progress=lambda f: progress(f * DOWNLOAD_SHARE))
        _apply_metadata(video, fetched.metadata)
        local, source_path = True, fetched.path
    else:  # upload / local file already in storage
        local, source_path = False, files.local_path_or_copy(video.file.name, work)
    info = media.probe_media(source_path)
    if local or video.clip_start or video.clip_end is not None:
        check_duration(_kept_duration(video, info.duration), options.max_duration)
    if video.clip_start or video.clip_end is not None:
        source_path, info = _trim(video, source_path, info, work)
        local = True
    if not media.is_browser_playable(info):
        source_path, info = _make_playable(video, source_path, info, work)
        local = True
    _apply_probe(video, info)
    wav = media.extract_audio(source_path, work / "audio.wav", rate=16000) if info.has_audio else None
    replaced = ""
    if local:  # moved into storage only now that it is complete and usable
        name = files.media_name("videos", video.pk, video.title, source_path.suffix)
        replaced = video.file.name  # an upload that was trimmed or re-encoded
        video.file.name = files.store_file(source_path, name)
    video.stage = Video.Stage.DOWNLOADED
    # update_fields: a video deleted meanwhile raises instead of coming back
    video.save(update_fields=["file", "stage", "updated_at", *PROBE_FIELDS, *META_FIELDS])
    if replaced and replaced != video.file.name:
        default_storage.delete(replaced)
    progress(DOWNLOAD_SHARE, "downloaded", force=True)
    _store_audio(video, wav)
    progress(IMPORT_DONE_PROGRESS, "audio", force=True)


def _kept_duration(video: Video, duration: float) -> float:
    start = video.clip_start or 0.0
    end = min(video.clip_end, duration) if video.clip_end is not None else duration
    return max(0.0, end - start)


def _trim(video: Video, path: Path, info: media.MediaInfo, work: Path):
    start = video.clip_start or 0.0
    if start >= info.duration:
        raise ImportFailed(f"Start {start:g}s is after the end of the video ({info.duration:.1f}s).")
    end = min(video.clip_end, info.duration) if video.clip_end is not None else None
    dst = work / ("part.mp4" if info.has_video else "part.m4a")
    media.trim_media(path, dst, start, end, info)
    _add_note(video, f"kept {start:g}s-{(end if end is not None else info.duration):g}s of the source")
    return dst, media.probe_media(dst)


def _apply_metadata(video: Video, metadata: dict):
    for key in ("title", "channel", "upload_date", "license", "webpage_url", "language"):
        if metadata.get(key) and not getattr(video, key):
            setattr(video, key, metadata[key])
    if video.extractor == "generic" or not video.external_id:
        return
    extractor, external_id = metadata.get("extractor"), metadata.get("external_id")
    if (extractor, external_id) != (video.extractor, video.external_id) and extractor and external_id and \
            not Video.objects.filter(extractor=extractor, external_id=external_id).exists():
        video.extractor, video.external_id = extractor, external_id


def _apply_probe(video: Video, info: media.MediaInfo):
    video.duration = info.duration
    video.fps, video.width, video.height = info.fps, info.width, info.height
    video.has_video, video.has_audio = info.has_video, info.has_audio
    if not info.has_video:
        _add_note(video, "audio only: every segment is off-screen speech")


def _store_audio(video: Video, wav: Path | None):
    if wav is not None:
        if video.audio:
            files.delete_stored(video.audio.name)
        video.audio.name = files.store_file(wav, f"audio/{video.pk}.wav")
    else:
        _add_note(video, "no audio track: kept as video only")
    video.stage = Video.Stage.AUDIO
    video.status = Video.Status.SEGMENTING
    video.progress = IMPORT_DONE_PROGRESS
    video.error = ""
    video.save(update_fields=["audio", "stage", "status", "progress", "error", "notes", "updated_at"])


def hand_off_to_segmentation(video_id: int):
    """Async mode: queue the segmentation chain once this transaction commits."""
    transaction.on_commit(lambda: enqueue_segmentation(video_id))


# --- local files and uploads --------------------------------------------------------

def _make_playable(video: Video, path: Path, info: media.MediaInfo, work: Path):
    """Re-encode to H.264/AAC MP4 (same timeline) so the annotation and video
    pages can play it; e.g. MPEG-1 .mpg or AVI uploads."""
    dst = work / "playable.mp4"
    media.trim_media(path, dst, None, None, info)
    _add_note(video, f"re-encoded from {info.video_codec or 'unknown'} in {info.format_name or 'unknown'} "
                     "to H.264 MP4 so browsers can play it")
    return dst, media.probe_media(dst)


def import_file(path: Path, original_name: str, options: ImportOptions, user=None,
                extractor: str = "local", enqueue: bool = True, move: bool = False, speaker: str = "",
                title: str = "") -> Video:
    """A local media file (command SOURCE or an upload already on disk).

    Judged by probing its content, not its name; deduped by content hash.
    Raises ImportFailed for non-media, too-long or too-large files.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{original_name}: file not found.")
    size = path.stat().st_size
    if size > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise ImportFailed(f"{original_name}: too large ({size / 1e6:.0f} MB; the limit is "
                           f"{settings.IMPORT_MAX_UPLOAD_BYTES / 1e6:.0f} MB).")
    try:
        info = media.probe_media(path)
    except media.MediaError as exc:
        raise ImportFailed(f"{original_name}: {exc}.") from exc
    opts = options.resolved()
    check_duration(info.duration, opts.max_duration)
    digest = files.sha256_of(path)
    existing = Video.objects.filter(extractor=extractor, external_id=digest).first()
    if existing:
        if move:
            path.unlink(missing_ok=True)
        return existing
    title = (title or Path(original_name).stem)[:500]
    video = Video.objects.create(extractor=extractor, external_id=digest, title=title, speaker_hint=speaker[:255],
                                 language=opts.language[:16], options=options.to_dict(),
                                 created_by=user if getattr(user, "pk", None) else None,
                                 duration=info.duration)
    name = files.media_name("videos", video.pk, title, path.suffix or ".bin")
    try:
        if move:
            video.file.name = files.store_file(path, name)
        else:
            work = files.incoming_dir(f"copy-{video.pk}")
            try:
                tmp = work / ("source" + (path.suffix or ".bin"))
                shutil.copyfile(path, tmp)
                video.file.name = files.store_file(tmp, name)
            finally:
                files.remove_incoming(f"copy-{video.pk}")
    except OSError as exc:
        video.delete()
        if exc.errno == errno.ENOSPC:
            raise ImportFailed(DISK_FULL) from exc
        raise
    video.save(update_fields=["file", "updated_at"])
    if enqueue:
        enqueue_import(video.pk)
    return video


# --- retry, delete, recovery --------------------------------------------------------

def retry(video: Video) -> Video:
    """Failed video -> run again from where it stopped (download, or segmentation)."""
    if video.status != Video.Status.FAILED:
        return video
    if video.stage and video.stage != Video.Stage.DOWNLOADED and video.file:
        video.status, video.error = Video.Status.SEGMENTING, ""
        video.save(update_fields=["status", "error", "updated_at"])
        hand_off_to_segmentation(video.pk)
    else:
        reset_for_retry(video)
        enqueue_import(video.pk)
    return video


def delete_video(video: Video):
    """Remove the row and every file it owns (media, WAV, segment clips, crops)."""
    names = [video.file.name, video.audio.name]
    for seg in Segment.objects.filter(video=video).only("audio", "face_crops"):
        names.append(seg.audio.name)
        names.extend(seg.face_crops or [])
    video_id = video.pk
    video.delete()
    files.remove_incoming(video_id)
    transaction.on_commit(lambda: files.delete_stored(*[n for n in names if n]))
    transaction.on_commit(lambda: delete_proxies(video_id, leftovers=True))  # left by an unfinished segmentation


def requeue_interrupted(worker: str = "", stale_after: float | None = None) -> list[int]:
    """After a worker (re)start: videos left in `downloading` by this worker, or
    by anyone whose progress stopped long ago, go back to `queued` and their
    partial files are removed. Returns their ids (the caller enqueues them)."""
    stale_after = stale_after if stale_after is not None else getattr(settings, "IMPORT_STALE_SECONDS", 600)
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    ids = []
    for video in Video.objects.filter(status=Video.Status.DOWNLOADING):
        mine = worker and (video.options or {}).get("worker") == worker
        if mine or video.updated_at < cutoff:
            files.remove_incoming(video.pk)
            Video.objects.filter(pk=video.pk, status=Video.Status.DOWNLOADING).update(
                status=Video.Status.QUEUED, progress=0, updated_at=timezone.now())
            ids.append(video.pk)
    return ids
