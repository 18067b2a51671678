from django.db.models.signals import post_migrate
from django.dispatch import receiver

from labelstudio_emo.permissions import ANNOTATORS_GROUP


@receiver(post_migrate)
def ensure_annotators_group(sender, app_config=None, **kwargs):
    if app_config is None or app_config.name != "annotation":
        return
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name=ANNOTATORS_GROUP)
