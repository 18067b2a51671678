"""Celery entry points of the clips app (autodiscovered); the tasks live
beside the code they drive."""

from celery.signals import worker_ready

from .importing.tasks import *  # noqa: F401,F403
from .segmentation.tasks import *  # noqa: F401,F403

@worker_ready.connect
def start_lease_sweeps(sender=None, **kwargs):
    """Requeue what a killed worker left half-done, now and every few minutes
    (clips.recovery). The sweep runs on the worker's own timer, in its event
    loop: a thread in the main process could hold a lock (logging, the database)
    just when the pool forks a replacement child, and that child would hang."""
    from .recovery import sweep, sweep_seconds
    sweep()
    if getattr(sender, "timer", None) is not None:
        sender.timer.call_repeatedly(sweep_seconds(), sweep)
