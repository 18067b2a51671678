"""Evaluate a student on a folder of labelled WAVs.

    evaluate_student DIR [--model NAME] [--json]

DIR holds one sub-folder per class (FER2013 names: angry, disgust, fear,
happy, sad, surprise, neutral) of WAV files at any rate, mono or stereo.
The student runs as it was trained: its speech encoder (Whisper tiny.en by
default; several files packed per 30 s window) and head, or the log-mel network.
NAME is a student ModelVersion ("ser-student" = its active, else newest, version;
"ser-student@3") or a checkpoint path; default: the active student.
Last stdout line: `uar=0.xxx accuracy=0.xxx n=N` (or JSON with --json).
"""

import json
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelVersion
from inference.registry import RegistryError, find_model
from inference.student import metrics as M
from inference.student.data import DataError, read_class_folders
from inference.student.encoders import EncoderError
from inference.student.features import read_audio
from inference.student.predict import load_student, predict_waves
from inference.student.prelabel import active_student, load_version
from labelstudio_emo.emotions import EMOTIONS


class Command(BaseCommand):
    help = "UAR / accuracy of a speech student on DIR/<class>/*.wav."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--model", default=None, help="student name[@version] or checkpoint path")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, directory, model=None, as_json=False, **options):
        student, label = _resolve(model)
        try:
            files = read_class_folders(directory)
        except DataError as exc:
            raise CommandError(str(exc)) from None
        waves, keys, truth, seconds, bad = [], [], [], 0.0, []
        for path, cls in files:
            try:
                wave = read_audio(path, student.features.sample_rate)
            except ValueError as exc:
                bad.append(f"{path}: {exc}")
                continue
            waves.append(wave)
            keys.append(str(path))
            truth.append(cls)
            seconds += wave.size / student.features.sample_rate
        for line in bad:
            self.stderr.write(f"skipped {line}")
        if not waves:
            raise CommandError("no readable audio files")
        t0 = time.perf_counter()
        try:
            probs, _ = predict_waves(student, waves, keys)
        except EncoderError as exc:
            raise CommandError(f"cannot run student {label}: {exc}") from None
        elapsed = time.perf_counter() - t0
        pred = probs.argmax(axis=1)
        figures = M.classification_figures(np.array(truth), pred)
        self.stderr.write(f"model {label}: {len(waves)} files, {seconds:.1f} s of audio, "
                          f"{1000 * elapsed / max(seconds, 1e-9):.1f} ms per second of audio")
        for name in EMOTIONS:
            if figures["support"][name]:
                self.stderr.write(f"  {name:9s} recall={figures['per_class_recall'][name]:.3f} "
                                  f"n={figures['support'][name]}")
        if as_json:
            self.stdout.write(json.dumps({
                "model": label, "uar": figures["uar"], "accuracy": figures["wa"], "macro_f1": figures["macro_f1"],
                "n": figures["n"], "per_class_recall": figures["per_class_recall"], "confusion": figures["confusion"],
                "skipped": len(bad)}))
        else:
            self.stdout.write(f"uar={figures['uar']:.3f} accuracy={figures['wa']:.3f} n={figures['n']}")


def _resolve(name: str | None):
    """The active student, a registered one ("name" or "name@N") or a checkpoint file."""
    try:
        if name is None:
            version = active_student()
            if version is None:
                raise CommandError("no active student: train one (retrain_student) or pass --model")
        elif Path(name).is_file():
            return load_student(Path(name)), name
        else:
            version = find_model(ModelVersion.Kind.STUDENT, name)
        return load_version(version), version.label
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable/mismatched weights, unknown name
        raise CommandError(f"cannot load student {name or '(active)'}: {exc}") from None
