"""Shared fixtures: users per role, isolated media, a real Celery worker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_MEDIA = SHARED / "media"


def shared_media(*parts) -> Path:
    """Path under ../shared/media, or skip the test cleanly when absent."""
    path = SHARED_MEDIA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is absent)")
    return path


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test writes media into its own folder; static files unhashed."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # a fast hasher: the login-lockout tests post many wrong passwords (production keeps PBKDF2)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from labelstudio_emo.celery import app
    app.conf.task_always_eager = True
    from django.core.cache import cache
    cache.clear()  # API throttle counters start from zero in every test
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def password():
    return "correct-horse-battery"


@pytest.fixture
def staff_user(db, django_user_model, password):
    return django_user_model.objects.create_user("staff", password=password, is_staff=True)


@pytest.fixture
def annotator(db, django_user_model, password):
    from django.contrib.auth.models import Group
    user = django_user_model.objects.create_user("ann1", password=password)
    user.groups.add(Group.objects.get_or_create(name="annotators")[0])
    return user


@pytest.fixture
def make_annotator(db, django_user_model, password):
    from django.contrib.auth.models import Group

    def make(name):
        user = django_user_model.objects.create_user(name, password=password)
        user.groups.add(Group.objects.get_or_create(name="annotators")[0])
        return user
    return make


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def annotator_client(client, annotator):
    client.force_login(annotator)
    return client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient
    return APIClient()


class LiveWorker:
    """A real `celery worker` subprocess on its own database, broker and media.

    Uses DATABASE_URL / CELERY_BROKER_URL from the environment when they are
    set (CI runs these tests again on PostgreSQL + Redis), else SQLite files
    and the embedded SQLAlchemy broker in a temporary folder.
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir
        broker = _empty_broker(os.environ.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{workdir / 'broker.sqlite3'}")
        results = (broker if broker.startswith("redis") else f"db+sqlite:///{workdir / 'results.sqlite3'}")
        self.database_url = _own_postgres_db(os.environ.get("DATABASE_URL")) or f"sqlite:///{workdir / 'db.sqlite3'}"
        self.env = {
            **os.environ,
            "LSE_VAR_DIR": str(workdir),
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": results,
            "MEDIA_ROOT": str(workdir / "media"),
            "IMPORT_ALLOW_PRIVATE_NETWORKS": "1",
            "CELERY_TASK_ALWAYS_EAGER": "0",
        }
        self.proc = None

    def manage(self, *args, timeout=600, check=True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def start(self, *pool_args):
        """Migrate, then run a worker (solo pool unless `pool_args` say otherwise)."""
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("init_broker")
        return self.spawn(*pool_args)

    def spawn(self, *pool_args):
        """A worker process on this database and broker (again, after a kill)."""
        self.log = open(self.workdir / "worker.log", "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "labelstudio_emo", "worker", "-Q", "io,gpu",
             *(pool_args or ("--concurrency", "1", "--pool", "solo")), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def celery_app(self):
        """A client Celery app speaking to this worker's broker and results."""
        from celery import Celery
        # not the current app: later eager tasks must not go to this worker
        client = Celery("client", broker=self.env["CELERY_BROKER_URL"], backend=self.env["CELERY_RESULT_BACKEND"],
                        set_as_current=False)
        client.conf.task_routes = {"gpu.*": {"queue": "gpu"}, "io.*": {"queue": "io"}}
        return client

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()

    def drop_database(self):
        """Remove this worker's own PostgreSQL database (SQLite files go with the tmp folder)."""
        if self.database_url != os.environ.get("DATABASE_URL") and self.database_url.startswith("postgres"):
            import psycopg
            base = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database_url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def logs(self) -> str:
        return (self.workdir / "worker.log").read_text(errors="replace")


# Each live worker gets a database of its own and an empty broker, also on CI's
# shared PostgreSQL + Redis: rows or queued tasks left by one worker test (a live
# training run, a seeded segment) must not change what the next one sees. (Redis
# keeps its URL: Celery lets CELERY_BROKER_URL in the environment override any
# other broker setting, so the test's client could not follow another DB index.)
def _empty_broker(url: str) -> str:
    if url.startswith("redis"):
        import redis
        redis.Redis.from_url(url).flushdb()
    return url


def _own_postgres_db(url: str | None) -> str | None:
    if not url or not url.startswith(("postgres://", "postgresql://")):
        return url
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_w{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def children(pid: int) -> list[int]:
    """Child process ids of pid (a worker's pool children)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill9(*pids: int) -> None:
    """SIGKILL, as the OOM killer or `kill -9` would; gone processes are fine."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def live_worker(tmp_path_factory):
    worker = LiveWorker(tmp_path_factory.mktemp("worker")).start()
    yield worker
    worker.stop()
    worker.drop_database()


def wait_for(predicate, timeout=60.0, interval=0.25):
    """Poll until predicate() is truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")

