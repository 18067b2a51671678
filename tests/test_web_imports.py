"""A web process serves every page without importing torch (~300 MB of its
memory): models are loaded only where one runs (Celery workers, commands).

Runs in a fresh interpreter: the test process itself has long imported torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVE = r"""
import json, sys
import django
django.setup()
from django.conf import settings
settings.STORAGES = {**settings.STORAGES, "staticfiles": {  # unhashed names: no collectstatic here
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver

call_command("migrate", verbosity=0, interactive=False)
staff = Client()
staff.force_login(User.objects.create_user("staff", is_staff=True, is_superuser=True))
annotator = Client()
user = User.objects.create_user("ann")
user.groups.add(Group.objects.get_or_create(name="annotators")[0])
annotator.force_login(user)
statuses = {url: staff.get(url).status_code for url in sys.argv[1:]}
statuses["/api/queue/next/ (annotator)"] = annotator.get("/api/queue/next/").status_code


def callbacks(patterns):  # every view of the URLconf, imported
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from callbacks(pattern.url_patterns)
        else:
            yield pattern.callback


n_views = len(list(callbacks(get_resolver().url_patterns)))
print(json.dumps({"statuses": statuses, "views": n_views,
                  "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))[:5]}))
"""

PAGES = ["/", "/import/", "/videos/", "/annotate/", "/review/", "/agreement/", "/exports/", "/models/",
         "/models/runs/", "/api/agreement/", "/api/videos/", "/api/models/", "/api/training-runs/",
         "/api/labels/", "/api/schema/", "/admin/", "/admin/inference/modelversion/",
         "/admin/inference/prelabel/", "/admin/annotation/label/", "/admin/clips/segment/"]


def test_serving_every_page_does_not_import_torch(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labelstudio_emo.settings", "LSE_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
           "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", "CELERY_TASK_ALWAYS_EAGER": "0",
           "DJANGO_ALLOWED_HOSTS": "testserver", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SERVE, *PAGES], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(code < 400 for code in result["statuses"].values()), result["statuses"]
    assert result["views"] > 50
    assert result["torch"] == [], "a page or view module imports torch at import time"
