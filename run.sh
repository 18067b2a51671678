#!/usr/bin/env bash
# Start labelstudio_emo: web server + Celery worker (queues io and gpu).
# Idempotent: installs what is missing, then serves http://127.0.0.1:${PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap.sh
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping..." >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

# One torch/BLAS thread per worker process: with --concurrency N the cores are
# already shared out, and extra threads made CPU inference ~10x slower here.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} .venv/bin/celery -A labelstudio_emo worker -Q io,gpu --concurrency "${WORKER_CONCURRENCY:-2}" \
  --loglevel INFO --hostname "worker@%h" &
pids+=($!)
# Workers and threads: gunicorn.conf.py (WEB_WORKERS, WEB_THREADS).
.venv/bin/gunicorn labelstudio_emo.wsgi:application --bind "$HOST:$PORT" &
pids+=($!)
echo "labelstudio_emo is running on http://$HOST:$PORT  (Ctrl-C stops web server and worker)" >&2
wait -n "${pids[@]}"
