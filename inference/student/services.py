"""Training runs: start (one at a time), run, finish, fail, cancel.

The only place that touches the database for the student; the signal
processing lives in features/model/losses/data/train/metrics (pure modules).
A run changes nothing of the active model until it has succeeded, and even
then it only activates the new student when no student is active yet
(otherwise staff activate it from the Models page).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from labelstudio_emo.celery import task_by_name

from annotation.export.build import build_export, new_export
from annotation.models import Export
from clips.importing.files import local_path
from inference.models import ModelVersion, TrainingRun
from inference.services import enqueue_student_prelabels

from . import metrics as M
from .data import DataError, ensure_splits, read_export
from .features import FeatureConfig
from .losses import LossConfig
from .model import ARCH, ModelConfig, StudentNet
from ..teachers.fer_weights import sha256_hex
from .predict import checkpoint_bytes
from .train import TrainConfig, TrainingCancelled, evaluate_items, train_student

log = logging.getLogger(__name__)

STUDENT_NAME = "ser-student"
TASK_NAME = "gpu.train_student"
ALREADY_RUNNING = "a training run is already running"
WORKER_STOPPED = "worker stopped mid-run; start again"
# Default export for a run: every labelled segment plus prelabel-only ones
# (the teacher's soft labels train the student where no human has labelled).
DEFAULT_EXPORT_PARAMS = {"include_prelabel_only": True}
LIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


class RunAlreadyActive(Exception):
    def __init__(self, run: TrainingRun | None = None):
        super().__init__(ALREADY_RUNNING)
        self.run = run


class RunError(Exception):
    """A run cannot go on (bad export, too little data); the message is for the user."""


@dataclass
class RunSettings:
    """Everything that defines a run, stored in TrainingRun.config."""
    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def to_dict(self) -> dict:
        return {"train": self.train.to_dict(), "model": self.model.to_dict(), "loss": self.loss.to_dict(),
                "features": self.features.to_dict()}

    @classmethod
    def from_dict(cls, data: dict | None) -> "RunSettings":
        data = data or {}
        return cls(train=TrainConfig.from_dict(data.get("train")), model=ModelConfig.from_dict(data.get("model")),
                   loss=LossConfig.from_dict(data.get("loss")), features=FeatureConfig.from_dict(data.get("features")))


def live_run() -> TrainingRun | None:
    return TrainingRun.objects.filter(status__in=LIVE).first()


def start_run(user=None, export_id: int | None = None, epochs: int | None = None, config: dict | None = None,
              enqueue: bool = True) -> TrainingRun:
    """Create a queued run and (by default) send it to the gpu queue once committed.
    Raises RunAlreadyActive when a run is queued or running (database-enforced,
    so two concurrent clicks start exactly one)."""
    if export_id is not None and not Export.objects.filter(pk=export_id).exists():
        raise RunError(f"export {export_id} does not exist")
    if epochs is not None and not 1 <= int(epochs) <= 1000:
        raise RunError("epochs must be between 1 and 1000")
    try:
        settings = RunSettings.from_dict(config)
        if epochs is not None:
            settings.train = TrainConfig.from_dict({**settings.train.to_dict(), "epochs": int(epochs)})
        StudentNet(settings.model)  # a bad model config fails here, not in the worker
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RunError(f"bad training config: {exc}") from None
    if live_run() is not None:
        raise RunAlreadyActive(live_run())
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(export_id=export_id, config=settings.to_dict(),
                                             created_by=user if user is not None and user.is_authenticated else None)
    except IntegrityError:
        raise RunAlreadyActive(live_run()) from None
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.id))
    return run


def _enqueue(run_id: int):
    try:
        result = task_by_name(TASK_NAME, run_id).delay()  # by name: tasks import this module
    except Exception as exc:  # noqa: BLE001 - broker down: the run must say so, not hang queued
        log.exception("could not queue training run %s", run_id)
        fail_run(run_id, f"could not queue the run (is the task broker running?): {exc}")
        return
    TrainingRun.objects.filter(pk=run_id).exclude(task_id__gt="").update(task_id=result.id or "")


def request_cancel(run_id: int) -> TrainingRun:
    """Queued runs are cancelled at once; running ones stop at the next batch.
    Asking again for a running run marks it cancelled at once (its worker may
    be gone; if it is not, it stops at its next batch and keeps nothing)."""
    now = timezone.now()
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, cancel_requested=True, finished_at=now,
        error="cancelled before it started")
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING, cancel_requested=True).update(
        status=TrainingRun.Status.CANCELLED, finished_at=now, error="cancelled by staff (forced)")
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(cancel_requested=True)
    return TrainingRun.objects.get(pk=run_id)


def fail_run(run_id: int, reason: str):
    TrainingRun.objects.filter(pk=run_id, status__in=LIVE).update(
        status=TrainingRun.Status.FAILED, error=reason[:4000], finished_at=timezone.now())


def cancel_run(run_id: int):
    TrainingRun.objects.filter(pk=run_id, status__in=LIVE).update(
        status=TrainingRun.Status.CANCELLED, error="cancelled by staff", finished_at=timezone.now())


def fail_orphaned_runs(worker: str | None = None) -> int:
    """On worker start: runs left 'running' by this worker (or by an unknown
    one) died with it. They are marked failed so a new run can start."""
    runs = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING)
    if worker:
        runs = runs.filter(Q(config__worker=worker) | Q(config__worker__isnull=True))
    return runs.update(status=TrainingRun.Status.FAILED, error=WORKER_STOPPED, finished_at=timezone.now())


# --------------------------------------------------------------------- run
class _RunReporter:
    """Writes progress/history to the run row (throttled) and answers 'cancel?'."""

    def __init__(self, run_id: int, echo=None, enqueue_followups: bool = True):
        self.run_id, self.echo, self.enqueue_followups = run_id, echo, enqueue_followups
        self.history: list[dict] = []
        self._last_check, self._cancel = 0.0, False

    def stage(self, percent: int, message: str):
        TrainingRun.objects.filter(pk=self.run_id).update(progress=max(0, min(100, int(percent))))
        if self.echo:
            self.echo(f"[run {self.run_id}] {percent:3d}% {message}")

    def epoch(self, report: dict):
        self.history.append({k: (round(v, 5) if isinstance(v, float) else v) for k, v in report.items()})
        percent = 20 + int(75 * report["epoch"] / max(report["epochs"], 1))
        TrainingRun.objects.filter(pk=self.run_id).update(history=self.history, progress=min(percent, 95))
        if self.echo:
            self.echo(f"[run {self.run_id}] epoch {report['epoch']}/{report['epochs']} "
                      f"loss={report['train_loss']:.3f} val_loss={report['val_loss']:.3f} "
                      f"val_uar={report['val_uar']:.3f} ({report['seconds']:.1f}s)")

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self._last_check >= 1.0:  # one cheap query a second at most
            self._last_check = now
            self._cancel = TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()
        return self._cancel


def _claim(run_id: int, worker: str | None) -> TrainingRun | None:
    """queued -> running, atomically; None if the run was cancelled or taken."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != TrainingRun.Status.QUEUED:
            return None
        run.status, run.started_at, run.error, run.progress = TrainingRun.Status.RUNNING, timezone.now(), "", 0
        if worker:  # lets a restarting worker find the runs that died with it
            run.config = {**(run.config or {}), "worker": worker}
        run.save(update_fields=["status", "started_at", "error", "progress", "config"])
        return run


