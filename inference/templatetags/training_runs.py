"""Data for the training-runs partial, which other pages include as is
(`{% include "inference/_training_runs.html" %}`), so it fetches its own."""

from django import template

from annotation.models import Export
from inference.models import TrainingRun

register = template.Library()


@register.simple_tag
def recent_training_runs(limit: int = 10):
    return list(TrainingRun.objects.select_related("model_version", "created_by").order_by("-created_at", "-id")[:limit])


@register.simple_tag
def live_training_run():
    return TrainingRun.live()  # not the student's services: they import torch


@register.simple_tag
def finished_exports(limit: int = 20):
    return list(Export.objects.filter(status=Export.Status.SUCCEEDED).order_by("-created_at", "-id")[:limit])


@register.filter
def pct(value):
    """0.734 -> '73.4%'; missing -> '-'."""
    if value is None or value == "":
        return "-"
    try:
        return f"{100 * float(value):.1f}%"
    except (TypeError, ValueError):
        return "-"


@register.filter
def num3(value):
    if value is None or value == "":
        return "-"
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"
