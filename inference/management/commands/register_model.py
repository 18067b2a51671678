import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelVersion
from inference.registry import RegistryError
from inference.services import register_model
# An entry point for both kinds: a student is checked with the student's own loader.
from inference.student.predict import check_checkpoint
from inference.teachers.archs import ARCHITECTURES


class Command(BaseCommand):
    help = ("Register a model from a local weights file: it is checked, copied into storage with "
            "its sha256 and becomes a new version of NAME (active with --activate, or when no "
            f"model of its kind is active). Teacher architectures: {', '.join(sorted(ARCHITECTURES))}.")

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=ModelVersion.Kind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--arch", required=True)
        parser.add_argument("--weights", required=True, help="local path of the weights file")
        parser.add_argument("--config", default="{}", help="JSON object stored with the version "
                            '(torch_export/torchscript teachers: {"input_size": 224, "channels": "rgb"})')
        parser.add_argument("--activate", action="store_true", help="make it the active model of its kind")
        parser.add_argument("--json", action="store_true")

    def handle(self, kind, name, arch, weights, config, activate, json, **options):
        try:
            config = jsonlib.loads(config)
            if not isinstance(config, dict):
                raise ValueError("--config must be a JSON object")
        except ValueError as exc:
            raise CommandError(f"bad --config: {exc}") from exc
        try:
            mv = register_model(kind, name, arch, weights, config=config, make_active=activate,
                                student_check=check_checkpoint)
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        mv.refresh_from_db()
        summary = {"id": mv.pk, "model": mv.label, "kind": mv.kind, "arch": mv.arch,
                   "sha256": mv.sha256, "weights": mv.weights, "active": mv.is_active}
        if json:
            self.stdout.write(jsonlib.dumps(summary))
        else:
            self.stdout.write(f"registered {mv} ({mv.arch}, sha256 {mv.sha256[:12]}) "
                              f"{'active' if mv.is_active else 'not active: activate it on the Models page'}")
