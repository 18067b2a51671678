"""Writes of the inference app that pages, the API and commands call:
registering and activating model versions, with the work that follows.

A newly active student prelabels the (off-screen) segments it covers. The
student is a later stage (it trains on annotation's exports), so its task is
sent by name rather than imported; the registry itself only keeps versions.
"""

import logging

from django.db import transaction

from labelstudio_emo.celery import task_by_name

from . import registry
from .models import ModelVersion

log = logging.getLogger(__name__)

STUDENT_PRELABEL_TASK = "gpu.student_prelabel_missing"


def activate(model_version: ModelVersion) -> ModelVersion:
    """Make this version the active one of its kind (registry.RegistryError
    when a concurrent activation won); a student then starts prelabelling."""
    registry.activate(model_version)
    _after_activation(model_version)
    return model_version


def register_model(kind: str, name: str, arch: str, weights, *, make_active: bool = False,
                   **options) -> ModelVersion:
    """registry.register_model, then the follow-up work when the new version
    became active (asked for, or the first of its kind)."""
    model_version = registry.register_model(kind, name, arch, weights, make_active=make_active, **options)
    if model_version.is_active:
        _after_activation(model_version)
    return model_version


def _after_activation(model_version: ModelVersion) -> None:
    if model_version.kind == ModelVersion.Kind.STUDENT:
        transaction.on_commit(enqueue_student_prelabels)


def enqueue_student_prelabels() -> None:
    """The active student prelabels the segments it covers (gpu queue)."""
    try:
        task_by_name(STUDENT_PRELABEL_TASK).delay()
    except Exception:  # noqa: BLE001 - new videos get student prelabels anyway
        log.exception("could not queue student prelabelling")
