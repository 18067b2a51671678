"""Read-side helpers of the inference app (no writes): which model and which
prelabel count, and what the Models page and API show."""

from __future__ import annotations

from typing import Sequence

from django.core.files.storage import default_storage
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from clips.models import Segment

from .models import ModelVersion, Prelabel

Kind = ModelVersion.Kind


# --- which model, which prelabel -------------------------------------------------

def current_model_id(kind: str) -> int | None:
    """The active model of a kind, else the newest one (None when there is none)."""
    return (ModelVersion.objects.filter(kind=kind).order_by("-is_active", "-created_at", "-pk")
            .values_list("pk", flat=True).first())


# The prelabel that counts for a segment (what annotators and the video page
# are shown, what ranks the queue, what exports carry): of the preferred kind
# the active version's, else the newest; when that kind has none, the other
# kind's in the same order. The preferred kind is the one that can perceive
# the speech: the teacher (a face model) for on-screen segments, the student
# (a speech model) for off-screen ones. Two readers fix it instead: the queue
# ranks by the teacher's doubt and exports fill a "teacher" column, so both
# prefer the teacher whatever the segment. Written twice, side by side: in
# Python over prefetched prelabels and as an ORDER BY for the plain-SQL hot
# paths (tests/test_prelabel_rule.py holds every reader to the same pick).

def preferred_kind(offscreen: bool) -> str:
    return Kind.STUDENT if offscreen else Kind.TEACHER


def counting_prelabel(newest_first: Sequence[Prelabel], prefer: str) -> Prelabel | None:
    """The prelabel that counts among a segment's prelabels (newest first, with
    model_version loaded), preferring kind `prefer` (see preferred_kind)."""
    def rank(indexed):
        position, prelabel = indexed
        mv = prelabel.model_version
        return (mv.kind != prefer, not mv.is_active, position)

    return min(enumerate(newest_first), key=rank, default=(None, None))[1]


def counting_prelabel_order_sql(prelabel: str = "p", model: str = "m", segment: str = "s",
                                prefer: str | None = None) -> tuple[str, list]:
    """ORDER BY (text, params) putting the prelabel that counts first, over
    prelabel `p` joined to its model `m` and segment `s` (aliases); `prefer`
    None = the segment's preferred kind."""
    if prefer is None:
        kind, params = f"(CASE WHEN {segment}.face_track_id IS NULL THEN %s ELSE %s END)", [Kind.STUDENT, Kind.TEACHER]
    else:
        kind, params = "%s", [prefer]
    return (f"CASE WHEN {model}.kind = {kind} THEN 0 ELSE 1 END, CASE WHEN {model}.is_active THEN 0 ELSE 1 END, "
            f"{prelabel}.created_at DESC, {prelabel}.id DESC", params)


def counting_prelabel_id_sql(segment: str = "s", prefer: str | None = None) -> tuple[str, list]:
    """A correlated subquery (text, params): the id of the prelabel that counts
    for segment alias `segment` (NULL when it has none). The segment is joined
    again inside: SQLite's ORDER BY cannot see the outer query's columns."""
    order, params = counting_prelabel_order_sql("cp", "cm", "cs", prefer)
    own_segment = f"JOIN {Segment._meta.db_table} cs ON cs.id = cp.segment_id " if prefer is None else ""
    return (f"(SELECT cp.id FROM {Prelabel._meta.db_table} cp "
            f"JOIN {ModelVersion._meta.db_table} cm ON cm.id = cp.model_version_id {own_segment}"
            f"WHERE cp.segment_id = {segment}.id ORDER BY {order} LIMIT 1)", params)


# --- Models page -----------------------------------------------------------------

# Figures shown for students, in this order, when present in metrics.
STUDENT_FIGURES = ("uar", "wa", "accuracy", "macro_f1", "ccc_valence", "ccc_arousal")


def model_versions(*kinds: str):
    # A count per version from the prelabel index (COUNT(*) of an index range), not a join of
    # every prelabel grouped by the version's columns (~4x slower at 100,000 prelabels).
    per_version = (Prelabel.objects.filter(model_version=OuterRef("pk")).order_by()
                   .values("model_version").annotate(n=Count("*")).values("n"))
    return (ModelVersion.objects.filter(kind__in=kinds or ModelVersion.Kind.values)
            .annotate(prelabel_count=Coalesce(Subquery(per_version), 0)).order_by("kind", "name", "-version"))


def _figures(mv: ModelVersion) -> list[tuple[str, str]]:
    metrics = mv.metrics or {}
    figures = []
    evaluation = metrics.get("evaluation") or {}
    if evaluation:
        figures += [("accuracy", f"{evaluation['accuracy']:.3f}"), ("macro-F1", f"{evaluation['macro_f1']:.3f}"),
                    ("n", str(evaluation["n"])), ("ms/face", f"{evaluation['ms_per_face']:.1f}")]
    if "published_test_accuracy" in metrics:
        figures.append(("published acc.", f"{metrics['published_test_accuracy']:.2f}"))
    for key in STUDENT_FIGURES:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not evaluation:
            figures.append((key, f"{value:.3f}"))
    return figures


def model_rows(kind: str) -> list[dict]:
    """Versions of a kind with what the Models page shows for each."""
    rows = []
    active = ModelVersion.objects.filter(kind=kind, is_active=True).first()
    for mv in model_versions(kind):
        evaluation = (mv.metrics or {}).get("evaluation") or {}
        png = evaluation.get("confusion_png")
        rows.append({"mv": mv, "figures": _figures(mv), "evaluation": evaluation,
                     "older": bool(active and not mv.is_active and mv.created_at < active.created_at),
                     "confusion_url": default_storage.url(png) if png else None})
    return rows


def with_faces(queryset):
    """Segments a face model can prelabel (they have face crops)."""
    return queryset.exclude(face_crops=[]).exclude(face_crops__isnull=True)


def missing_prelabels(model_version: ModelVersion) -> int:
    """Segments with faces that this version has not prelabelled yet."""
    return with_faces(Segment.objects).exclude(prelabels__model_version=model_version).count()


def prelabel_status(active_teacher: ModelVersion | None) -> dict:
    if active_teacher is None:
        return {"active": None, "missing": None}
    return {"active": active_teacher, "missing": missing_prelabels(active_teacher)}
