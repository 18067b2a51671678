"""Foundation behaviour: settings, invariants in the database, roles, worker."""

import os
import subprocess
import sys

import pytest
from django.db import IntegrityError, transaction

from tests.conftest import ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.backends]


def _settings_in_subprocess(env_overrides: dict, expr: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "DJANGO_", "MEDIA_ROOT"))}
    env.update(env_overrides)
    code = f"import django,os;os.environ['DJANGO_SETTINGS_MODULE']='labelstudio_emo.settings';django.setup();from django.conf import settings as s;print({expr})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_settings_defaults_are_single_machine(tmp_path):
    out = _settings_in_subprocess({"LSE_VAR_DIR": str(tmp_path)},
                                  "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.MEDIA_ROOT, s.DEBUG, s.IMPORT_ALLOW_PRIVATE_NETWORKS")
    assert "sqlite3" in out
    assert f"sqla+sqlite:///{tmp_path}/broker.sqlite3" in out
    assert f"{tmp_path}/media" in out
    assert out.endswith("False False")
    # the generated secret key is kept, so sessions survive a restart
    key = (tmp_path / "secret_key").read_text()
    again = _settings_in_subprocess({"LSE_VAR_DIR": str(tmp_path)}, "s.SECRET_KEY")
    assert again == key and len(key) >= 50


def test_settings_overrides_from_environment(tmp_path):
    out = _settings_in_subprocess({
        "LSE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5432/emo",
        "CELERY_BROKER_URL": "redis://cache.example:6379/0",
        "MEDIA_ROOT": "/srv/media",
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_DEBUG": "1",
        "DJANGO_ALLOWED_HOSTS": "emo.example.org,10.0.0.5",
        "IMPORT_ALLOW_PRIVATE_NETWORKS": "on",
    }, "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL, s.MEDIA_ROOT, s.SECRET_KEY==('x'*60), s.DEBUG, s.ALLOWED_HOSTS, s.IMPORT_ALLOW_PRIVATE_NETWORKS")
    assert "postgresql" in out and "db.example" in out
    assert "redis://cache.example:6379/0" in out
    assert "/srv/media" in out
    assert "True True ['emo.example.org', '10.0.0.5'] True" in out
    assert not (tmp_path / "secret_key").exists()


def test_deploy_check_is_clean_with_production_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.update({
        "LSE_VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "k" * 64 + "Zq9!", "DJANGO_ALLOWED_HOSTS": "emo.example.org",
        "DJANGO_SECURE_SSL_REDIRECT": "1", "DJANGO_SECURE_COOKIES": "1", "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_BEHIND_PROXY": "1",
    })
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _segment():
    from clips.models import Segment, Video
    video = Video.objects.create(extractor="youtube", external_id="abc", title="t")
    return Segment.objects.create(video=video, start=1.0, end=3.0)


def test_database_rejects_out_of_range_valence(annotator):
    from annotation.models import Label
    seg = _segment()
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(segment=seg, annotator=annotator, category="happy", valence=1.5, arousal=0.0)
    Label.objects.create(segment=seg, annotator=annotator, category="happy", valence=1.0, arousal=-1.0)


def test_database_rejects_unknown_category(annotator):
    from annotation.models import Label
    seg = _segment()
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(segment=seg, annotator=annotator, category="contempt", valence=0, arousal=0)


def test_database_rejects_segment_ending_before_it_starts():
    from clips.models import Segment, Video
    video = Video.objects.create(extractor="youtube", external_id="x1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Segment.objects.create(video=video, start=5.0, end=4.0)


def test_one_label_per_annotator_and_segment(annotator):
    from annotation.models import Label
    seg = _segment()
    Label.objects.create(segment=seg, annotator=annotator, category="sad", valence=-0.5, arousal=-0.2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(segment=seg, annotator=annotator, category="happy", valence=0.5, arousal=0.2)


def test_only_one_active_model_per_kind():
    from inference.models import ModelVersion
    ModelVersion.objects.create(kind="teacher", name="a", arch="x", weights="w", sha256="0", is_active=True)
    ModelVersion.objects.create(kind="student", name="s", arch="x", weights="w", sha256="0", is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(kind="teacher", name="b", arch="x", weights="w", sha256="0", is_active=True)


def test_same_video_cannot_be_stored_twice():
    from clips.models import Video
    Video.objects.create(extractor="youtube", external_id="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Video.objects.create(extractor="youtube", external_id="dup")


def test_login_page_and_role_home_pages(client, staff_user, annotator, password):
    assert client.get("/").status_code == 302  # anonymous -> login
    page = client.get("/login/")
    assert page.status_code == 200 and b"Log in" in page.content
    assert client.post("/login/", {"username": "staff", "password": password}).status_code == 302
    home = client.get("/").content.decode()
    for link in ("Import", "Videos", "Exports", "Models"):
        assert f">{link}<" in home
    client.logout()
    client.login(username="ann1", password=password)
    home = client.get("/", follow=True)  # annotators land on their work, not on a page with one button
    assert home.redirect_chain == [("/annotate/", 302)]
    assert 'href="/import/"' not in home.content.decode()


def test_api_requires_authentication(api_client):
    assert api_client.get("/api/schema/").status_code in (401, 403)


def test_token_authentication_works(api_client, annotator):
    from rest_framework.authtoken.models import Token
    token = Token.objects.create(user=annotator)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api_client.get("/api/schema/").status_code == 200


def test_create_annotator_command_makes_a_non_staff_annotator():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    call_command("create_annotator", "maria", password="s3cret-pass")
    user = get_user_model().objects.get(username="maria")
    assert not user.is_staff and user.groups.filter(name="annotators").exists()
    assert user.check_password("s3cret-pass")


def test_admin_registers_every_model():
    from django.apps import apps
    from django.contrib import admin
    for app in ("clips", "inference", "annotation"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), model


def test_migrations_are_complete():
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_media_needs_login_and_staff_for_exports(client, annotator_client, settings):
    (settings.MEDIA_ROOT / "segments").mkdir()
    (settings.MEDIA_ROOT / "segments" / "a.wav").write_bytes(b"RIFF")
    (settings.MEDIA_ROOT / "exports").mkdir()
    (settings.MEDIA_ROOT / "exports" / "c.zip").write_bytes(b"PK")
    assert annotator_client.get("/media/segments/a.wav").status_code == 200
    assert annotator_client.get("/media/exports/c.zip").status_code == 403
    annotator_client.logout()
    assert annotator_client.get("/media/segments/a.wav").status_code == 302


@pytest.mark.worker
def test_real_worker_round_trip(live_worker):
    client = live_worker.celery_app()
    result = client.send_task("io.ping", args=["hello"])
    try:
        assert result.get(timeout=90) == "hello"
    except Exception:
        print(live_worker.logs())
        raise


def test_openapi_schema_is_valid_and_documents_the_promised_paths(tmp_path):
    out = tmp_path / "schema.yaml"
    result = subprocess.run([sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
                             "--file", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    schema = out.read_text()
    for path in ("/api/queue/next/", "/api/labels/", "/api/agreement/", "/api/videos/", "/api/segments/",
                 "/api/exports/", "/api/training-runs/", "/api/training-runs/{id}/", "/api/models/"):
        assert f"  {path}:" in schema, path
