"""Celery app: two queues, `io` (downloads, ffmpeg, zips) and `gpu` (model work).

Routing is by task name so a lab can run io workers on storage machines and
gpu workers on GPU machines with `-Q io` / `-Q gpu`.
"""

import os
import threading

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelstudio_emo.settings")

app = Celery("labelstudio_emo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("io"), Queue("gpu"))
# Model work goes to `gpu`; everything else (downloads, ffmpeg, exports) to `io`.
# Tasks declare their queue by name prefix, e.g. "gpu.faces" or "io.download".
app.conf.task_routes = {"gpu.*": {"queue": "gpu"}, "io.*": {"queue": "io"}}
app.autodiscover_tasks()


def task_by_name(name: str, *args):
    """An immutable signature of a task known only by its registered name: how
    an earlier stage starts a later one without importing it. Eager runs
    (tests, one process) resolve the name locally, so the task modules are
    imported first."""
    if app.conf.task_always_eager:
        app.loader.import_default_modules()
    return app.signature(name, args=args, immutable=True)


def run_task_by_name(name: str, *args):
    """Run a task known only by its name here and now (the --sync commands);
    returns its result, its exception propagates."""
    app.loader.import_default_modules()
    return app.tasks[name].apply(args=args).get()


@app.task(name="io.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check used by tests and the health page."""
    return value


def enqueue_off_request(task, countdown: float = 0.0) -> None:
    """Publish a task without making the current web request wait for the
    broker (its first connection per process takes about a second with the
    embedded SQLite broker). Eager mode (tests) runs it here and now. Callers
    must tolerate a lost message (they ask again later)."""
    if task.app.conf.task_always_eager:
        task.apply_async(countdown=countdown)
        return
    threading.Thread(target=task.apply_async, kwargs={"countdown": countdown}, daemon=True).start()
