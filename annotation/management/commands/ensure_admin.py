import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labelstudio_emo.settings import env


class Command(BaseCommand):
    help = ("Create a staff superuser if there is none: DJANGO_SUPERUSER_USERNAME/PASSWORD, "
            "or 'admin' with a generated password printed once.")

    def handle(self, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = env.str("DJANGO_SUPERUSER_USERNAME", default="admin")
        password = env.str("DJANGO_SUPERUSER_PASSWORD", default="")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            self.stdout.write(self.style.WARNING(
                f"Created staff admin '{username}' with password: {password}\n"
                "It is shown only this once; change it at /admin/password_change/."))
        else:
            self.stdout.write(f"Created staff admin '{username}'.")
