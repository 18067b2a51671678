"""Celery tasks (thin: they call services and pipeline functions)."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from .prelabel import prelabel_missing
from .services import TASK_NAME, fail_orphaned_runs, run_training

log = logging.getLogger(__name__)


# acks_late=False: a worker killed mid-run must not get the run again on
# restart; worker_ready below marks it failed instead, and staff start anew.
@shared_task(bind=True, name=TASK_NAME, acks_late=False, ignore_result=True)
def train_student_task(self, run_id: int) -> None:
    """Train one student run (a queued TrainingRun) in this worker."""
    run_training(run_id, worker=getattr(self.request, "hostname", None))


@shared_task(name="gpu.encode_segments", ignore_result=True)
def encode_segments_task(video_id: int | None = None) -> dict:
    """Cache speech-encoder features of a video's new segments (all videos' when None).
    Sent by name from the clips pipeline once a video's segment audio is cut."""
    from .encoding import encode_segments

    return encode_segments(video_id).as_dict()


@shared_task(name="gpu.student_prelabel_missing", ignore_result=True)
def student_prelabel_missing_task() -> int:
    """Prelabel existing segments with the (newly) active student."""
    return prelabel_missing()


@worker_ready.connect
def fail_runs_left_running(sender=None, **kwargs):
    """A worker that starts cannot be training anything yet: runs it left
    'running' died with its previous life (killed, OOM, machine restart)."""
    queues = set()
    try:
        queues = {q.name for q in sender.app.amqp.queues.consume_from.values()}
    except Exception:  # noqa: BLE001 - older/other consumers: assume it may train
        queues = {"gpu"}
    if queues and "gpu" not in queues:
        return  # an io-only worker never trains
    hostname = getattr(sender, "hostname", None)
    count = fail_orphaned_runs(worker=hostname)
    if count:
        log.warning("marked %d training run(s) failed: worker stopped mid-run", count)
