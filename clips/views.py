"""Staff pages: Import, Videos (live progress), video detail (player + segments)."""

import errno
import re
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from labelstudio_emo.byte_ranges import file_response
from labelstudio_emo.media_access import stored_file
from labelstudio_emo.permissions import staff_required
from labelstudio_emo.validation import local_next

from . import recovery, selectors
from .importing import files, services
from .importing.forms import ImportForm, MaxSizeUploadHandler
from .importing.inputs import parse_csv, parse_url_lines
from .importing.safety import UnsafeURL, check_url
from .importing.sources import ImportFailed
from .importing.tasks import submit_rows
from .models import Video

MAX_MESSAGES = 10


@csrf_exempt  # CSRF is checked below, after the size guard is installed
@staff_required
def import_page(request):
    if request.method == "POST":
        # Must run before anything reads request.POST/FILES.
        request.upload_handlers.insert(0, MaxSizeUploadHandler(request))
    return _import_page(request)


@csrf_protect
def _import_page(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        form.too_large = getattr(request, "too_large_uploads", [])
        for name in form.too_large:
            messages.error(request, f"{name}: larger than the upload limit; not imported.")
        if form.is_valid():
            queued, known, retried, errors = _submit(request, form)
            if queued - known - retried:
                n = queued - known - retried
                messages.success(request, f"Queued {n} item{'s' if n != 1 else ''} for import.")
            if retried:
                messages.success(request, f"Retrying {retried} earlier failed import{'s' if retried != 1 else ''}.")
            if known:
                messages.info(request, f"{known} link{'s were' if known != 1 else ' was'} already imported "
                                       "(the existing video is kept).")
            for error in errors[:MAX_MESSAGES]:
                messages.error(request, error)
            if len(errors) > MAX_MESSAGES:
                messages.error(request, f"... and {len(errors) - MAX_MESSAGES} more problems.")
            if queued:
                return redirect("clips:videos")
            return redirect("clips:import")
    return render(request, "clips/import.html", {"form": form})


def _submit(request, form) -> tuple[int, int, int, list[str]]:
    """(items queued, links already imported, failed links retried, problems)."""
    options, user = form.options(), request.user
    requests = parse_url_lines(form.cleaned_data.get("urls", ""))
    errors: list[str] = []
    count = known = retried = 0
    csv_file = form.cleaned_data.get("csv_file")
    if csv_file:
        rows, row_errors = _csv_rows(csv_file)
        errors += row_errors
        if rows:  # the slow part (DNS, one row and one task each) runs in a task
            transaction.on_commit(lambda: submit_rows.delay([asdict(r) for r in rows], options.to_dict(),
                                                            getattr(user, "pk", None)))
            count += len(rows)
    for req in requests:
        existing = services.find_existing(req.url.strip())
        video = services.submit_url(req, options, user)
        count += video.status != Video.Status.FAILED  # the banner counts what was really queued
        if existing is not None and existing.status == Video.Status.FAILED and video.status != Video.Status.FAILED:
            retried += 1
        elif existing is not None:
            known += 1
        if video.status == Video.Status.FAILED and video.error:
            errors.append(f"{req.url[:80]}: {video.error}")
    for upload in form.cleaned_data.get("files") or []:
        try:
            _import_upload(upload, options, user)
            count += 1
        except ImportFailed as exc:
            errors.append(str(exc))
    return count, known, retried, errors


def _csv_rows(csv_file) -> tuple[list, list[str]]:
    """Rows worth queueing, after the checks that cost nothing (syntax, times,
    scheme, literal addresses); problems as messages."""
    try:
        rows, errors = parse_csv(csv_file.read().decode("utf-8-sig"))
    except UnicodeDecodeError:
        return [], [f"{csv_file.name}: not a UTF-8 text file."]
    good = []
    for row in rows:
        try:
            check_url(row.url, resolve=False)
        except UnsafeURL as exc:
            errors.append(f"CSV row {row.line}: {exc}")
            continue
        good.append(row)
    return good, errors


def _import_upload(upload, options, user) -> Video:
    name = Path(upload.name).name
    try:
        work = files.incoming_dir(f"upload-{uuid.uuid4().hex}")
        try:
            local = work / (re.sub(r"[^\w.-]", "_", name)[-100:] or "upload")
            with open(local, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            return services.import_file(local, name, options, user, extractor="upload", move=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:  # disk full, or a read-only / foreign-owned MEDIA_ROOT
        if exc.errno == errno.ENOSPC:
            raise ImportFailed(f"{name}: {services.DISK_FULL}") from exc
        raise ImportFailed(f"{name}: the server cannot store files ({exc.strerror or exc}); nothing was "
                           "imported. An administrator must make MEDIA_ROOT writable.") from exc


@staff_required
def video_list(request):
    status = request.GET.get("status") or None
    if status not in Video.Status.values:
        status = None
    search = request.GET.get("q", "").strip()
    page = Paginator(selectors.videos(status=status, search=search), 50).get_page(request.GET.get("page"))
    counts = selectors.status_counts(search)  # the filter counts follow the search
    progress = selectors.label_progress([v.pk for v in page.object_list])
    for video in page.object_list:
        video.labelling = progress.get(video.pk)
    return render(request, "clips/videos.html", {
        "page": page, "status": status, "q": search,
        "statuses": [(s.value, s.label, counts.get(s.value, 0)) for s in Video.Status],
        "total": sum(counts.values()),
    })


@staff_required
def video_detail(request, pk):
    video = get_object_or_404(selectors.videos(), pk=pk)
    # prelabels prefetched, the reviewer's final label joined: no query per row
    segments = list(selectors.segments_of(video.pk).select_related("review"))
    for seg in segments:
        seg.crop_url = default_storage.url(seg.face_crops[0]) if seg.face_crops else ""
        seg.speaker = _speaker_name(seg.face_track)
        seg.prelabel = selectors.shown_prelabel(seg)
    scenes = list(video.scenes.annotate(n_segments=Count("segments")).order_by("index"))
    tracks = list(video.tracks.select_related("person").order_by("start", "pk"))
    return render(request, "clips/video_detail.html", {
        "video": video, "segments": segments, "scenes": scenes,
        "player_url": reverse("clips:video-media", args=[video.pk]) if video.file else "",
        "timeline": _timeline(video, scenes, tracks, segments),
        "stalled": recovery.is_stalled(video), "lease_minutes": round(recovery.lease_seconds() / 60),
    })


OFF_SCREEN = "off-screen"


def _speaker_name(track) -> str:
    if track is None:
        return ""
    if track.person:
        return track.person.name
    return f"face #{track.identity}" if track.identity >= 0 else f"face (track {track.pk})"


def _timeline(video, scenes, tracks, segments) -> dict:
    """What the timeline and the face box overlay draw (json_script): one lane
    per person or face identity, one for off-screen speech; scene cuts; each
    segment with its speaker's lane, prelabel, final label and track."""
    lanes = list(dict.fromkeys(_speaker_name(t) for t in tracks))
    if any(seg.face_track_id is None for seg in segments):
        lanes.append(OFF_SCREEN)
    end = max([video.duration or 0.0] + [seg.end for seg in segments] + [t.end for t in tracks])
    return {
        "duration": end,
        "cuts": [scene.start for scene in scenes[1:]],
        "lanes": lanes,
        "tracks": [{"id": t.pk, "lane": _speaker_name(t), "start": t.start, "end": t.end, "boxes": t.boxes}
                   for t in tracks],
        "segments": [_timeline_segment(seg) for seg in segments],
    }


def _timeline_segment(seg) -> dict:
    review = getattr(seg, "review", None)  # reverse one-to-one: None when not reviewed
    prelabel = seg.prelabel.category if seg.prelabel else None
    label = " · ".join(part for part in (seg.speaker, prelabel or "") if part)
    return {"id": seg.pk, "start": seg.start, "end": seg.end, "box": seg.box, "label": label,
            "track": seg.face_track_id, "lane": seg.speaker or OFF_SCREEN,
            "prelabel": prelabel, "final": review.category if review else None}


@staff_required
@require_POST
def video_retry(request, pk):
    video = get_object_or_404(Video, pk=pk)
    if video.status == Video.Status.FAILED:
        services.retry(video)
        messages.success(request, f"“{video}” queued again.")
    elif recovery.retry_stalled(video):
        messages.success(request, f"“{video}” had stopped making progress; queued again.")
    else:
        messages.info(request, f"“{video}” has not failed and is still making progress; nothing to retry.")
    return redirect(local_next(request, reverse("clips:videos")))


@staff_required
@require_POST
def video_delete(request, pk):
    video = get_object_or_404(Video, pk=pk)
    title = str(video)
    services.delete_video(video)
    messages.success(request, f"Deleted “{title}” and its files.")
    return redirect("clips:videos")


@staff_required
def video_media(request, pk):
    """The video file for the player, with HTTP Range support so seeking works."""
    video = get_object_or_404(Video, pk=pk)
    if not video.file:
        raise Http404
    return file_response(request, stored_file(video.file.name), _content_type(video))


def _content_type(video) -> str:
    import mimetypes
    guessed, _ = mimetypes.guess_type(video.file.name)
    return guessed or ("video/mp4" if video.has_video else "audio/mpeg")
