"""Import throughput: seconds of media imported per wall-clock second through
the real Celery worker (yt-dlp download over local HTTP, ffprobe, 16 kHz WAV).

    .venv/bin/python bench/import.py [-n N] [--seconds S] [--height H]

Generates N clips of S seconds (testsrc2 picture at H p + a tone, H.264/AAC),
serves them on 127.0.0.1, starts a worker (its own SQLite DB, broker and
media, as the tests' live_worker does), runs `import_clips URL... --json`
and waits until every video has its WAV. Segmentation tasks share the
worker and are queued behind the imports; the figure is wall-clock from the
command's start to the last WAV. Last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=6, help="number of clips (default 6)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each clip (default 20)")
    parser.add_argument("--height", type=int, default=360, help="picture height (default 360)")
    args = parser.parse_args()

    from tests.conftest import LiveWorker
    from tests.import_helpers import MediaServer, make_video

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    media = work / "served"
    media.mkdir()
    width = args.height * 16 // 9 // 2 * 2
    print(f"generating {args.n} clips of {args.seconds:g} s at {width}x{args.height} ...", file=sys.stderr)
    for i in range(args.n):
        make_video(media / f"clip{i}.mp4", args.seconds, size=f"{width}x{args.height}")
    server = MediaServer(media)
    (work / "worker").mkdir()
    worker = LiveWorker(work / "worker").start()

    # Read the worker's database from here (same env as the worker).
    os.environ.update({k: worker.env[k] for k in ("LSE_VAR_DIR", "DATABASE_URL", "MEDIA_ROOT")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelstudio_emo.settings"
    import django
    django.setup()
    from clips.models import Video

    try:
        while "ready." not in worker.logs():  # the worker creates its broker queues first
            time.sleep(0.3)
        urls = [server.url(f"clip{i}.mp4") for i in range(args.n)]
        started = time.monotonic()
        out = worker.manage("import_clips", *urls, "--json")
        ids = [row["id"] for row in json.loads(out.stdout.strip().splitlines()[-1])]
        while True:
            videos = list(Video.objects.filter(pk__in=ids))
            done = [v for v in videos if v.audio or v.status == Video.Status.FAILED]
            if len(done) == len(ids):
                break
            if time.monotonic() - started > 1800:
                raise SystemExit("timed out")
            time.sleep(0.2)
        wall = time.monotonic() - started
        failed = [v.error for v in videos if v.status == Video.Status.FAILED]
        media_s = sum(v.duration or 0 for v in videos if v.audio)
        task_s = sum(float(s) for s in re.findall(r"io\.import_video\[[^\]]+\] succeeded in ([\d.]+)s",
                                                   worker.logs()))
    finally:
        worker.stop()
        server.httpd.shutdown()
    result = {"clips": args.n, "clip_seconds": args.seconds, "height": args.height, "failed": len(failed),
              "media_seconds": round(media_s, 1), "wall_seconds": round(wall, 2),
              "media_s_per_wall_s": round(media_s / wall, 2),
              "media_s_per_task_s": round(media_s / task_s, 2) if task_s else None}
    print(f"imported {media_s:.0f} s of media in {wall:.1f} s wall: {result['media_s_per_wall_s']}x real time "
          f"({result['media_s_per_task_s']}x counting import task time only)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
