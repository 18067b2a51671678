import json as jsonlib
import sys

from django.core.management.base import BaseCommand, CommandError

from inference.models import ModelVersion
from inference.registry import (RegistryError, active_model, ensure_default_teacher, find_model,
                                load_teacher, record_evaluation)
from inference.teachers.evaluation import evaluate, format_confusion, labelled_images


class Command(BaseCommand):
    help = ("Evaluate a teacher on DIR/<class>/<images> (classes: angry disgust fear happy sad "
            "surprise neutral). Last stdout line: accuracy= macro_f1= n= ms_per_face= "
            "(or one JSON object with --json). Results are kept on the model version for the Models page.")

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--teacher", help="NAME or NAME@VERSION (default: the active teacher)")
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        parser.add_argument("--no-save", action="store_true", help="do not store the result on the model version")

    def handle(self, directory, teacher=None, json=False, no_save=False, **options):
        try:
            samples = labelled_images(directory)
            default = ensure_default_teacher()  # converted once, on first use
            if teacher:
                version = find_model(ModelVersion.Kind.TEACHER, teacher)
            else:
                version = active_model(ModelVersion.Kind.TEACHER) or default
            model = load_teacher(version)
        except (FileNotFoundError, ValueError, RegistryError) as exc:
            raise CommandError(str(exc)) from exc

        def progress(done, total):
            if done == total or done % 50 == 0:
                print(f"faces: {done}/{total}", file=sys.stderr)

        print(f"evaluating {version} on {len(samples)} images in {directory}", file=sys.stderr)
        result = evaluate(model, samples, progress=progress)
        if not no_save:
            record_evaluation(version, result, directory)
        out = self.stdout
        if json:
            out.write(jsonlib.dumps({**result.as_dict(), "teacher": str(version)}))
            return
        out.write(f"teacher {version}: {result.faces_found}/{result.n} faces detected, "
                  f"the rest used whole; balanced_accuracy={result.balanced_accuracy:.3f}")
        out.write(format_confusion(result.confusion))
        out.write(result.line())
