"""Read-side helpers for the Models page and API (no writes)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db.models import Count

from .models import ModelVersion
from .teachers.prelabel import missing_prelabels

# Figures shown for students, in this order, when present in metrics.
STUDENT_FIGURES = ("uar", "wa", "accuracy", "macro_f1", "ccc_valence", "ccc_arousal")


def model_versions(*kinds: str):
    return (ModelVersion.objects.filter(kind__in=kinds or ModelVersion.Kind.values)
            .annotate(prelabel_count=Count("prelabels")).order_by("kind", "name", "-version"))


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


def prelabel_status(active_teacher: ModelVersion | None) -> dict:
    if active_teacher is None:
        return {"active": None, "missing": None}
    return {"active": active_teacher, "missing": missing_prelabels(active_teacher)}