def _ensure_export(run: TrainingRun, reporter: _RunReporter):
    """The run's export, built now if needed (a new one when the run names none)."""
    if run.export_id is None:
        export = new_export(DEFAULT_EXPORT_PARAMS, user=run.created_by)
        TrainingRun.objects.filter(pk=run.id).update(export=export)
        run.export = export
    export = run.export
    if export.status != Export.Status.SUCCEEDED:
        reporter.stage(2, f"building export {export.id}")
        built = build_export(export.id, progress=lambda p, msg="": reporter.stage(2 + int(p * 0.08), msg or "export"))
        if built is None:
            raise RunError(f"export {export.id} was deleted while the run waited for it")
        export = built
    if export.status != Export.Status.SUCCEEDED or not export.file:
        raise RunError(f"export {export.id} failed: {export.error or 'no file'}")
    return export


def run_training(run_id: int, worker: str | None = None, echo=None,
                 followups: bool = True) -> TrainingRun | None:
    """Do a queued run in this process: export -> features -> train -> test
    metrics -> ModelVersion. Failures are recorded on the run, never raised."""
    run = _claim(run_id, worker)
    if run is None:  # already taken, finished, or deleted before its turn: nothing to do
        return TrainingRun.objects.filter(pk=run_id).first()
    reporter = _RunReporter(run_id, echo, followups)
    settings = RunSettings.from_dict(run.config)
    try:
        export = _ensure_export(run, reporter)
        reporter.stage(10, f"reading export {export.id}")
        with local_path(export.file.name) as zip_path:
            corpus = read_export(zip_path, settings.features)
        corpus = ensure_splits(corpus, seed=settings.train.seed)
        reporter.stage(20, f"training on {len(corpus.splits['train'])} segments")
        result = train_student(corpus.splits["train"], corpus.splits["val"], model_cfg=settings.model,
                               loss_cfg=settings.loss, train_cfg=settings.train, feature_cfg=settings.features,
                               progress=reporter.epoch, should_cancel=reporter.should_cancel)
        reporter.stage(96, "evaluating on the test split")
        figures = evaluate_items(result.model, corpus.splits["test"], corpus.splits["train"])
        if reporter.should_cancel() or TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists():
            raise TrainingCancelled()
        return _finish(run, export, corpus, result, figures, settings, reporter)
    except TrainingCancelled:
        cancel_run(run_id)
    except (RunError, DataError, ValueError) as exc:
        fail_run(run_id, str(exc))
    except Exception as exc:  # noqa: BLE001 - the run must say why, whatever broke
        log.exception("training run %s failed", run_id)
        fail_run(run_id, f"{type(exc).__name__}: {exc}")
    return TrainingRun.objects.get(pk=run_id)


