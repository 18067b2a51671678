"""The stored agreement report: computed by a Celery task after labels change,
read by the pages.

Why: the report runs over every label; per page view that grew with the
corpus (and the package it used ran out of memory). Now a task streams the
labels one segment at a time (annotation.agreement.AgreementSums), counts the
per-annotator figures in SQL and stores the result in AgreementSnapshot with
when it was computed and over how many labels.

Debounce: a label save asks for a refresh at most every THROTTLE_S per
process; the request is one conditional UPDATE that only the first asker
wins while a computation is queued (`requested_at`), and the task runs no
sooner than AGREEMENT_REFRESH_SECONDS after the previous one. So however fast
people label, one computation per interval.
"""

import os
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from labelstudio_emo.celery import enqueue_off_request, task_by_name

from . import selectors
from .agreement import AgreementReport, agreement_sums, build_report
from .models import AgreementSnapshot

# Registered by annotation.tasks, which imports this module (never the reverse).
REFRESH_TASK = "io.refresh_agreement"

THROTTLE_S = 10.0  # per process: a burst of saves asks once
LOST_AFTER = timedelta(minutes=30)  # a queued computation never ran (worker lost it): ask again
_last_asked: dict[int, float] = {}  # pid -> monotonic time of its last request


def refresh_interval() -> float:
    return float(getattr(settings, "AGREEMENT_REFRESH_SECONDS", 120))


def compute() -> AgreementReport:
    """The report over the current labels, in memory bounded by raters, not labels."""
    return build_report(agreement_sums(selectors.agreement_units()), selectors.rater_totals(),
                        selectors.teacher_counts())


def refresh() -> AgreementSnapshot:
    """Compute and store the report (the Celery task's body)."""
    AgreementSnapshot.objects.get_or_create(pk=1)
    # Cleared first: labels saved while we compute ask for the next computation.
    AgreementSnapshot.objects.filter(pk=1).update(requested_at=None)
    started = time.perf_counter()
    report = compute()
    # One UPDATE, no write_transaction: in eager mode this runs from a label's on_commit
    # callback, inside that label's (non-reentrant) write gate.
    AgreementSnapshot.objects.filter(pk=1).update(
        report=report.as_dict(), computed_at=timezone.now(), n_labels=report.n_labels,
        seconds=time.perf_counter() - started)
    return AgreementSnapshot.objects.get(pk=1)


def request_refresh(now: datetime | None = None) -> bool:
    """Queue one computation unless one is queued already; it runs
    AGREEMENT_REFRESH_SECONDS after the last one at the earliest. True if queued."""
    now = now or timezone.now()
    # No write_transaction here: this runs from on_commit callbacks, which fire while the
    # label's own write_transaction still holds the (non-reentrant) gate.
    snapshot, _ = AgreementSnapshot.objects.get_or_create(pk=1)
    claimed = (AgreementSnapshot.objects.filter(pk=1)
               .filter(Q(requested_at__isnull=True) | Q(requested_at__lt=now - LOST_AFTER))
               .update(requested_at=now))
    if not claimed:
        return False
    wait = 0.0
    if snapshot.computed_at is not None:
        wait = max(0.0, refresh_interval() - (now - snapshot.computed_at).total_seconds())
    enqueue_off_request(task_by_name(REFRESH_TASK), countdown=wait)  # if lost, asked again after LOST_AFTER
    return True


def labels_changed() -> None:
    """After a label, review or gold label was written (call on commit)."""
    pid, clock = os.getpid(), time.monotonic()
    last = _last_asked.get(pid)
    if last is not None and clock - last < THROTTLE_S:
        return
    _last_asked[pid] = clock
    request_refresh()


def stored() -> AgreementSnapshot | None:
    """The last computed report, or None before the first computation."""
    return AgreementSnapshot.objects.filter(pk=1, computed_at__isnull=False).first()


def stored_or_requested() -> AgreementSnapshot | None:
    """The stored report; before the first one, queue it (and return it if the
    task ran at once, as in eager mode)."""
    snapshot = stored()
    if snapshot is None:
        request_refresh()
        snapshot = stored()
    return snapshot
