"""Short write transactions that queue for SQLite's single write lock instead of polling it.

SQLite lets one connection write at a time. A connection that finds the lock
taken sleeps in its busy handler in growing steps (1, 2, 5, 10, ... 100 ms)
and tries again, so with twenty annotators the queue's write transactions,
each well under a millisecond, spent most of their time asleep (measured:
2 gunicorn workers x 4 threads gave ~33 labels/s; 4 single-thread workers
~20). Here the writers of this app first wait on a thread lock (threads of
one process) and an OS file lock next to the database (other processes);
both wake the next writer the moment the previous one is done. PostgreSQL
(row locks) and transactions already inside an outer atomic block just use
`transaction.atomic()`; writers that do not use the gate still work, they
only go back to SQLite's polling.
"""

import contextlib
import fcntl
import os
import threading

from django.db import connection, transaction

_thread_lock = threading.Lock()
_lock_files: dict[tuple[int, str], int] = {}  # (pid, lock path) -> descriptor: never shared across a fork


def _lock_file(db_name: str) -> int | None:
    if not db_name or db_name == ":memory:" or str(db_name).startswith("file:"):
        return None  # in-memory test databases: one process, the thread lock is enough
    key = (os.getpid(), f"{db_name}.writelock")
    if key not in _lock_files:
        _lock_files[key] = os.open(key[1], os.O_RDWR | os.O_CREAT, 0o600)
    return _lock_files[key]


@contextlib.contextmanager
def write_transaction():
    """`transaction.atomic()`, entered only when this writer's turn has come (SQLite)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    with _thread_lock:
        fd = _lock_file(str(connection.settings_dict["NAME"]))
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with transaction.atomic():
                yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
