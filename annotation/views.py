"""Pages: the annotation workspace (annotators), agreement and review (staff)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clips.models import Segment
from labelstudio_emo.emotions import EMOTIONS
from labelstudio_emo.permissions import is_annotator, staff_required

from . import agreement_store, selectors, services
from .export.aggregate import aggregate_segment_labels
from .models import FLAG_CHOICES
from .serializers import segment_payload
from .ties import tied_categories

KEY_HELP = [
    ("1-7", "choose the category (" + ", ".join(f"{i} {name}" for i, name in enumerate(EMOTIONS, 1)) + ")"),
    ("← → ↓ ↑", "move the valence-arousal point by 0.1 (Shift: 0.25)"),
    ("N W D B Q", "flags: not the speaker, several speakers, no face, bad audio, unsure"),
    ("Enter", "save and show the next segment"),
    ("S", "skip this segment"),
    ("U", "go back to edit the previous label (again: further back)"),
    ("Space", "pause / play"),
    ("R", "replay from the segment start"),
    ("?", "show / hide this help"),
]
FLAG_KEYS = {"not_speaker": "n", "several_speakers": "w", "no_face": "d", "bad_audio": "b", "unsure": "q"}


@login_required
def annotate(request):
    if not is_annotator(request.user):
        raise PermissionDenied("Annotators and staff only.")
    config = {
        "categories": list(EMOTIONS),
        "flags": [{"name": name, "label": label, "key": FLAG_KEYS[name]} for name, label in FLAG_CHOICES],
        "hidePrelabels": selectors.prelabels_hidden(),
        "doneToday": selectors.labels_done_today(request.user),
        "k": settings.ANNOTATION_LABELS_PER_SEGMENT,
    }
    return render(request, "annotation/annotate.html", {"config": config, "key_help": KEY_HELP,
                                                        "emotions": EMOTIONS, "flags": config["flags"]})


@staff_required
def agreement(request):
    snapshot, overview = agreement_store.stored_or_requested(), selectors.queue_overview()
    report = snapshot.report if snapshot else None
    confusion = report["teacher_confusion"] if report else []
    row_max = max((max(row) for row in confusion), default=0) or 1
    confusion_rows = [
        {"teacher": cls, "cells": [{"n": n, "shade": round(n / row_max, 3), "diag": i == j}
                                   for j, n in enumerate(row)], "total": sum(row)}
        for i, (cls, row) in enumerate(zip(report["classes"] if report else [], confusion))]
    return render(request, "annotation/agreement.html", {
        "report": report, "snapshot": snapshot, "confusion_rows": confusion_rows, "overview": overview})


@staff_required
def review_list(request):
    page = selectors.review_page(request.GET.get("open") == "1", request.GET.get("page"))
    return render(request, "annotation/review_list.html", {
        "page": page, "only_open": request.GET.get("open") == "1", "emotions": EMOTIONS})


@staff_required
def review_detail(request, segment_id: int):
    segment = get_object_or_404(Segment.objects.select_related("video"), pk=segment_id)
    labels = selectors.segment_labels_with_history(segment.pk)
    review = getattr(segment, "review", None)  # reverse one-to-one: None when absent
    gold = getattr(segment, "gold", None)
    summary = aggregate_segment_labels(labels, review=None)
    tie = tied_categories(label.category for label in labels)
    initial = review or gold or summary
    return render(request, "annotation/review_detail.html", {
        "segment": segment, "labels": labels, "review": review, "gold": gold, "summary": summary, "tie": tie,
        # A tie has no majority to suggest: the reviewer picks (the first tied category is preselected).
        "initial": {"category": getattr(initial, "category", None) or "neutral",
                    # rounded like the pad: a mean of 0.0333 would otherwise look like a typo to fix
                    "valence": round(getattr(initial, "valence", None) or 0.0, 2),
                    "arousal": round(getattr(initial, "arousal", None) or 0.0, 2)},
        "emotions": EMOTIONS, "payload": segment_payload(segment),
        "next_id": selectors.next_open_segment(segment.pk)})


def _values_from_post(post) -> services.LabelValues:
    try:
        valence, arousal = float(post.get("valence", "")), float(post.get("arousal", ""))
    except ValueError:
        raise services.AnnotationError("valence", "valence and arousal must be numbers between -1 and 1.")
    return services.LabelValues(post.get("category", ""), valence, arousal)


@staff_required
@require_POST
def review_save(request, segment_id: int):
    segment = get_object_or_404(Segment, pk=segment_id)
    action = request.POST.get("action", "review")
    try:
        if action in ("review", "review_next"):
            services.set_review(request.user, segment, _values_from_post(request.POST),
                                note=request.POST.get("note", "").strip())
            messages.success(request, f"Final label of segment {segment.pk} saved.")
        elif action == "clear_review":
            services.clear_review(segment)
            messages.success(request, f"Final label of segment {segment.pk} removed.")
        elif action == "gold":
            values = _values_from_post(request.POST)
            services.set_gold(segment, values.category, values.valence, values.arousal)
            messages.success(request, f"Segment {segment.pk} is now gold ({values.category}).")
        elif action == "clear_gold":
            services.clear_gold(segment)
            messages.success(request, f"Segment {segment.pk} is no longer gold.")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except services.AnnotationError as error:
        messages.error(request, error.message)
        return redirect("review-detail", segment_id=segment.pk)
    if action == "review_next":
        nxt = selectors.next_open_segment(segment.pk)
        if nxt:
            return redirect("review-detail", segment_id=nxt)
        messages.info(request, "No other segment is waiting for review.")
    return redirect("review-detail", segment_id=segment.pk)

