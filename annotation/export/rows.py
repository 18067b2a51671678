"""Selector: which segments go into an export, and their manifest rows.

Reads the database only (no files are opened here apart from existence
checks); the zip writer streams the media afterwards. One row is a few
hundred bytes, so holding the rows of a whole corpus is cheap - the audio and
images are never held.
"""

import datetime as dt
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, Prefetch, Q

from annotation.export.aggregate import aggregate_segment_labels
from annotation.models import FLAGS, Label
from clips.models import Segment
from inference.models import ModelVersion, Prelabel
from inference.selectors import counting_prelabel
from labelstudio_emo.emotions import EMOTIONS


class ExportError(Exception):
    """The export cannot be made; the message says why, in user terms."""


@dataclass(frozen=True)
class ExportParams:
    videos: tuple[int, ...] = ()          # empty = every video
    date_from: str | None = None          # labels created on/after this day (YYYY-MM-DD, UTC)
    date_to: str | None = None            # ... and on/before this day
    min_labels: int = 1                   # human labels a segment needs
    min_agreement: float = 0.0            # vote share of the final category
    exclude_flags: tuple[str, ...] = ()   # drop segments that half or more raters flagged so
    include_prelabel_only: bool = False   # also segments with no human label but a teacher prelabel
    seed: int = 0                         # split seed

    def as_dict(self) -> dict:
        return {"videos": list(self.videos), "date_from": self.date_from, "date_to": self.date_to,
                "min_labels": self.min_labels, "min_agreement": self.min_agreement,
                "exclude_flags": list(self.exclude_flags),
                "include_prelabel_only": self.include_prelabel_only, "seed": self.seed}


