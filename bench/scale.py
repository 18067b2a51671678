"""Every staff page and API at corpus scale, and the annotator's queue.

    .venv/bin/python bench/scale.py [--segments 100000] [--videos 2000] [--database-url URL]

Builds a throw-away installation (SQLite in a temporary folder, or the empty
PostgreSQL database given by --database-url; its tables are flushed): N
segments in V ready videos, one teacher prelabel each, half of the segments
labelled by 3 of 6 annotators (V/A rounded to 0.01 as the pad sends them,
categories around a per-segment "true" emotion so agreement is real), with
the assignments and history the queue would have written. Then, in a fresh
process (a web process's memory, not the builder's), it times with Django's
test client, as staff, every staff page and API (a few requests each), the
annotator's first and later next + label, and the first next after an import
of 1,000 more segments (written by another process, a worker's, which marks
each video ready as the prelabel stage does); prints p50/p95 per URL, the worst, and the process's
peak memory (ru_maxrss). The agreement report is computed as the Celery
worker would (its time and peak memory are printed too).

Targets (issue 14): every p95 < 300 ms, web peak memory < 500 MB, first next
after the import < 300 ms.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_latency import percentile  # noqa: E402

ANNOTATORS = 6
LABELLERS = 3
IMPORTED = 1000  # segments of the import before the "first next after an import"
PER_IMPORTED_VIDEO = 50


def setup_django(workdir: Path, database_url: str) -> None:
    os.environ.update({
        "LSE_VAR_DIR": str(workdir), "DATABASE_URL": database_url, "MEDIA_ROOT": str(workdir / "media"),
        "DJANGO_SETTINGS_MODULE": "labelstudio_emo.settings", "LOG_LEVEL": "WARNING",
        # Tasks are queued as in production (no worker here): the web process never runs them.
        "CELERY_BROKER_URL": f"sqla+sqlite:///{workdir / 'broker.sqlite3'}", "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost"})
    import django
    from django.conf import settings
    django.setup()
    # Unhashed static names: the bench times views, not collectstatic (run.sh runs that).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- building -----------------------------------------------------------------------

def _bulk(model, rows, batch=5000):
    for i in range(0, len(rows), batch):
        model.objects.bulk_create(rows[i:i + batch], batch_size=batch)


def add_videos(n_videos: int, per_video: int, teacher, rng: random.Random, tag: str,
               status: str = "ready") -> list[int]:
    """Videos with segments and one teacher prelabel each; returns segment ids."""
    import math

    from clips.models import Segment, Video
    from inference.models import Prelabel
    from labelstudio_emo.emotions import EMOTIONS

    videos = Video.objects.bulk_create([
        Video(extractor="bench", external_id=f"{tag}-{i}", title=f"bench video {tag} {i}", status=status,
              width=640, height=360, duration=per_video * 2.0 + 2) for i in range(n_videos)], batch_size=1000)
    segments = []
    for video in videos:
        segments += [Segment(video=video, start=j * 2.0, end=j * 2.0 + 1.8, box=[10, 110, 110, 10])
                     for j in range(per_video)]
    _bulk(Segment, segments)
    ids = list(Segment.objects.filter(video__in=videos).order_by("pk").values_list("pk", flat=True))
    prelabels = []
    for pk in ids:
        top, conf = rng.randrange(7), rng.uniform(0.2, 0.95)
        probs = [conf if i == top else (1 - conf) / 6 for i in range(7)]
        prelabels.append(Prelabel(segment_id=pk, model_version=teacher, probs=probs, category=EMOTIONS[top],
                                  confidence=conf, valence=round(rng.uniform(-1, 1), 3),
                                  arousal=round(rng.uniform(-1, 1), 3),
                                  entropy=-sum(p * math.log(p) for p in probs)))
    _bulk(Prelabel, prelabels)
    return ids


def build(n_segments: int, n_videos: int) -> dict:
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from annotation import queue_state, segment_aggregates
    from annotation.models import Assignment, Label, LabelHistory
    from inference.models import ModelVersion, Prelabel
    from labelstudio_emo.emotions import EMOTIONS

    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)
    rng = random.Random(0)
    User.objects.create_user("staff", password="bench-password", is_staff=True, is_superuser=True)
    group, _ = Group.objects.get_or_create(name="annotators")
    annotators = []
    for i in range(ANNOTATORS + 3):  # three more: the annotators whose first next is timed
        user = User.objects.create_user(f"annotator{i}", password="bench-password")
        user.groups.add(group)
        annotators.append(user)
    teacher = ModelVersion.objects.create(kind="teacher", name="bench-teacher", arch="x", weights="-",
                                          sha256="0" * 64, is_active=True)
    ids = add_videos(n_videos, n_segments // n_videos, teacher, rng, "corpus")
    shown = dict(Prelabel.objects.values_list("segment_id", "pk"))
    now = timezone.now()
    labels, assignments = [], []
    for pk in ids[::2]:  # half of the segments
        truth, v0, a0 = rng.randrange(7), rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8)
        for user in rng.sample(annotators[:ANNOTATORS], LABELLERS):
            category = EMOTIONS[truth] if rng.random() < 0.6 else rng.choice(EMOTIONS)
            labels.append(Label(segment_id=pk, annotator=user, category=category,
                                valence=round(min(1, max(-1, v0 + rng.gauss(0, 0.2))), 2),
                                arousal=round(min(1, max(-1, a0 + rng.gauss(0, 0.2))), 2),
                                seconds_spent=rng.uniform(2, 12), prelabel_shown_id=shown.get(pk)))
            assignments.append(Assignment(segment_id=pk, annotator=user, status=Assignment.Status.DONE,
                                          expires_at=now + timedelta(minutes=15), completed_at=now))
    _bulk(Label, labels)
    _bulk(Assignment, assignments)
    _bulk(LabelHistory, [LabelHistory(label_id=pk, edited_by_id=user, category=c, valence=v, arousal=a)
                         for pk, user, c, v, a in Label.objects.values_list(
                             "pk", "annotator_id", "category", "valence", "arousal").iterator(chunk_size=5000)])
    started = time.perf_counter()
    segment_aggregates.rebuild_all()
    aggregates_s = time.perf_counter() - started
    started = time.perf_counter()
    queue_state.ensure_fresh()  # the one full computation, as after an upgrade
    queue_s = time.perf_counter() - started
    del labels, assignments
    return {"segments": len(ids), "labels": Label.objects.count(), "videos": n_videos,
            "aggregates_backfill_s": round(aggregates_s, 1), "queue_full_build_s": round(queue_s, 1),
            "teacher_id": teacher.pk}


def worker_import(teacher_id: int) -> dict:
    """An import as the Celery worker ends it: the videos' segments and prelabels
    are written, then the prelabel stage marks each video ready
    (clips.readiness.mark_ready, whose receivers update the queue here)."""
    from clips.models import Video
    from clips.readiness import mark_ready
    from inference.models import ModelVersion

    started = time.perf_counter()
    add_videos(IMPORTED // PER_IMPORTED_VIDEO, PER_IMPORTED_VIDEO, ModelVersion.objects.get(pk=teacher_id),
               random.Random(2), "import", status=Video.Status.PRELABELLING)
    written = time.perf_counter()
    for video_id in Video.objects.filter(external_id__startswith="import-").values_list("pk", flat=True):
        mark_ready(video_id)
    return {"import_rows_s": round(written - started, 2), "import_ready_s": round(time.perf_counter() - written, 2)}


def worker_refresh() -> dict:
    """What the Celery task does after labels change (run in its own process)."""
    from annotation import agreement_store

    started = time.perf_counter()
    snapshot = agreement_store.refresh()
    return {"agreement_refresh_s": round(time.perf_counter() - started, 2), "n_labels": snapshot.n_labels,
            "alpha_category": snapshot.report["alpha_category"], "alpha_valence": snapshot.report["alpha_valence"],
            "worker_peak_mb": round(peak_mb())}


# --- timing -------------------------------------------------------------------------

def staff_urls() -> list[str]:
    from annotation.models import SegmentAggregate
    from clips.models import Video
    from django.contrib.auth.models import User

    video = Video.objects.order_by("pk").values_list("pk", flat=True)[Video.objects.count() // 2]
    disputed = SegmentAggregate.objects.order_by("reviewed", "-disagreement").values_list("segment_id",
                                                                                           flat=True).first()
    annotator = User.objects.get(username="annotator0").pk
    return [
        "/", "/import/", "/videos/", "/videos/?status=ready", f"/videos/{video}/", "/annotate/",
        "/review/", "/review/?open=1", "/review/?page=400", f"/review/{disputed}/", "/agreement/", "/exports/",
        "/models/", "/models/runs/",
        "/api/agreement/", f"/api/segments/?video={video}", "/api/videos/", "/api/exports/", "/api/models/",
        "/api/training-runs/", "/api/labels/?limit=50", "/api/schema/",
        "/admin/", "/admin/clips/video/", "/admin/clips/segment/", f"/admin/clips/segment/?video={video}",
        "/admin/clips/segment/?p=500", "/admin/annotation/label/", "/admin/annotation/label/?category__exact=sad",
        f"/admin/annotation/label/?annotator__id__exact={annotator}", "/admin/annotation/label/?p=300",
        "/admin/annotation/labelhistory/", "/admin/annotation/assignment/",
        "/admin/annotation/assignment/?status__exact=done", "/admin/inference/prelabel/",
        "/admin/inference/prelabel/?category__exact=happy", "/admin/annotation/queueentry/",
        "/admin/annotation/segmentaggregate/", "/admin/annotation/reviewedlabel/",
        "/admin/auth/user/",
    ]


def timed(client, method: str, url: str, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    response = getattr(client, method)(url, **kwargs)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise SystemExit(f"{method.upper()} {url}: {response.status_code} {response.content[:300]!r}")
    return ms, response


def next_and_label(client, rng: random.Random) -> tuple[float, float]:
    next_ms, response = timed(client, "get", "/api/queue/next/")
    if response.status_code == 204:
        raise SystemExit("the queue is empty")
    assignment = response.json()
    label_ms, _ = timed(client, "post", "/api/labels/", data={
        "assignment": assignment["id"], "category": rng.choice(["happy", "sad", "neutral"]),
        "valence": round(rng.uniform(-1, 1), 2), "arousal": round(rng.uniform(-1, 1), 2), "flags": [],
        "seconds_spent": 4.0}, content_type="application/json")
    return next_ms, label_ms


def serve(repeat: int, teacher_id: int, workdir: Path, database_url: str) -> dict:
    """Runs in a fresh process: only what a web process holds counts in its peak memory."""
    from django.contrib.auth.models import User
    from django.test import Client

    from inference.models import ModelVersion

    rng = random.Random(1)
    load_before = os.getloadavg()[0]  # 2 shared cores: say how busy the machine was
    results: dict[str, list[float]] = {}
    staff = Client()
    staff.force_login(User.objects.get(username="staff"))
    for url in staff_urls():
        timed(staff, "get", url)  # the first request imports the view's modules: not measured
        results[url] = [timed(staff, "get", url)[0] for _ in range(repeat)]

    annotator = Client()
    annotator.force_login(User.objects.get(username=f"annotator{ANNOTATORS}"))
    first_next, first_label = next_and_label(annotator, rng)
    later = [next_and_label(annotator, rng) for _ in range(20)]
    results["annotator: first next"] = [first_next]
    results["annotator: first label"] = [first_label]
    results["annotator: later next"] = [n for n, _ in later]
    results["annotator: later label"] = [lab for _, lab in later]

    imported = child("import", workdir, database_url, ["--teacher", str(teacher_id)])
    newcomer = Client()
    newcomer.force_login(User.objects.get(username=f"annotator{ANNOTATORS + 1}"))
    after_import, _ = next_and_label(newcomer, rng)
    results[f"annotator: first next after importing {IMPORTED} segments"] = [after_import]

    # A new teacher becomes the active model: every segment's ranking changes (a task recomputes it).
    ModelVersion.objects.filter(kind="teacher").update(is_active=False)
    ModelVersion.objects.create(kind="teacher", name="bench-teacher-2", arch="x", weights="-", sha256="1" * 64,
                                is_active=True)
    third = Client()
    third.force_login(User.objects.get(username=f"annotator{ANNOTATORS + 2}"))
    after_model, _ = next_and_label(third, rng)
    results["annotator: first next after a new teacher model"] = [after_model]
    return {"urls": {url: [round(ms, 1) for ms in values] for url, values in results.items()},
            "web_peak_mb": round(peak_mb()), "load_avg": [load_before, os.getloadavg()[0]], **imported}


def child(phase: str, workdir: Path, database_url: str, extra: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--workdir", str(workdir),
                          "--database-url", database_url, *extra], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(built: dict, worker: dict, served: dict, database: str) -> None:
    rows = []
    for url, values in served["urls"].items():
        rows.append((url, percentile(values, 50), percentile(values, 95), len(values)))
    width = max(len(url) for url, *_ in rows)
    print(f"{'URL':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  n", file=sys.stderr)
    for url, p50, p95, n in rows:
        flag = "  <-- over 300 ms" if p95 >= 300 else ""
        print(f"{url:<{width}}  {p50:8.1f}  {p95:8.1f}  {n}{flag}", file=sys.stderr)
    worst = max(rows, key=lambda r: r[2])
    print(f"database: {database}; {built['segments']} segments in {built['videos']} videos, "
          f"{built['labels']} labels; queue full build (once) {built['queue_full_build_s']} s; "
          f"agreement task {worker['agreement_refresh_s']} s, worker peak {worker['worker_peak_mb']} MB; "
          f"import of {IMPORTED} segments: rows {served['import_rows_s']} s, marking ready (queue update) "
          f"{served['import_ready_s']} s; load average (1 min) {served['load_avg'][0]:.2f} before timing, "
          f"{served['load_avg'][1]:.2f} after", file=sys.stderr)
    summary = {"database": database, **{k: v for k, v in built.items() if k != "teacher_id"}, **worker,
               "import_ready_s": served["import_ready_s"], "load_avg": served["load_avg"],
               "web_peak_mb": served["web_peak_mb"], "worst_url": worst[0], "worst_p95_ms": round(worst[2], 1),
               "over_300ms": [r[0] for r in rows if r[2] >= 300]}
    print(json.dumps(summary))
    print(f"worst p95 {worst[2]:.1f} ms ({worst[0]}); web process peak memory {served['web_peak_mb']} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per URL (after one warm-up)")
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--phase", choices=["build", "worker", "serve", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--teacher", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        setup_django(Path(args.workdir), args.database_url)
        if args.phase == "build":
            result = build(args.segments, args.videos)
        elif args.phase == "worker":
            result = worker_refresh()
        elif args.phase == "import":
            result = worker_import(args.teacher)
        else:
            result = serve(args.repeat, args.teacher, Path(args.workdir), args.database_url)
        print(json.dumps(result))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'db.sqlite3'}"
    database = "postgresql" if database_url.startswith("postgres") else "sqlite"
    print(f"building {args.segments} segments in {args.videos} videos ({database}, {workdir})", file=sys.stderr)
    started = time.perf_counter()
    built = child("build", workdir, database_url, ["--segments", str(args.segments), "--videos", str(args.videos)])
    print(f"built in {time.perf_counter() - started:.0f} s; computing the agreement report", file=sys.stderr)
    worker = child("worker", workdir, database_url, [])
    print("timing pages and APIs", file=sys.stderr)
    served = child("serve", workdir, database_url, ["--repeat", str(args.repeat), "--teacher",
                                                    str(built["teacher_id"])])
    report(built, worker, served, database)


if __name__ == "__main__":
    main()
