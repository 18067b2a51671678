"""Probe 4: `kill -TERM -<pgid>` on run.sh stops the web server, the worker
and every child of theirs within 15 s (TERM, then KILL after STOP_GRACE)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT, wait_for

pytestmark = [pytest.mark.security, pytest.mark.worker]


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout
        for child in map(int, out.split()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().split(")")[-1].split()[0] != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_sh_stops_everything_within_15_seconds(tmp_path):
    env = {**os.environ, "LSE_SKIP_BOOTSTRAP": "1", "LSE_VAR_DIR": str(tmp_path), "PORT": str(free_port()),
           "MEDIA_ROOT": str(tmp_path / "media"), "WEB_WORKERS": "1", "WORKER_CONCURRENCY": "1"}
    for var in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(var, None)
    for command in (["migrate", "--noinput", "-v", "0"], ["init_broker"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    log = open(tmp_path / "run.log", "w")
    run = subprocess.Popen(["./run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        health = f"http://127.0.0.1:{env['PORT']}/api/health/"
        wait_for(lambda: _ok(health), timeout=120, interval=0.5)
        wait_for(lambda: "ready." in (tmp_path / "run.log").read_text(), timeout=120, interval=0.5)
        processes = descendants(run.pid) | {run.pid}
        assert len(processes) >= 4  # run.sh, gunicorn master + worker, celery main + child
        started = time.monotonic()
        os.killpg(run.pid, signal.SIGTERM)
        wait_for(lambda: not [p for p in processes if alive(p)], timeout=15, interval=0.2)
        assert time.monotonic() - started < 15
    finally:
        for pid in descendants(run.pid) | {run.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run.wait(timeout=10)
        log.close()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
