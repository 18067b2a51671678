"""Train a new speech student on an export (a new export by default).

    retrain_student [--export ID] [--epochs N] [--sync] [--json]

Without --sync the run goes to the gpu queue (a worker trains it); with
--sync it trains here, progress on stderr. --json prints one JSON object as
the last stdout line: {"id", "status", "model_version", "metrics"}.
Exit code 1 when the run did not succeed (or could not start).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from inference.models import TrainingRun
from inference.student import services
from inference.student.prelabel import prelabel_missing


class Command(BaseCommand):
    help = "Retrain the speech-emotion student (distilled from the teacher + human labels)."

    def add_arguments(self, parser):
        parser.add_argument("--export", type=int, default=None, help="export id (default: build a new one)")
        parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: 80 for an encoder head, 30 for the log-mel network)")
        parser.add_argument("--sync", action="store_true", help="train in this process instead of the gpu queue")
        parser.add_argument("--json", action="store_true", dest="as_json", help="last stdout line: JSON summary")
        parser.add_argument("--config", default=None, metavar="JSON",
                            help='advanced: overrides, e.g. \'{"model": {"channels": [8, 16, 32]}, "train": {"threads": 1}}\'')

    def handle(self, *args, export=None, epochs=None, sync=False, as_json=False, config=None, **options):
        try:
            overrides = json.loads(config) if config else None
        except ValueError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}") from None
        if overrides is not None and not isinstance(overrides, dict):
            raise CommandError("--config must be a JSON object")
        try:
            run = services.start_run(export_id=export, epochs=epochs, config=overrides, enqueue=not sync)
        except (services.RunAlreadyActive, services.RunError) as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"training run {run.id} {'started here' if sync else 'queued on the gpu queue'}")
        if sync:
            run = services.run_training(run.id, echo=self.stderr.write, followups=False)
            if (run.metrics or {}).get("activated"):
                self.stderr.write(f"first student activated: prelabelled {prelabel_missing()} segment(s) with it")
        else:
            run.refresh_from_db()
        summary = _summary(run)
        if as_json:
            self.stdout.write(_dumps(summary))
        else:
            self.stdout.write(_human(summary))
        if sync and run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.id} {run.status}: {run.error}")


def _summary(run: TrainingRun) -> dict:
    mv = run.model_version
    return {"id": run.id, "status": run.status, "model_version": mv.label if mv else None,
            "model_version_id": mv.id if mv else None, "active": bool(mv and mv.is_active),
            "metrics": run.metrics or {}, "error": run.error or None}


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _human(s: dict) -> str:
    m = s["metrics"]
    if s["status"] != "succeeded":
        return f"run {s['id']}: {s['status']}" + (f" ({s['error']})" if s["error"] else "")
    b = m.get("baseline", {})
    return (f"run {s['id']}: succeeded -> {s['model_version']}{' (active)' if s['active'] else ''}\n"
            f"test uar={m['uar']:.3f} wa={m['wa']:.3f} macro_f1={m['macro_f1']:.3f} n={m['n']} "
            f"(baseline uar={b.get('uar', 0):.3f} wa={b.get('wa', 0):.3f})")
