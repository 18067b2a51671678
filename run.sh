#!/usr/bin/env bash
# Start labelstudio_emo: web server + Celery worker (queues io and gpu).
# Idempotent: installs what is missing, then serves http://127.0.0.1:${PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")"
[ "${LSE_SKIP_BOOTSTRAP:-0}" = 1 ] || ./scripts/bootstrap.sh  # 1: tests that start run.sh itself
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
STOP_GRACE=${STOP_GRACE:-8}  # seconds for running tasks and requests to end before KILL

# Each server runs in its own process group (setsid), so stopping reaches its
# children too: TERM, then KILL after STOP_GRACE seconds. A task killed that
# way is queued again by its lease (clips/recovery.py).
pgids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping..." >&2
  for pgid in "${pgids[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  for _ in $(seq $((STOP_GRACE * 10))); do
    alive=0
    for pgid in "${pgids[@]}"; do kill -0 -- "-$pgid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for pgid in "${pgids[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

# One torch/BLAS thread per worker process: with --concurrency N the cores are
# already shared out, and extra threads made CPU inference ~10x slower here.
# --max-tasks-per-child: with Celery's default pool settings a pool child
# killed while idle left the worker taking tasks it never ran (measured, see
# README "Jobs and failures"); with it set, the pool replaces the child and runs them.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} setsid .venv/bin/celery -A labelstudio_emo worker -Q io,gpu \
  --concurrency "${WORKER_CONCURRENCY:-2}" --max-tasks-per-child "${WORKER_MAX_TASKS_PER_CHILD:-100}" \
  --loglevel INFO --hostname "worker@%h" &
pgids+=($!)
# Workers and threads: gunicorn.conf.py (WEB_WORKERS, WEB_THREADS).
setsid .venv/bin/gunicorn labelstudio_emo.wsgi:application --bind "$HOST:$PORT" &
pgids+=($!)
echo "labelstudio_emo is running on http://$HOST:$PORT  (Ctrl-C stops web server and worker)" >&2
wait -n "${pgids[@]}"
