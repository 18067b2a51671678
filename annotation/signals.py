from django.db.models.signals import post_migrate
from django.dispatch import receiver

from labelstudio_emo.permissions import ANNOTATORS_GROUP


@receiver(post_migrate)
def ensure_annotators_group(sender, app_config=None, **kwargs):
    if app_config is None or app_config.name != "annotation":
        return
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name=ANNOTATORS_GROUP)


def connect_queue_state():
    """Deleted labels and assignments give their queue place back (annotation/queue_state.py)."""
    from django.db.models.signals import post_delete

    from . import queue_state
    from .models import Assignment, Label

    post_delete.connect(queue_state.label_deleted, sender=Label, dispatch_uid="queue_label_deleted")
    post_delete.connect(queue_state.assignment_deleted, sender=Assignment, dispatch_uid="queue_assignment_deleted")


connect_queue_state()


def _remove_export_file(sender, instance, **kwargs):
    """A deleted export (admin, shell) takes its zip with it, once the delete is committed."""
    from django.core.files.storage import default_storage
    from django.db import transaction

    name = instance.file.name if instance.file else ""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


def connect_export_files():
    from django.db.models.signals import post_delete

    from .models import Export

    post_delete.connect(_remove_export_file, sender=Export, dispatch_uid="export_file_removed")


connect_export_files()


def _prelabel_rewritten(sender, instance, created, **kwargs):
    """A prelabel changed in place (re-run of the same model): the queue's
    ranking was computed from the old one. New prelabels need nothing here:
    the queue's fingerprint already sees them."""
    if not created:
        from .models import QueueSnapshot

        QueueSnapshot.objects.filter(pk=1).exclude(fingerprint="").update(fingerprint="")


def connect_prelabel_rewrites():
    from django.db.models.signals import post_save

    from inference.models import Prelabel

    post_save.connect(_prelabel_rewritten, sender=Prelabel, dispatch_uid="queue_prelabel_rewritten")


connect_prelabel_rewrites()
