"""Annotation API under load: the real server, many annotators at once.

    .venv/bin/python bench/api_latency.py [--segments 5000] [--clients 20] [--seconds 30]

Creates N segments (with teacher prelabels of varied entropy) and C annotators
in a throw-away SQLite database (the embedded default), starts gunicorn on
127.0.0.1 as run.sh does, and lets C client threads loop
GET /api/queue/next/ + POST /api/labels/ for S seconds (every 10th label is
sent twice, like a double Enter; --think adds a person's pause before each
submit). Prints p50/p95 latency of each call, labels
per second, and the integrity counts that must be 0: duplicate labels, lost
labels (a 201 whose label is not in the database), over-filled segments
(> K labels) and segments given twice to one annotator. Target: p95 < 50 ms.

Reading the figures: with --think 0 every client fires its next request the
moment the last one returns, so C requests are always in flight and the mean
latency is C / (requests per second) whatever the server does per request
(Little's law; printed as `littles_law_ms`). On a 2-core machine that is a
throughput test: lower latency there comes only from more requests per
second. --think 2 (a very fast person) measures what annotators feel.
"""

import argparse
import http.client
import json
import math
import os
import random
import runpy
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def setup_data(n_segments: int, n_clients: int) -> list[str]:
    """Runs inside this process against the bench database; returns API tokens."""
    import django
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from clips.models import Segment, Video
    from inference.models import ModelVersion, Prelabel
    from labelstudio_emo.emotions import EMOTIONS

    call_command("migrate", verbosity=0, interactive=False)
    teacher = ModelVersion.objects.create(kind="teacher", name="bench", arch="x", weights="-",
                                          sha256="0" * 64, is_active=True)
    video = Video.objects.create(extractor="bench", external_id="1", title="bench", status="ready",
                                 width=640, height=360, duration=n_segments * 2.0 + 2)
    segments = Segment.objects.bulk_create(
        Segment(video=video, start=i * 2.0, end=i * 2.0 + 1.8, box=[10, 110, 110, 10]) for i in range(n_segments))
    rng = random.Random(0)
    prelabels = []
    for segment in segments:
        top = rng.randrange(7)
        conf = rng.uniform(0.2, 0.95)
        probs = [conf if i == top else (1 - conf) / 6 for i in range(7)]
        prelabels.append(Prelabel(segment=segment, model_version=teacher, probs=probs, category=EMOTIONS[top],
                                  confidence=conf, valence=0.0, arousal=0.0,
                                  entropy=-sum(p * math.log(p) for p in probs)))
    Prelabel.objects.bulk_create(prelabels)
    group, _ = Group.objects.get_or_create(name="annotators")
    tokens = []
    for i in range(n_clients):
        user = User.objects.create_user(f"bench{i}", password="bench-password")
        user.groups.add(group)
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def wait_until_up(port: int) -> None:
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def warm_up(port: int, n: int) -> None:
    """First requests import every app's views (seconds): not what we measure."""
    def hit():
        for _ in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/api/health/")
            conn.getresponse().read()
            conn.close()
    threads = [threading.Thread(target=hit) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Client(threading.Thread):
    def __init__(self, port, token, deadline, seed, think=0.0):
        super().__init__(daemon=True)
        self.port, self.token, self.deadline, self.think = port, token, deadline, think
        self.rng = random.Random(seed)
        self.next_ms, self.post_ms = [], []
        self.created, self.errors, self.segments = [], [], []

    def connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data, (time.perf_counter() - started) * 1000
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: reconnect, as browsers do
                self.conn.close()
                self.connect()
                if attempt:
                    raise

    def run(self):
        self.connect()
        if self.think:  # people do not all start in the same millisecond
            time.sleep(self.rng.uniform(0, self.think))
        n = 0
        try:
            while time.monotonic() < self.deadline:
                status, data, ms = self.call("GET", "/api/queue/next/")
                self.next_ms.append(ms)
                if status == 204:
                    break
                if status != 200:
                    self.errors.append(f"next {status} {data[:200]!r}")
                    continue
                assignment = json.loads(data)
                self.segments.append(assignment["segment"]["id"])
                payload = {"assignment": assignment["id"], "category": self.rng.choice(
                    ["happy", "sad", "neutral", "angry"]), "valence": round(self.rng.uniform(-1, 1), 2),
                    "arousal": round(self.rng.uniform(-1, 1), 2), "flags": [], "seconds_spent": 4.0}
                n += 1
                if self.think:
                    time.sleep(self.rng.uniform(0.5, 1.5) * self.think)  # a person looking and listening
                for _ in range(2 if n % 10 == 0 else 1):  # every 10th: a double submit
                    status, data, ms = self.call("POST", "/api/labels/", payload)
                    self.post_ms.append(ms)
                    if status == 201:
                        self.created.append(json.loads(data)["id"])
                    elif status != 200:
                        self.errors.append(f"label {status} {data[:200]!r}")
        except Exception as exc:  # noqa: BLE001 - counted and printed
            self.errors.append(repr(exc))
        finally:
            self.conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=5000,
                        help="enough that 20 clients do not run out of work within 30 s")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--k", type=int, default=3, help="labels per segment")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a client waits before submitting (0 = hammer)")
    parser.add_argument("--web-workers", type=int, default=None,
                        help="gunicorn processes (default: gunicorn.conf.py, as run.sh)")
    parser.add_argument("--threads", type=int, default=None, help="threads per process (default: gunicorn.conf.py)")
    args = parser.parse_args()

    served = runpy.run_path(str(ROOT / "gunicorn.conf.py"))  # what run.sh starts
    web_workers, threads = args.web_workers or served["workers"], args.threads or served["threads"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {"LSE_VAR_DIR": str(workdir), "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
           "MEDIA_ROOT": str(workdir / "media"), "ANNOTATION_LABELS_PER_SEGMENT": str(args.k),
           "DJANGO_SETTINGS_MODULE": "labelstudio_emo.settings", "LOG_LEVEL": "WARNING",
           # 20 clients with no pause far outrun any person: the throttle still runs, never trips
           "API_RATE_USER": "1000000/min"}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    print(f"setting up {args.segments} segments, {args.clients} annotators in {workdir}", file=sys.stderr)
    tokens = setup_data(args.segments, args.clients)

    port = free_port()
    server_log = open(workdir / "server.log", "wb")  # a pipe nobody reads would fill up and block the server
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "labelstudio_emo.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning",
         *(["--workers", str(args.web_workers)] if args.web_workers else []),
         *(["--threads", str(args.threads)] if args.threads else [])],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=server_log)
    try:
        wait_until_up(port)
        warm_up(port, 24)
        deadline = time.monotonic() + args.seconds
        started = time.monotonic()
        clients = [Client(port, token, deadline, i, args.think) for i, token in enumerate(tokens)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(args.seconds + 120)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(20)

    from django.db.models import Count

    from annotation.models import Assignment, Label
    created = [pk for c in clients for pk in c.created]
    stored = set(Label.objects.values_list("pk", flat=True))
    per_segment = Counter(Label.objects.values_list("segment_id", flat=True))
    twice = Assignment.objects.values("segment_id", "annotator_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    next_ms = [ms for c in clients for ms in c.next_ms]
    post_ms = [ms for c in clients for ms in c.post_ms]
    errors = [e for c in clients for e in c.errors]
    result = {
        "clients": args.clients, "think_s": args.think, "web_workers": web_workers, "threads": threads, "segments": args.segments, "k": args.k, "seconds": round(elapsed, 1),
        "next_p50_ms": round(percentile(next_ms, 50), 1), "next_p95_ms": round(percentile(next_ms, 95), 1),
        "label_p50_ms": round(percentile(post_ms, 50), 1), "label_p95_ms": round(percentile(post_ms, 95), 1),
        "all_p95_ms": round(percentile(next_ms + post_ms, 95), 1),
        "labels": len(stored), "labels_per_s": round(len(stored) / elapsed, 1),
        "requests_per_s": round((len(next_ms) + len(post_ms)) / elapsed, 1),
        "littles_law_ms": (round(1000 * args.clients * elapsed / max(1, len(next_ms) + len(post_ms)), 1)
                           if not args.think else None),  # mean latency forced by C requests in flight
        "duplicate_labels": len(created) - len(set(created)) + max(0, len(stored) - len(set(created))),
        "lost_labels": len(set(created) - stored),
        "overfilled_segments": sum(1 for n in per_segment.values() if n > args.k),
        "segments_given_twice": twice, "errors": len(errors),
    }
    if elapsed < args.seconds - 1:
        print(f"warning: the queue ran out after {elapsed:.1f} s; use more --segments", file=sys.stderr)
    for error in errors[:5]:
        print("error:", error, file=sys.stderr)
    print(f"next p50={result['next_p50_ms']} ms p95={result['next_p95_ms']} ms | "
          f"label p50={result['label_p50_ms']} ms p95={result['label_p95_ms']} ms | "
          f"{result['labels_per_s']} labels/s | duplicates={result['duplicate_labels']} "
          f"lost={result['lost_labels']} overfilled={result['overfilled_segments']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
