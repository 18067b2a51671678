"""Celery tasks of the annotation app (exports run on the `io` queue)."""

from celery import shared_task

from annotation.export.build import BUILD_TASK, build_export


@shared_task(name=BUILD_TASK)
def build_export_task(export_id: int) -> dict:
    """Build one export; the Export row records progress, result or the reason it failed."""
    export = build_export(export_id)
    if export is None:
        return {"id": export_id, "status": "deleted", "error": "the export was deleted before it was built"}
    return {"id": export.id, "status": export.status, "error": export.error}
