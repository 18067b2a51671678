"""Training runs: start (one at a time), run, finish, fail, cancel.

The only place that touches the database for the student; the signal
processing lives in features/model/losses/data/train/metrics (pure modules).
A run is refused before it starts when the data cannot give speaker-disjoint
train/val/test splits of a minimum size (release.py). It changes nothing of
the active model until it has succeeded, and even then activates the new
student only when it beats the majority baseline and the active student on
the same test split; otherwise the model waits on the Models page with the reason.

With a speech encoder installed (default: Whisper tiny.en), features come
from the per-segment cache (encoding.py) and two heads are fitted
(head_train.py); without one, the log-mel network is trained from scratch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings as django_settings
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

from . import encoding
from . import metrics as M
from .data import DataError, log_mel_featurizer, manifest_split_sizes, read_export
from .encoders import LOG_MEL, EncoderError
from .features import FeatureConfig
from .head import predict_pooled
from .head_train import HeadTrainConfig, fit_heads, pool_items, refit_chosen
from .losses import LossConfig
from .model import ModelConfig, StudentNet
from ..checksums import sha256_hex
from .predict import Student, checkpoint_bytes, head_checkpoint_bytes, pick_device
from .release import check_corpus, release_decision, split_minimums, split_problem
from .train import TrainConfig, TrainingCancelled, evaluate_predictions, train_student

log = logging.getLogger(__name__)

STUDENT_NAME = "ser-student"
TASK_NAME = "gpu.train_student"
ALREADY_RUNNING = "a training run is already running"
WORKER_STOPPED = "worker stopped mid-run; start again"
# Default export for a run: every labelled segment plus prelabel-only ones
# (the teacher's soft labels train the student where no human has labelled).
DEFAULT_EXPORT_PARAMS = {"include_prelabel_only": True}
LIVE = TrainingRun.LIVE


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
    features: FeatureConfig = field(default_factory=FeatureConfig)   # log-mel network only
    head: HeadTrainConfig = field(default_factory=HeadTrainConfig)   # encoder heads
    encoder: str = ""   # "" = STUDENT_ENCODER; "log-mel" = the log-mel network

    def to_dict(self) -> dict:
        return {"train": self.train.to_dict(), "model": self.model.to_dict(), "loss": self.loss.to_dict(),
                "features": self.features.to_dict(), "head": self.head.to_dict(), "encoder": self.encoder}

    @classmethod
    def from_dict(cls, data: dict | None) -> "RunSettings":
        data = data or {}
        return cls(train=TrainConfig.from_dict(data.get("train")), model=ModelConfig.from_dict(data.get("model")),
                   loss=LossConfig.from_dict(data.get("loss")), features=FeatureConfig.from_dict(data.get("features")),
                   head=HeadTrainConfig.from_dict(data.get("head")), encoder=str(data.get("encoder") or ""))


def live_run() -> TrainingRun | None:
    return TrainingRun.live()


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
            settings.head = HeadTrainConfig.from_dict({**settings.head.to_dict(), "epochs": int(epochs)})
        StudentNet(settings.model)  # a bad model config fails here, not in the worker
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RunError(f"bad training config: {exc}") from None
    if live_run() is not None:
        raise RunAlreadyActive(live_run())
    try:
        problem = split_problem(planned_split_sizes(export_id))
    except DataError as exc:
        raise RunError(str(exc)) from None
    if problem:
        raise RunError(problem)
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(export_id=export_id, config=settings.to_dict(),
                                             created_by=user if user is not None and user.is_authenticated else None)
    except IntegrityError:
        raise RunAlreadyActive(live_run()) from None
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.id))
    return run


def planned_split_sizes(export_id: int | None) -> dict[str, int]:
    """Segments per split the run would train and test on (an export's own
    counts once built, else what its parameters select now)."""
    from annotation.export.build import planned_split_sizes as planned
    from annotation.models import Export

    if export_id is None:
        return planned(DEFAULT_EXPORT_PARAMS)
    export = Export.objects.get(pk=export_id)
    if export.status != Export.Status.SUCCEEDED:
        return planned(export.params)
    if (export.counts or {}).get("splits"):
        return export.counts["splits"]
    if not export.file:
        return {}
    with local_path(export.file.name) as zip_path:  # an export without counts: its manifest says
        return manifest_split_sizes(zip_path)


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
            val_loss = f" val_loss={report['val_loss']:.3f}" if "val_loss" in report else ""
            self.echo(f"[run {self.run_id}] epoch {report['epoch']}/{report['epochs']} "
                      f"loss={report['train_loss']:.3f}{val_loss} "
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
        encoder = encoding.current_encoder(settings.encoder or None)
        export = _ensure_export(run, reporter)
        reporter.stage(10, f"reading export {export.id} ({encoder.name if encoder else LOG_MEL} features)")
        featurize = encoding.export_featurizer(encoder) if encoder else log_mel_featurizer(settings.features)
        with local_path(export.file.name) as zip_path:
            corpus = read_export(zip_path, settings.features, featurize=featurize, keep_audio=("test",))
        check_corpus(corpus)
        reporter.stage(20, f"training on {len(corpus.splits['train'])} segments")
        fitted = _fit_heads(corpus, settings, encoder, reporter) if encoder else _fit_network(corpus, settings,
                                                                                              reporter)
        reporter.stage(96, "evaluating on the test split")
        test, train = corpus.splits["test"], corpus.splits["train"]
        figures = evaluate_predictions(*fitted.student.predict_features([i.feats for i in test]), test, train)
        if reporter.should_cancel() or TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists():
            raise TrainingCancelled()
        return _finish(run, export, corpus, fitted, figures, reporter)
    except TrainingCancelled:
        cancel_run(run_id)
    except (RunError, DataError, EncoderError, ValueError) as exc:
        fail_run(run_id, str(exc))
    except Exception as exc:  # noqa: BLE001 - the run must say why, whatever broke
        log.exception("training run %s failed", run_id)
        fail_run(run_id, f"{type(exc).__name__}: {exc}")
    return TrainingRun.objects.get(pk=run_id)


@dataclass
class _Fitted:
    student: Student
    blob: object            # meta -> checkpoint bytes
    summary: dict           # what the run page shows about the fit
    history: list
    refit: object = None    # items -> (blob, details): the chosen head on every labelled segment


def _fit_network(corpus, settings: RunSettings, reporter) -> _Fitted:
    """No speech encoder: the log-mel network trained from scratch."""
    result = train_student(corpus.splits["train"], corpus.splits["val"], model_cfg=settings.model,
                           loss_cfg=settings.loss, train_cfg=settings.train, feature_cfg=settings.features,
                           progress=reporter.epoch, should_cancel=reporter.should_cancel)
    student = Student(model=result.model, features=settings.features, device=pick_device("cpu"), meta={})
    return _Fitted(student, lambda meta: checkpoint_bytes(result.model, settings.features, meta=meta),
                   {"encoder": LOG_MEL, "chosen": "crnn", "best_epoch": result.best_epoch,
                    "best_val_uar": result.best_val_uar, "epochs_run": len(result.history),
                    "stopped_early": result.stopped_early, "train_seconds": round(result.seconds, 2),
                    "device": result.device}, result.history)


def _fit_heads(corpus, settings: RunSettings, encoder, reporter) -> _Fitted:
    """Frozen encoder frames: the neural head and the logistic regression, the better on validation kept."""
    result = fit_heads(corpus.splits["train"], corpus.splits["val"], settings.loss, settings.head,
                       progress=reporter.epoch, should_cancel=reporter.should_cancel)
    info = {**encoder.describe(), "spec": settings.encoder or encoding.encoder_spec()}
    student = Student(model=None, features=FeatureConfig(), device=pick_device("cpu"), meta={},
                      head=result.model, encoder_info=info, _encoder=encoder)
    test, train = corpus.splits["test"], corpus.splits["train"]
    pooled = pool_items(test)
    candidates = {}
    for name, candidate in result.candidates.items():
        test_uar = evaluate_predictions(*predict_pooled(candidate.model, pooled), test, train)["uar"]
        candidates[name] = {"val_uar": round(candidate.val_uar, 4), "test_uar": round(test_uar, 4),
                            **{k: v for k, v in candidate.details.items() if k != "history"}}
    models = {name: c.model for name, c in result.candidates.items()}
    fitted_on = [i.key for i in corpus.splits["train"] + corpus.splits["val"]]  # the chosen head: train + val

    def refit(items):
        model, details = refit_chosen(result, items, settings.loss, settings.head, reporter.should_cancel)
        return (lambda meta: head_checkpoint_bytes(model, info, meta=meta, candidates=models,
                                                   validated=result.model, validated_on=fitted_on)), details

    return _Fitted(student, lambda meta: head_checkpoint_bytes(result.model, info, meta=meta, candidates=models,
                                                               validated_on=fitted_on),
                   {"encoder": encoder.name, "encoder_checksum": encoder.checksum, "chosen": result.chosen,
                    "candidates": candidates, "best_val_uar": result.candidates[result.chosen].val_uar,
                    "best_epoch": result.candidates["head"].details.get("best_epoch"),
                    "epochs_run": len(result.history), "train_seconds": round(result.seconds, 2),
                    "device": "cpu"}, result.history, refit)


@dataclass(frozen=True)
class ActiveScore:
    """The active student scored on the new run's test split, or why it could not be."""
    label: str | None = None
    uar: float | None = None
    error: str | None = None
    unseen: list | None = None    # the test items it was compared on, when it had trained on some of the others


