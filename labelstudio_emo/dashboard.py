"""The staff home page's figures: each one an indexed count or a small table's
read (no per-segment work), so the page stays fast at 100,000 segments."""

from django.db.models import Count
from django.urls import reverse

from annotation import agreement_store, progress, queue_state
from clips.models import Segment, Video
from inference.models import TrainingRun


def stored_alpha() -> dict | None:
    """α from the stored agreement report, or None when none was computed yet
    (the report itself is computed by a task, never by this page)."""
    snapshot = agreement_store.stored()
    if snapshot is None:
        return None
    report = snapshot.report
    return {"category": report["alpha_category"], "valence": report["alpha_valence"],
            "arousal": report["alpha_arousal"], "computed_at": snapshot.computed_at, "n_labels": snapshot.n_labels}


def figures() -> dict:
    queue_state.ensure_fresh()  # the queue's entries reflect new imports before anyone asked for a segment
    by_status = dict(Video.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    videos_url = reverse("clips:videos")
    return {
        "videos": [{"label": s.label, "n": by_status.get(s.value, 0), "url": f"{videos_url}?status={s.value}"}
                   for s in Video.Status],
        "videos_total": sum(by_status.values()),
        "segments": Segment.objects.count(),
        "still_needed": progress.segments_still_needing_labels(),
        "queue_depth": progress.queue_depth(),
        "labels": progress.label_activity(),
        "alpha": stored_alpha(),
        "last_run": TrainingRun.objects.order_by("-created_at", "-pk").first(),
    }
