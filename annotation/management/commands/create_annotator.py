from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from labelstudio_emo.permissions import ANNOTATORS_GROUP


class Command(BaseCommand):
    help = "Create (or update the password of) an annotator: a non-staff user in the `annotators` group."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--password", required=True)

    def handle(self, name, password, **options):
        user, created = get_user_model().objects.get_or_create(username=name)
        user.set_password(password)
        user.save()
        group, _ = Group.objects.get_or_create(name=ANNOTATORS_GROUP)
        user.groups.add(group)
        self.stdout.write(f"{'created' if created else 'updated'} annotator {name}")
