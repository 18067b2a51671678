"""Probe 6: login lockout, token guessing and API floods get 429; weak or
clobbering create_annotator calls are refused; secrets are 0600; every page
carries a Content-Security-Policy that allows no inline script."""

import os
import stat
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import ROOT

pytestmark = [pytest.mark.security, pytest.mark.django_db]


def test_repeated_wrong_passwords_lock_the_login(client, staff_user, password, settings):
    codes = [client.post("/login/", {"username": "staff", "password": "wrong"}).status_code
             for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert codes[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1) and codes[-1] == 429
    locked = client.post("/login/", {"username": "staff", "password": password})
    assert locked.status_code == 429  # even the right password, until the cool-off
    assert "_auth_user_id" not in client.session


def test_a_right_password_before_the_limit_still_works(client, staff_user, password):
    for _ in range(3):
        client.post("/login/", {"username": "staff", "password": "wrong"})
    assert client.post("/login/", {"username": "staff", "password": password}).status_code == 302


def test_token_guessing_is_throttled_before_the_lookup(api_client, annotator, settings):
    good = Token.objects.create(user=annotator).key
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["bad_token"].split("/")[0])
    for i in range(limit):
        api_client.credentials(HTTP_AUTHORIZATION=f"Token wrong{i:036d}")
        assert api_client.get("/api/queue/next/").status_code in (401, 403)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    assert api_client.get("/api/queue/next/").status_code == 429  # no oracle for a lucky guess


def test_fast_api_calls_hit_the_per_user_rate(api_client, annotator, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "20/min")
    api_client.force_authenticate(annotator)
    codes = [api_client.get("/api/labels/").status_code for _ in range(25)]
    assert codes[:20] == [200] * 20 and codes[-1] == 429


def test_default_rates_leave_room_for_a_fast_annotator(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    number, period = rates["user"].split("/")
    assert period.startswith("m") and int(number) >= 120  # two calls per label, a label a second


@pytest.mark.parametrize("weak", ["1", "password", "12345678", "maria2024"])
def test_create_annotator_refuses_weak_passwords(weak, django_user_model):
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_annotator", "maria", password=weak)
    assert not django_user_model.objects.filter(username="maria").exists()


def test_create_annotator_never_touches_an_existing_account_without_reset(staff_user, password):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_annotator", "staff", password="a-new-long-passphrase")
    with pytest.raises(CommandError, match="staff account"):
        call_command("create_annotator", "staff", password="a-new-long-passphrase", reset=True)
    staff_user.refresh_from_db()
    assert staff_user.check_password(password) and not staff_user.groups.exists()


def test_create_annotator_reset_changes_an_annotators_password(annotator):
    call_command("create_annotator", "ann1", password="another-long-passphrase", reset=True)
    annotator.refresh_from_db()
    assert annotator.check_password("another-long-passphrase")


def test_database_and_secret_key_are_created_0600(tmp_path):
    env = {**os.environ, "LSE_VAR_DIR": str(tmp_path)}
    for var in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"):
        env.pop(var, None)
    write = ("import django; django.setup(); from django.db import connection; "
             "connection.cursor().execute('CREATE TABLE probe (x INTEGER)')")
    subprocess.run([sys.executable, "-c", write], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "labelstudio_emo.settings"},
                   check=True)
    for name in ("db.sqlite3", "secret_key", "broker.sqlite3"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert len((tmp_path / "secret_key").read_text()) > 40


def test_pages_carry_a_strict_content_security_policy(client, staff_client):
    for path in ("/login/", "/", "/videos/", "/api/docs/"):
        policy = staff_client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'", path
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def test_templates_have_no_inline_scripts_or_handlers():
    import re
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/(ld\+)?json)[^>]*>|\son[a-z]+=\"", re.I)
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "templates").rglob("*.html")
                 if inline.search(path.read_text())]
    assert offenders == []
