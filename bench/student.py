"""The student on real acted speech, through the tool as a user drives it.

    .venv/bin/python bench/student.py [--speech DIR] [--seeds 3] [--modes] [--synthetic 10000] [--keep]

On ../shared/media/speech (RAVDESS, 7 classes, labels.csv names each clip's
actor), in a throwaway installation (SQLite, MEDIA_ROOT in a temp folder):
1. imports the clips of actors 1-16 as local files with their speaker
   (`import_clips --csv` url,speaker `--sync`; the splits keep speakers apart),
2. labels every segment with its clip's class through the queue
   (GET /api/queue/next/ + POST /api/labels/, token auth),
3. caches encoder features (`encode_segments`; seconds of audio per wall
   second with 1 and 2 encoder threads),
4. retrains (`retrain_student --sync`) once per seed (the neural head's seed);
   a run that passes the release guard has its released head refit on every
   labelled segment (STUDENT_REFIT_FULL, on by default; the line says which),
5. evaluates each run on actors 17-24 (`evaluate_student DIR`), and each
   candidate head of the first run on the same clips,
6. with --modes: what padding / packing do, on the same split and pure path (features
   of every clip per encoder mode, logistic regression on train actors with C
   by actor-grouped CV, UAR on test actors, encoder speed),
7. times fitting the heads on N synthetic cached segments (pure: no audio).
Prints the figures; the last line is the chosen model's test UAR.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export import setup_django  # noqa: E402

SPEECH = ROOT.parent / "shared" / "media" / "speech"


def read_labels(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["file"] = folder / row["path"]
        row["actor"] = int(row["actor"])
    return rows


def log(text: str):
    print(text, file=sys.stderr, flush=True)


def import_clips(rows: list[dict]) -> float:
    from django.core.management import call_command

    listing = Path(tempfile.mkdtemp(prefix="bench-import-")) / "clips.csv"
    with open(listing, "w", newline="") as fh:   # each clip with its speaker, as a user's CSV would
        writer = csv.writer(fh)
        writer.writerow(["url", "speaker"])
        writer.writerows([str(r["file"]), f"actor{r['actor']}"] for r in rows)
    started = time.perf_counter()
    call_command("import_clips", "--csv", str(listing), "--sync", "--json", stdout=StringIO(), stderr=StringIO())
    return time.perf_counter() - started


def label_through_queue(class_of_title: dict[str, str]) -> int:
    """An annotator labels whatever the queue hands out, with the clip's true class."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from clips.models import Segment
    from inference.teachers.circumplex import COORDINATES
    from labelstudio_emo.emotions import EMOTIONS

    user = get_user_model().objects.create_user("bench-annotator", password="bench-password-123")
    user.groups.add(Group.objects.get_or_create(name="annotators")[0])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    labelled = 0
    while True:
        response = client.get("/api/queue/next/")
        if response.status_code == 204 or not response.content:
            break
        item = response.json()
        segment_id = item["segment"]["id"]
        segment = Segment.objects.select_related("video").get(pk=segment_id)
        category = class_of_title[Path(segment.video.title).stem]
        valence, arousal = COORDINATES[EMOTIONS.index(category)]  # the class's place on the circumplex
        posted = client.post("/api/labels/", {"assignment": item["id"], "category": category,
                                               "valence": round(float(valence), 3),
                                               "arousal": round(float(arousal), 3)}, format="json")
        if posted.status_code not in (200, 201):
            raise SystemExit(f"POST /api/labels/ {posted.status_code}: {posted.content[:300]!r}")
        labelled += 1
    return labelled


def encode_speed(threads: int) -> tuple[float, float]:
    """(audio seconds, wall seconds) of re-encoding every segment with this many threads."""
    from django.conf import settings

    from inference.student.encoding import encode_segments

    settings.STUDENT_ENCODER_THREADS = threads
    started = time.perf_counter()
    report = encode_segments(force=True)
    return report.audio_seconds, time.perf_counter() - started


def retrain(seed: int) -> dict:
    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command("retrain_student", "--sync", "--json", "--config", json.dumps({"head": {"seed": seed}}),
                 stdout=out, stderr=StringIO())
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


def test_folder(rows: list[dict], where: Path) -> Path:
    for row in rows:
        target = where / row["label"] / row["file"].name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(row["file"], target)
    return where


