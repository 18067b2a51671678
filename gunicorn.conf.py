"""Web server settings, read by `gunicorn` from the project root (run.sh,
bench/api.py and a production `gunicorn labelstudio_emo.wsgi:application`).

Why two single-threaded processes per core: a request is mostly Python
(CPU, holding the GIL) with short SQLite calls. Threads in one process queue
behind each other for the GIL, and a thread coming back from SQLite (while it
may hold the database's write turn) waits behind them: at 20 annotators
hammering the API, 2 processes x 4 threads gave p95 60-70 ms where 4
single-threaded processes gave ~40 ms at the same throughput
(bench/api.py); gunicorn's threaded worker with one thread was no better
(p95 ~80 ms: its accept loop and the request thread take turns on the GIL too).

A sync process is busy for the whole of a request, so: a playing video is
served in bounded byte ranges (labelstudio_emo/byte_ranges.py), and a request may
run WEB_TIMEOUT seconds before the process is replaced (a large upload or
export download on a slow link). Behind a reverse proxy (production) the
proxy buffers request bodies and responses, so slow clients never hold one.
"""

import os

_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

workers = int(os.environ.get("WEB_WORKERS") or max(2, 2 * _cores))
threads = int(os.environ.get("WEB_THREADS") or 1)
timeout = int(os.environ.get("WEB_TIMEOUT") or 900)
# gunicorn's default: no access log (the reverse proxy keeps one in production; Django
# logs every 4xx/5xx anyway). WEB_ACCESS_LOG=- writes one line per request to stdout
# (~5 % fewer requests per second under bench/api.py's load).
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
