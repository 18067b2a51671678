"""Export throughput and peak memory on 10,000 labelled segments.

    .venv/bin/python bench/export.py [--segments 10000] [--seconds 1.0] [--keep]

Builds a throwaway installation in a temporary folder (SQLite database,
MEDIA_ROOT), fills it with generated segments (short sine WAVs, one JPEG
face crop for two thirds of them, 3 human labels and a teacher prelabel
each), then runs `manage.py export_corpus --json` in a child process and
prints segments per second and the child's peak resident memory (ru_maxrss,
whole process including Python and Django). Target: < 60 s and < 500 MB for
10,000 segments.
"""

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(workdir: Path):
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "labelstudio_emo.settings",
        "LSE_VAR_DIR": str(workdir),
        "MEDIA_ROOT": str(workdir / "media"),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{workdir / 'broker.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def populate(n_segments: int, seconds: float):
    import numpy as np
    import soundfile
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from PIL import Image

    from annotation.models import Label
    from clips.models import FaceTrack, Scene, Segment, Video
    from inference.models import ModelVersion, Prelabel
    from labelstudio_emo.emotions import EMOTIONS

    media = Path(settings.MEDIA_ROOT)
    (media / "segments").mkdir(parents=True, exist_ok=True)
    (media / "faces").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    raters = [get_user_model().objects.create_user(f"bench{i}") for i in range(6)]
    teacher = ModelVersion.objects.create(kind="teacher", name="fer", version=1, arch="cnn", weights="-",
                                          sha256="0" * 64, is_active=True)
    per_video = 50
    with transaction.atomic():
        videos = Video.objects.bulk_create([
            Video(extractor="youtube", external_id=f"bench{v}", title=f"Bench video {v}", channel=f"ch{v % 7}",
                  license="Creative Commons Attribution license (reuse allowed)", status="ready",
                  webpage_url=f"https://www.youtube.com/watch?v=bench{v}")
            for v in range((n_segments + per_video - 1) // per_video)])
        scenes = Scene.objects.bulk_create([Scene(video=v, index=0, start=0, end=10_000) for v in videos])
        tracks = FaceTrack.objects.bulk_create([FaceTrack(video=v, scene=s, identity=i, start=0, end=10_000)
                                                for v, s in zip(videos, scenes) for i in range(3)])
        face = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)).save(face, "JPEG")
        segments = []
        for i in range(n_segments):
            v = i // per_video
            wav = f"segments/bench_{i}.wav"
            soundfile.write(media / wav, 0.2 * np.sin(2 * np.pi * (150 + i % 300) * t), rate, subtype="PCM_16")
            on_screen = i % 3 != 0
            crops = []
            if on_screen:
                crops = [f"faces/bench_{i}_0.jpg"]
                (media / crops[0]).write_bytes(face.getvalue())
            segments.append(Segment(video=videos[v], scene=scenes[v], face_track=tracks[3 * v + i % 3] if on_screen else None,
                                    start=(i % per_video) * 3.0, end=(i % per_video) * 3.0 + seconds,
                                    audio=wav, face_crops=crops))
        segments = Segment.objects.bulk_create(segments, batch_size=1000)
        labels, prelabels = [], []
        for i, segment in enumerate(segments):
            truth = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
            for r in range(3):
                category = truth if rng.random() < 0.7 else EMOTIONS[int(rng.integers(len(EMOTIONS)))]
                labels.append(Label(segment=segment, annotator=raters[(i + r) % len(raters)], category=category,
                                    valence=float(np.round(rng.uniform(-1, 1), 2)),
                                    arousal=float(np.round(rng.uniform(-1, 1), 2))))
            probs = rng.dirichlet(np.ones(len(EMOTIONS))).round(4).tolist()
            prelabels.append(Prelabel(segment=segment, model_version=teacher, probs=probs,
                                      category=EMOTIONS[int(np.argmax(probs))], confidence=max(probs),
                                      valence=0.0, arousal=0.0, entropy=1.0))
        Label.objects.bulk_create(labels, batch_size=2000)
        Prelabel.objects.bulk_create(prelabels, batch_size=2000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each generated WAV")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        setup_django(workdir)
        started = time.perf_counter()
        populate(args.segments, args.seconds)
        print(f"populated {args.segments} segments in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "manage.py", "export_corpus", "--json"], cwd=ROOT,
                               env=os.environ.copy(), capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"export failed (exit {child.returncode})")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        from annotation.models import Export

        export = Export.objects.get(pk=result["id"])
        build = (export.finished_at - export.created_at).total_seconds()
        peak_mb = max(peak_kb, before) / 1024
        print(f"segments={result['segments']} wall_s={wall:.1f} build_s={build:.1f} "
              f"segments_per_s={result['segments'] / build:.0f} peak_rss_mb={peak_mb:.0f} "
              f"zip_mb={export.size_bytes / 2**20:.0f}")
        ok = wall < 60 and peak_mb < 500
        print(f"target (<60 s, <500 MB for 10k): {'met' if ok else 'NOT met'}")
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