def _score_active(student: Student, test) -> ActiveScore:
    """The active student on the same test items, leaving out any it was fitted on
    (after new labels the splits can move a speaker from its training side to this
    run's test side, where it would score what it has learnt by heart)."""
    from .prelabel import active_student, load_version

    active = active_student()
    if active is None:
        return ActiveScore()
    try:
        other = load_version(active)
        unseen = None
        if other.validated_on:
            unseen = [i for i in test if i.key not in other.validated_on]
            if len(unseen) == len(test):
                unseen = None
            elif len(unseen) < split_minimums()[1]:
                return ActiveScore(active.label, error=f"it was trained on {len(test) - len(unseen)} of the "
                                                       f"{len(test)} test segments, too few others are left to compare on")
        scored = unseen or test
        same = (other.encoder_info and student.encoder_info
                and other.encoder_info.get("checksum") == student.encoder_info.get("checksum"))
        if same:
            feats = [i.feats for i in scored]
        else:
            from .features import read_audio
            feats = other.featurize([read_audio(i.audio) for i in scored], [i.key for i in scored])
        probs, va = other.predict_features(feats, validated=True)   # a refit head has seen its own split
        return ActiveScore(active.label, evaluate_predictions(probs, va, scored, [])["uar"], unseen=unseen)
    except Exception as exc:  # noqa: BLE001 - unreadable weights, missing encoder: the page says so
        log.warning("could not score the active student %s: %s", active, exc)
        return ActiveScore(active.label, error=f"{type(exc).__name__}: {exc}")


