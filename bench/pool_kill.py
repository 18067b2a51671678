"""Killed idle pool children: does the worker still run the next task?

    .venv/bin/python bench/pool_kill.py [--tries 10] [--pool prefork]

Each try starts a real worker (prefork, 2 children, the embedded broker), waits
until both children have been up for `--after` seconds, kills both with
SIGKILL and sends one ping. Prints how many pings ran within `--timeout`
seconds. `--pool prefork` runs Celery's own pool instead of the project's
(labelstudio_emo/worker_pool.py) to show the difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import LiveWorker, children, kill9, wait_for  # noqa: E402


def one_try(pool: str | None, after: float, timeout: float) -> float | None:
    """Seconds from the kill to the ping's answer, or None when it never ran."""
    with tempfile.TemporaryDirectory() as tmp:
        worker = LiveWorker(Path(tmp))
        if pool:
            worker.env["CELERY_WORKER_POOL"] = pool
        worker.start("--concurrency", "2", "--max-tasks-per-child", "100")
        try:
            wait_for(lambda: len(children(worker.proc.pid)) == 2, timeout=120, interval=0.05)
            time.sleep(after)
            kill9(*children(worker.proc.pid))
            started = time.monotonic()
            try:
                worker.celery_app().send_task("io.ping", args=["x"]).get(timeout=timeout)
            except Exception:
                return None
            return time.monotonic() - started
        finally:
            kill9(worker.proc.pid, *children(worker.proc.pid))
            worker.proc.wait()
            worker.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--after", type=float, default=1.0, help="seconds the children are up before the kill")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--pool", default=None, help="a CELERY_WORKER_POOL value (default: the project's)")
    args = parser.parse_args()
    times = [one_try(args.pool, args.after, args.timeout) for _ in range(args.tries)]
    ran = [t for t in times if t is not None]
    slowest = f", slowest {max(ran):.1f} s" if ran else ""
    print(f"pool={args.pool or 'project'} pings run after killing both idle children: "
          f"{len(ran)}/{args.tries}{slowest}")


if __name__ == "__main__":
    main()
