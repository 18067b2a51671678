from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labelstudio_emo.permissions import ANNOTATORS_GROUP


class Command(BaseCommand):
    help = ("Create an annotator: a non-staff user in the `annotators` group. The password must pass "
            "Django's password validators. An existing account is left alone unless --reset is given "
            "(then its password is replaced; staff accounts are never changed here).")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--password", required=True)
        parser.add_argument("--reset", action="store_true",
                            help="set a new password for an existing annotator")

    def handle(self, name, password, reset=False, **options):
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.select_for_update().filter(username=name).first()
            if user is not None and not reset:
                raise CommandError(f"{name} already exists; nothing changed (use --reset to set a new password).")
            if user is not None and (user.is_staff or user.is_superuser):
                raise CommandError(f"{name} is a staff account; change its password with `manage.py changepassword`.")
            candidate = user or User(username=name)
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
            candidate.set_password(password)
            candidate.save()
            candidate.groups.add(Group.objects.get_or_create(name=ANNOTATORS_GROUP)[0])
        self.stdout.write(f"{'password reset for' if user else 'created'} annotator {name}")
