"""Receivers of the annotation app. Imported by AnnotationConfig.ready(), when
every model is loaded."""

from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from inference.models import Prelabel
from labelstudio_emo.permissions import ANNOTATORS_GROUP

from . import queue_state
from .models import Assignment, Export, Label, QueueSnapshot


@receiver(post_migrate)
def ensure_annotators_group(sender, app_config=None, **kwargs):
    if app_config is None or app_config.name != "annotation":
        return
    Group.objects.get_or_create(name=ANNOTATORS_GROUP)


# Deleted labels and assignments give their queue place back (annotation/queue_state.py).
post_delete.connect(queue_state.label_deleted, sender=Label, dispatch_uid="queue_label_deleted")
post_delete.connect(queue_state.assignment_deleted, sender=Assignment, dispatch_uid="queue_assignment_deleted")


@receiver(post_delete, sender=Export, dispatch_uid="export_file_removed")
def remove_export_file(sender, instance, **kwargs):
    """A deleted export (admin, shell) takes its zip with it, once the delete is committed."""
    name = instance.file.name if instance.file else ""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


@receiver(post_save, sender=Prelabel, dispatch_uid="queue_prelabel_rewritten")
def prelabel_rewritten(sender, instance, created, **kwargs):
    """A prelabel changed in place (re-run of the same model): the queue's
    ranking was computed from the old one. New prelabels need nothing here:
    the queue's fingerprint already sees them."""
    if not created:
        QueueSnapshot.objects.filter(pk=1).exclude(fingerprint="").update(fingerprint="")
