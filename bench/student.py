"""Student training and inference speed on generated speech.

    .venv/bin/python bench/student.py [--segments 200] [--epochs 5] [--threads N] [--small]

Generates N espeak-ng segments (4 classes whose voice/pitch/rate differ),
writes them as an export zip, trains the default student (CUDA when present)
and prints: training segments per second per epoch, seconds per epoch, final
test UAR beside the majority baseline, and inference milliseconds per second
of audio.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelstudio_emo.settings")

import torch  # noqa: E402

from inference.student.data import ensure_splits, read_export  # noqa: E402
from inference.student.features import FeatureConfig, read_audio  # noqa: E402
from inference.student.model import ModelConfig, count_parameters  # noqa: E402
from inference.student.predict import Student, pick_device, predict_waves  # noqa: E402
from inference.student.train import TrainConfig, evaluate_items, train_student  # noqa: E402
from tests.media.espeak_emotions import make_clips, write_export_zip  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: TrainConfig's, 1; 0 = torch's default)")
    parser.add_argument("--small", action="store_true", help="the small model the tests use")
    args = parser.parse_args()
    classes = ("angry", "happy", "sad", "neutral")
    per_class = max(5, args.segments // len(classes))
    device = pick_device()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        clips = make_clips(Path(tmp) / "clips", classes, per_class, seed=11)
        zip_path = write_export_zip(Path(tmp) / "bench.zip", clips, human=True, teacher=True)
        print(f"generated {len(clips)} segments in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        t0 = time.perf_counter()
        corpus = ensure_splits(read_export(zip_path))
        print(f"features: {time.perf_counter() - t0:.2f} s; splits {corpus.counts()}", file=sys.stderr)
        model_cfg = ModelConfig(channels=(8, 16, 32), rnn_hidden=32) if args.small else ModelConfig()
        threads = TrainConfig().threads if args.threads is None else (args.threads or None)
        train_cfg = TrainConfig(epochs=args.epochs, patience=args.epochs, threads=threads)
        seconds = sum(i.feats.shape[1] for i in corpus.splits["train"]) / FeatureConfig().frames_per_second
        print(f"device {device}, threads {threads or torch.get_num_threads()}, "
              f"{len(corpus.splits['train'])} training segments ({seconds:.0f} s of audio)")
        result = train_student(corpus.splits["train"], corpus.splits["val"], model_cfg=model_cfg,
                               train_cfg=train_cfg, progress=lambda r: print(
                                   f"epoch {r['epoch']}: {r['segments_per_second']:.1f} training segments/s, "
                                   f"{r['train_seconds']:.2f} s train + {r['seconds'] - r['train_seconds']:.2f} s val, "
                                   f"loss {r['train_loss']:.3f}, val UAR {r['val_uar']:.3f}", flush=True))
        print(f"parameters: {count_parameters(result.model)}")
        figures = evaluate_items(result.model, corpus.splits["test"], corpus.splits["train"])
        print(f"test UAR {figures['uar']:.3f} (majority baseline {figures['baseline']['uar']:.3f}), "
              f"WA {figures['wa']:.3f}, n={figures['n']}, best epoch {result.best_epoch}")

        student = Student(model=result.model.to(device), features=FeatureConfig(), device=device, meta={})
        waves = [read_audio(c.path) for c in clips[: min(64, len(clips))]]
        audio_s = sum(w.size for w in waves) / 16000
        predict_waves(student, waves[:4])  # warm-up
        t0 = time.perf_counter()
        predict_waves(student, waves)
        elapsed = time.perf_counter() - t0
        print(f"inference: {1000 * elapsed / audio_s:.2f} ms per second of audio "
              f"({len(waves)} clips, {audio_s:.0f} s, features included)")


if __name__ == "__main__":
    main()
