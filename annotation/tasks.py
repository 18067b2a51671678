"""Celery tasks of the annotation app (exports run on the `io` queue)."""

from celery import shared_task

from annotation.agreement_store import REFRESH_TASK, refresh
from annotation.export.build import BUILD_TASK, build_export
from annotation.queue_state import REBUILD_TASK, rebuild


@shared_task(name=BUILD_TASK)
def build_export_task(export_id: int) -> dict:
    """Build one export; the Export row records progress, result or the reason it failed."""
    export = build_export(export_id)
    if export is None:
        return {"id": export_id, "status": "deleted", "error": "the export was deleted before it was built"}
    return {"id": export.id, "status": export.status, "error": export.error}


@shared_task(name=REFRESH_TASK)
def refresh_agreement_task() -> dict:
    """Recompute the stored agreement report (queued by agreement_store.request_refresh)."""
    snapshot = refresh()
    return {"computed_at": snapshot.computed_at.isoformat(), "n_labels": snapshot.n_labels,
            "seconds": snapshot.seconds}


@shared_task(name=REBUILD_TASK)
def rebuild_queue_task() -> dict:
    """Recompute every queue entry after a new model or queue setting (queue_state.request_rebuild)."""
    rebuild()
    return {"ok": True}
