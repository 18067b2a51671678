"""Receivers of the annotation app. Imported by AnnotationConfig.ready(), when
every model is loaded."""

from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from clips.readiness import video_ready
from inference.models import Prelabel
from labelstudio_emo.permissions import ANNOTATORS_GROUP

from . import agreement_store, queue_state, segment_aggregates
from .models import Assignment, Export, GoldLabel, Label, ReviewedLabel


@receiver(post_migrate)
def ensure_annotators_group(sender, app_config=None, **kwargs):
    if app_config is None or app_config.name != "annotation":
        return
    Group.objects.get_or_create(name=ANNOTATORS_GROUP)


# Deleted labels and assignments give their queue place back (annotation/queue_state.py).
post_delete.connect(queue_state.label_deleted, sender=Label, dispatch_uid="queue_label_deleted")
post_delete.connect(queue_state.assignment_deleted, sender=Assignment, dispatch_uid="queue_assignment_deleted")


# A label written, changed or deleted (API, admin, shell): its segment's summary for the review
# list (annotation/segment_aggregates.py) is rewritten in the same transaction, and the stored
# agreement report asks for a refresh once committed. labelstudio_emo/fast_insert.py sends
# post_save too, so the API's fast insert is covered.
@receiver(post_save, sender=Label, dispatch_uid="aggregate_label_saved")
@receiver(post_delete, sender=Label, dispatch_uid="aggregate_label_deleted")
def label_changed(sender, instance, **kwargs):
    segment_aggregates.refresh(instance.segment_id)
    transaction.on_commit(agreement_store.labels_changed)


@receiver(post_save, sender=ReviewedLabel, dispatch_uid="aggregate_reviewed")
@receiver(post_delete, sender=ReviewedLabel, dispatch_uid="aggregate_review_cleared")
def review_changed(sender, instance, **kwargs):
    segment_aggregates.mark(instance.segment_id, reviewed=kwargs["signal"] is post_save)


@receiver(post_save, sender=GoldLabel, dispatch_uid="aggregate_gold")
@receiver(post_delete, sender=GoldLabel, dispatch_uid="aggregate_gold_cleared")
def gold_changed(sender, instance, **kwargs):
    segment_aggregates.mark(instance.segment_id, gold=kwargs["signal"] is post_save)
    transaction.on_commit(agreement_store.labels_changed)  # gold segments are measured apart


@receiver(post_delete, sender=Export, dispatch_uid="export_file_removed")
def remove_export_file(sender, instance, **kwargs):
    """A deleted export (admin, shell) takes its zip with it, once the delete is committed."""
    name = instance.file.name if instance.file else ""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


@receiver(post_save, sender=Prelabel, dispatch_uid="queue_prelabel_rewritten")
def prelabel_rewritten(sender, instance, created, **kwargs):
    """A prelabel changed in place (re-run of the same model): the queue's
    ranking of its segment was computed from the old one. New prelabels need
    nothing here: the queue's fingerprint already sees them."""
    if not created:
        queue_state.recompute({instance.segment_id})


@receiver(video_ready, dispatch_uid="queue_video_ready")
def rank_ready_video(sender, video_id, **kwargs):
    """The worker that finished a video ranks its segments now (an incremental
    update), so the first annotator to ask afterwards finds the queue current."""
    queue_state.ensure_fresh()