def _int(value, name: str, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ExportError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum or (isinstance(value, float) and value != number):
        raise ExportError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return number


def _day(value, name: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ExportError(f"{name} must be a date like 2024-03-31, got {value!r}") from None


def parse_params(raw: dict | None) -> ExportParams:
    """Validate user-supplied export parameters (API, form, command)."""
    raw = dict(raw or {})
    unknown = set(raw) - set(ExportParams.__dataclass_fields__)
    if unknown:
        raise ExportError(f"unknown export parameter(s): {', '.join(sorted(unknown))}")
    videos = raw.get("videos") or []
    if isinstance(videos, (int, str)):
        videos = [videos]
    videos = tuple(sorted({_int(v, "videos", 1) for v in videos}))
    try:
        min_agreement = float(raw.get("min_agreement") or 0.0)
    except (TypeError, ValueError):
        raise ExportError(f"min_agreement must be a number between 0 and 1, got {raw.get('min_agreement')!r}") from None
    if not 0.0 <= min_agreement <= 1.0:
        raise ExportError(f"min_agreement must be between 0 and 1, got {min_agreement}")
    flags = raw.get("exclude_flags") or []
    if isinstance(flags, str):
        flags = [f for f in flags.split(",") if f]
    bad = sorted(set(flags) - set(FLAGS))
    if bad:
        raise ExportError(f"unknown flag(s) {', '.join(bad)}; known: {', '.join(FLAGS)}")
    params = ExportParams(
        videos=videos,
        date_from=_day(raw.get("date_from"), "date_from"),
        date_to=_day(raw.get("date_to"), "date_to"),
        min_labels=_int(raw.get("min_labels", 1), "min_labels", 1),
        min_agreement=min_agreement,
        exclude_flags=tuple(f for f in FLAGS if f in set(flags)),
        include_prelabel_only=bool(raw.get("include_prelabel_only", False)),
        seed=_int(raw.get("seed", 0), "seed", 0),
    )
    if params.date_from and params.date_to and params.date_from > params.date_to:
        raise ExportError("date_from is after date_to")
    return params


def pseudonym(user_id: int) -> str:
    """Stable, non-reversible rater id: the same person gets the same name in every export."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"annotator:{user_id}".encode(), hashlib.sha256)
    return "rater-" + digest.hexdigest()[:10]


def speaker_of(segment) -> str | None:
    """Speaker identity: the named person, else the face cluster within its video, else unknown."""
    track = segment.face_track
    if track is None:
        return None
    if track.person_id is not None:
        return f"person:{track.person.name}"
    if track.identity is not None and track.identity >= 0:
        return f"video{segment.video_id}:face{track.identity}"
    return None


@dataclass
class ExportItem:
    row: dict                      # the manifest row (split filled in later)
    audio_src: str                 # storage name of the segment's WAV
    face_srcs: list[str]           # storage names, in the order of row["faces"]
    strat_category: str | None     # human category, else the teacher's (for stratification)


@dataclass
class Selection:
    items: list[ExportItem]
    skipped: Counter = field(default_factory=Counter)
    teacher_models: Counter = field(default_factory=Counter)
    reviewed: int = 0              # kept segments whose final label is a reviewer's


def _label_filter(params: ExportParams, prefix: str = "") -> Q:
    q = Q()
    if params.date_from:
        q &= Q(**{f"{prefix}created_at__date__gte": params.date_from})
    if params.date_to:
        q &= Q(**{f"{prefix}created_at__date__lte": params.date_to})
    return q


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _teacher(segment) -> dict | None:
    """The teacher prelabel that counts (inference.selectors.counting_prelabel)."""
    chosen = counting_prelabel(segment.teacher_prelabels, ModelVersion.Kind.TEACHER)  # teachers only, prefetched
    if chosen is None:
        return None
    mv = chosen.model_version
    return {"model": mv.label, "probs": [float(p) for p in chosen.probs],
            "valence": chosen.valence, "arousal": chosen.arousal}


def _teacher_category(teacher: dict | None) -> str | None:
    if not teacher or len(teacher["probs"]) != len(EMOTIONS):
        return None
    probs = teacher["probs"]
    return EMOTIONS[max(range(len(probs)), key=probs.__getitem__)]


def candidate_segments(params: ExportParams):
    """Segments worth looking at, with labels, review, speaker and teacher prelabels prefetched."""
    label_q = _label_filter(params)
    has_labels = Exists(Label.objects.filter(label_q, segment=OuterRef("pk")))
    wanted = has_labels
    if params.include_prelabel_only:
        wanted = wanted | Exists(Prelabel.objects.filter(segment=OuterRef("pk"),
                                                         model_version__kind=ModelVersion.Kind.TEACHER))
    qs = Segment.objects.filter(wanted)
    if params.videos:
        qs = qs.filter(video_id__in=params.videos)
    teacher_prelabels = (Prelabel.objects.filter(model_version__kind=ModelVersion.Kind.TEACHER)
                         .select_related("model_version").order_by("-created_at", "-id"))
    return (qs.select_related("video", "face_track__person", "review")
            .prefetch_related(Prefetch("labels", queryset=Label.objects.filter(label_q).order_by("id"),
                                       to_attr="export_labels"),
                              Prefetch("prelabels", queryset=teacher_prelabels, to_attr="teacher_prelabels"))
            .order_by("video_id", "start", "id"))


def select_items(params: ExportParams, check_files: bool = True, progress=None) -> Selection:
    """Apply the filters and build one manifest row per kept segment.
    `progress(done, total)` is called every few hundred segments."""
    selection = Selection(items=[])
    storage = default_storage
    candidates = candidate_segments(params)
    total = candidates.count() if progress else 0
    for done, segment in enumerate(candidates.iterator(chunk_size=500), 1):
        if progress and done % 250 == 0:
            progress(done, total)
        labels = segment.export_labels
        try:
            review = segment.review
        except Segment.review.RelatedObjectDoesNotExist:
            review = None
        n = len(labels)
        if n == 0 and not params.include_prelabel_only:
            continue
        if 0 < n < params.min_labels:
            selection.skipped["fewer_labels_than_min"] += 1
            continue
        if params.exclude_flags and n and 2 * sum(
                1 for label in labels if set(label.flags or ()) & set(params.exclude_flags)) >= n:
            selection.skipped["excluded_flags"] += 1
            continue
        aggregate = aggregate_segment_labels(labels, review=review)
        if n and (aggregate.vote_share or 0.0) < params.min_agreement:
            selection.skipped["below_min_agreement"] += 1
            continue
        teacher = _teacher(segment)
        if n == 0 and teacher is None:
            continue
        audio_src = segment.audio.name if segment.audio else ""
        if not audio_src or (check_files and not storage.exists(audio_src)):
            selection.skipped["missing_audio"] += 1
            continue
        face_srcs = [p for p in (segment.face_crops or []) if p and (not check_files or storage.exists(p))]
        selection.skipped["missing_face_crops"] += len(segment.face_crops or []) - len(face_srcs)
        selection.reviewed += review is not None
        if teacher:
            selection.teacher_models[teacher["model"]] += 1
        video = segment.video
        row = {
            "segment_id": segment.id,
            "video_id": video.id,
            "video_url": video.webpage_url or video.source_url,
            "video_title": video.title,
            "channel": video.channel,
            "license": video.license,
            "start": round(segment.start, 3),
            "end": round(segment.end, 3),
            "speaker": speaker_of(segment),
            "speaker_hint": video.speaker_hint or None,
            "audio": f"audio/{segment.id}.wav",
            "faces": [f"faces/{segment.id}/{i}.jpg" for i in range(len(face_srcs))],
            "labels": [{"annotator": pseudonym(label.annotator_id), "category": label.category,
                        "valence": label.valence, "arousal": label.arousal,
                        "flags": list(label.flags or [])} for label in labels],
            "category": aggregate.category,
            "vote_share": _round(aggregate.vote_share),
            "valence": _round(aggregate.valence),
            "arousal": _round(aggregate.arousal),
            "teacher": teacher,
            "split": None,
        }
        selection.items.append(ExportItem(row=row, audio_src=audio_src, face_srcs=face_srcs,
                                          strat_category=aggregate.category or _teacher_category(teacher)))
    selection.skipped = Counter({k: v for k, v in selection.skipped.items() if v})
    return selection


def explain_empty(params: ExportParams, selection: Selection) -> str:
    """Why nothing was exported, in words a user can act on."""
    labelled = Segment.objects.filter(labels__isnull=False).distinct().count()
    if labelled == 0:
        return ("Nothing to export: no segment has a human label yet. Annotate some segments first"
                + (", or tick 'include prelabel-only segments'." if not params.include_prelabel_only else "."))
    reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(selection.skipped.items()))
    return (f"Nothing to export: {labelled} segment(s) have labels, but none pass these filters"
            + (f" (dropped - {reasons})." if reasons else " (none match the chosen videos or dates)."))
