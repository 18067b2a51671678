"""The prefork pool, made safe against a pool child killed while it waits.

With a broker that has no asynchronous client (the embedded SQLAlchemy one),
Celery runs the plain billiard pool: every child reads tasks from one shared
pipe and, in the library's version, *holds the pipe's read lock while it
waits*. A child killed then (OOM killer, `kill -9`) takes the lock with it and
every other child, and every replacement, waits for that lock forever: the
worker still receives tasks but never runs them. Here an idle child waits
without the lock and takes it only to read a message that is already there,
so a killed idle child costs nothing. (Redis/AMQP brokers use Celery's
asynchronous pool, which has a pipe per child and never had this problem.)
"""

from billiard.pool import Pool as BilliardPool
from billiard.queues import SimpleQueue
from celery.concurrency.prefork import TaskPool as PreforkTaskPool

WAIT_SECONDS = 1.0


class IdleSafeQueue(SimpleQueue):
    """A SimpleQueue whose readers hold its lock only while a message is in the pipe."""

    def get_payload(self):
        while True:
            if not self._reader.poll(WAIT_SECONDS):
                continue
            if not self._rlock.acquire(timeout=WAIT_SECONDS):
                continue  # a sibling is reading; the message may be theirs
            try:
                if self._reader.poll(0):
                    return self._reader.recv_bytes()
            finally:
                self._rlock.release()


class IdleSafePool(BilliardPool):
    def _setup_queues(self):
        super()._setup_queues()
        self._inqueue = IdleSafeQueue(ctx=self._ctx)
        self._quick_put = self._inqueue._writer.send


class TaskPool(PreforkTaskPool):
    """`prefork` with the idle-safe blocking pool (set as CELERY_WORKER_POOL)."""
    BlockingPool = IdleSafePool