def _save_png(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data))


def _finish(run, export, corpus, result, figures, settings: RunSettings, reporter) -> TrainingRun:
    baseline = figures.pop("baseline")
    folder = f"models/student/run-{run.id:05d}"
    figures["confusion_png"] = _save_png(f"{folder}/confusion.png", M.confusion_png(
        figures["confusion"], title=f"student, test UAR {figures['uar']:.3f}"))
    baseline["confusion_png"] = _save_png(f"{folder}/baseline-confusion.png", M.confusion_png(
        baseline["confusion"], title=f"majority baseline ({baseline['predicts']}), UAR {baseline['uar']:.3f}"))
    metrics = {
        "split": "test", **figures, "baseline": baseline,
        "best_epoch": result.best_epoch, "best_val_uar": result.best_val_uar,
        "epochs_run": len(result.history), "stopped_early": result.stopped_early,
        "train_seconds": round(result.seconds, 2), "device": result.device,
        "counts": corpus.counts(), "skipped": corpus.skipped[:50], "n_skipped": len(corpus.skipped),
        "notes": corpus.notes, "teacher_models": corpus.teacher_models, "export": export.id,
    }
    with transaction.atomic():
        version = (ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT, name=STUDENT_NAME)
                   .aggregate(v=Max("version"))["v"] or 0) + 1
        blob = checkpoint_bytes(result.model, settings.features,
                                meta={"run": run.id, "export": export.id, "name": STUDENT_NAME, "version": version})
        weights = default_storage.save(f"models/student/{STUDENT_NAME}-v{version:03d}.pt", ContentFile(blob))
        mv = ModelVersion.objects.create(
            kind=ModelVersion.Kind.STUDENT, name=STUDENT_NAME, version=version, arch=ARCH, weights=weights,
            sha256=sha256_hex(blob), metrics=metrics,
            config={**settings.to_dict(), "run": run.id, "export": export.id})
        # First student ever: activate it so off-screen prelabelling starts.
        # Later ones wait for staff to activate them (rollback stays one click).
        if not ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT, is_active=True).exists():
            mv.is_active = True
            mv.save(update_fields=["is_active"])
            metrics["activated"] = True
        updated = TrainingRun.objects.filter(pk=run.id, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.SUCCEEDED, metrics=metrics, model_version=mv, progress=100,
            finished_at=timezone.now(), error="")
        if not updated:  # cancelled or failed meanwhile: keep nothing
            transaction.set_rollback(True)
            default_storage.delete(weights)
            return TrainingRun.objects.get(pk=run.id)
    reporter.stage(100, f"done: {mv} test UAR {figures['uar']:.3f} (baseline {baseline['uar']:.3f})")
    if metrics.get("activated") and reporter.enqueue_followups:
        transaction.on_commit(enqueue_student_prelabels)
    return TrainingRun.objects.get(pk=run.id)