def _save_png(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data))


def _finish(run, export, corpus, fitted: _Fitted, figures, reporter) -> TrainingRun:
    baseline = figures.pop("baseline")
    test = corpus.splits["test"]
    active = _score_active(fitted.student, test)
    compared = None
    if active.unseen:  # both students on the segments the active one has not seen
        mine = evaluate_predictions(*fitted.student.predict_features([i.feats for i in active.unseen]),
                                    active.unseen, [])["uar"]
        compared = (mine, len(active.unseen))
    release = release_decision(figures["uar"], baseline["uar"], figures["n"], active.label, active.uar,
                               active.error, compared=compared)
    blob, refit = fitted.blob, None
    if release.activate and fitted.refit is not None and django_settings.STUDENT_REFIT_FULL:
        reporter.stage(98, "guard passed: refitting the chosen head on every labelled segment")
        blob, refit = fitted.refit([i for split in ("train", "val", "test") for i in corpus.splits[split]])
    folder = f"models/student/run-{run.id:05d}"
    figures["confusion_png"] = _save_png(f"{folder}/confusion.png", M.confusion_png(
        figures["confusion"], title=f"student, test UAR {figures['uar']:.3f}"))
    baseline["confusion_png"] = _save_png(f"{folder}/baseline-confusion.png", M.confusion_png(
        baseline["confusion"], title=f"majority baseline ({baseline['predicts']}), UAR {baseline['uar']:.3f}"))
    metrics = {
        "split": "test", **figures, "baseline": baseline, **fitted.summary,
        "release": release.as_dict(), "activated": release.activate, "refit_full": refit,
        "counts": corpus.counts(), "skipped": corpus.skipped[:50], "n_skipped": len(corpus.skipped),
        "notes": corpus.notes, "teacher_models": corpus.teacher_models, "export": export.id,
    }
    with transaction.atomic():
        version = (ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT, name=STUDENT_NAME)
                   .aggregate(v=Max("version"))["v"] or 0) + 1
        blob = blob({"run": run.id, "export": export.id, "name": STUDENT_NAME, "version": version})
        weights = default_storage.save(f"models/student/{STUDENT_NAME}-v{version:03d}.pt", ContentFile(blob))
        mv = ModelVersion.objects.create(
            kind=ModelVersion.Kind.STUDENT, name=STUDENT_NAME, version=version, arch=fitted.student.arch,
            weights=weights, sha256=sha256_hex(blob), metrics=metrics,
            config={**RunSettings.from_dict(run.config).to_dict(), "run": run.id, "export": export.id})
        updated = TrainingRun.objects.filter(pk=run.id, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.SUCCEEDED, metrics=metrics, model_version=mv, progress=100,
            finished_at=timezone.now(), error="", history=reporter.history)
        if not updated:  # cancelled or failed meanwhile: keep nothing
            transaction.set_rollback(True)
            default_storage.delete(weights)
            return TrainingRun.objects.get(pk=run.id)
    if release.activate:
        _activate(mv)
    reporter.stage(100, f"done: {mv} test UAR {figures['uar']:.3f} (baseline {baseline['uar']:.3f}); "
                        f"{'activated' if release.activate else 'not activated'}: {release.reason}")
    return TrainingRun.objects.get(pk=run.id)


def _activate(mv: ModelVersion) -> None:
    """Through the inference service's activation (which queues the new student's prelabels)."""
    from inference.registry import RegistryError
    from inference.services import activate

    try:
        activate(mv)
    except RegistryError as exc:  # another student was activated at the same moment
        log.warning("run model %s not activated: %s", mv, exc)