def evaluate(model: str, folder: Path) -> str:
    from django.core.management import call_command

    out = StringIO()
    call_command("evaluate_student", str(folder), "--model", model, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


def candidate_uars(model: str, rows: list[dict]) -> dict[str, float]:
    """Each candidate head of a run on the test clips (features computed once)."""
    import numpy as np

    from inference.registry import find_model
    from inference.student import metrics as M
    from inference.student.features import read_audio
    from inference.student.head import pooled_stats
    from inference.student.head import predict_pooled
    from inference.student.prelabel import load_version
    from labelstudio_emo.emotions import EMOTIONS

    student = load_version(find_model("student", model))
    waves = [read_audio(r["file"]) for r in rows]
    pooled = np.stack([pooled_stats(f) for f in student.featurize(waves, [str(r["file"]) for r in rows])])
    truth = np.array([EMOTIONS.index(r["label"]) for r in rows])
    return {name: M.uar(truth, predict_pooled(head, pooled)[0].argmax(1)) for name, head in student.candidates.items()}


def compare_modes(rows: list[dict]) -> list[str]:
    """Packing vs trimming vs one window per clip: speed and UAR on the actor split (pure path)."""
    import numpy as np

    from inference.student import metrics as M
    from inference.student.data import Item
    from inference.student.encoders import load_encoder
    from inference.student.features import read_audio
    from inference.student.head_train import HeadTrainConfig, fit_classical, pool_items
    from labelstudio_emo.emotions import EMOTIONS

    waves = [read_audio(r["file"]) for r in rows]
    seconds = sum(w.size for w in waves) / 16000
    lines = []
    for mode in ("pad4-L1-L2", "pad4", "trim", "pack", "window"):
        encoder = load_encoder(threads=1, mode=mode)
        started = time.perf_counter()
        feats = encoder.encode(waves, [str(r["file"]) for r in rows])
        elapsed = time.perf_counter() - started
        items = [Item(key=str(r["file"]), split="", feats=f, human=EMOTIONS.index(r["label"]),
                      group=f"actor{r['actor']}") for r, f in zip(rows, feats)]
        train = [i for i, r in zip(items, rows) if r["actor"] <= 16]
        test = [i for i, r in zip(items, rows) if r["actor"] > 16]
        candidate = fit_classical(pool_items(train), train, pool_items(test), test, HeadTrainConfig())
        truth = np.array([i.human for i in test])
        uar = M.uar(truth, candidate.model.predict(pool_items(test))[0].argmax(1))
        lines.append(f"mode {mode:6s}: {seconds / elapsed:6.1f}x real time (1 thread), logistic regression "
                     f"(C={candidate.details['C']} by actor-grouped CV) test UAR {uar:.3f}")
        log(lines[-1])
    return lines


def synthetic_fit_seconds(n: int, dim: int = 384, frames: int = 150) -> float:
    """Fitting both heads on n cached-looking segments (float16 frames, 7 classes, teacher + human labels)."""
    import numpy as np

    from inference.student.data import Item
    from inference.student.head_train import fit_heads

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((7, dim)).astype(np.float32) * 0.3

    def item(k, split):
        c = int(rng.integers(7))
        feats = (rng.standard_normal((frames, dim)).astype(np.float32) + centres[c]).astype(np.float16)
        teacher = rng.dirichlet(np.ones(7)).astype(np.float32)
        return Item(key=str(k), split=split, feats=feats, human=c if k % 3 else -1, teacher_probs=teacher,
                    valence=0.0, arousal=0.0, group=f"speaker{k % 400}")

    train = [item(k, "train") for k in range(int(n * 0.8))]
    val = [item(k, "val") for k in range(int(n * 0.8), int(n * 0.9))]
    started = time.perf_counter()
    fit_heads(train, val)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", type=Path, default=SPEECH)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", action="store_true", help="also compare trim / pack / window encoding")
    parser.add_argument("--synthetic", type=int, default=10000, help="segments for the head-fitting timing (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary installation")
    args = parser.parse_args()
    if not (args.speech / "labels.csv").exists():
        raise SystemExit(f"needs {args.speech}/labels.csv (../shared/media/speech)")
    rows = read_labels(args.speech)
    train_rows = [r for r in rows if r["actor"] <= 16]
    test_rows = [r for r in rows if r["actor"] > 16]
    workdir = Path(tempfile.mkdtemp(prefix="bench-student-"))
    results = []
    try:
        setup_django(workdir)
        log(f"importing {len(train_rows)} clips of actors 1-16 ...")
        seconds = import_clips(train_rows)
        from clips.models import Segment
        log(f"imported in {seconds:.0f} s: {Segment.objects.count()} segments")
        labelled = label_through_queue({r["file"].stem: r["label"] for r in train_rows})
        results.append(f"labelled {labelled} segments through the queue")
        log(results[-1])
        for threads in (1, 2):
            audio, wall = encode_speed(threads)
            results.append(f"feature extraction, {threads} thread(s): {audio / wall:.1f} s of audio per wall "
                           f"second ({audio:.0f} s in {wall:.1f} s)")
            log(results[-1])
        folder = test_folder(test_rows, workdir / "test")
        runs = []
        for seed in range(args.seeds):
            summary = retrain(seed)
            if summary["status"] != "succeeded":
                raise SystemExit(f"run failed: {summary.get('error')}")
            line = evaluate(summary["model_version"], folder)
            m = summary["metrics"]
            runs.append((summary, line))
            refit = m.get("refit_full")
            released = (f"released weights refit on all {refit['segments']} segments after the guard"
                        if refit else "released weights as validated (no refit: guard not passed or STUDENT_REFIT_FULL off)")
            results.append(f"seed {seed}: {summary['model_version']} chose {m['chosen']} (val UAR "
                           f"{m['best_val_uar']:.3f}; {m['release']['reason']}); retrain {summary['wall_seconds']:.1f} s "
                           f"(heads {m['train_seconds']:.1f} s); {released}; actors 17-24: {line}")
            log(results[-1])
        uars = [float(line.split()[0].split("=")[1]) for _, line in runs]
        first = runs[0][0]["model_version"]
        for name, uar in candidate_uars(first, test_rows).items():
            results.append(f"candidate {name:8s} of {first}: UAR {uar:.3f} on actors 17-24 (n={len(test_rows)})")
            log(results[-1])
        if args.modes:
            results += compare_modes(rows)
        if args.synthetic:
            fit = synthetic_fit_seconds(args.synthetic)
            results.append(f"fitting the heads on {args.synthetic} synthetic cached segments: {fit:.1f} s")
            log(results[-1])
        print("\n".join(results))
        spread = f"mean {statistics.mean(uars):.3f}, min {min(uars):.3f}, max {max(uars):.3f} over {len(uars)} seeds"
        print(f"student test UAR on actors 17-24 (n={len(test_rows)}): {runs[0][1].split()[0]} ({spread})")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
