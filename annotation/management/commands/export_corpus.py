import json

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from annotation.export.build import ExportError, build_export, copy_export_file, new_export
from annotation.models import Export


class Command(BaseCommand):
    # Skipping the system checks skips importing every URLconf (and the model code behind
    # them, e.g. torch): the export needs none of it, and starts in a second.
    requires_system_checks = []
    help = ("Build a corpus export zip in this process (manifest, 16 kHz audio, face crops, speaker-disjoint "
            "splits, dataset card, SHA256SUMS). Progress goes to stderr.")

    def add_arguments(self, parser):
        parser.add_argument("--out", help="also copy the zip to this file or folder")
        parser.add_argument("--min-labels", type=int, default=1, help="human labels a segment needs (default 1)")
        parser.add_argument("--min-agreement", type=float, default=0.0,
                            help="minimum vote share of the final category, 0-1 (default 0)")
        parser.add_argument("--include-prelabel-only", action="store_true",
                            help="also export segments that only have a teacher prediction")
        parser.add_argument("--exclude-flags", default="",
                            help="comma-separated flags (e.g. not_speaker,bad_audio): drop segments that half "
                                 "or more raters flagged so")
        parser.add_argument("--videos", default="", help="comma-separated video ids (default: all)")
        parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
        parser.add_argument("--json", action="store_true",
                            help='print {"id", "path", "segments", "sha256"} as the last stdout line')

    def handle(self, *args, **options):
        params = {
            "min_labels": options["min_labels"],
            "min_agreement": options["min_agreement"],
            "include_prelabel_only": options["include_prelabel_only"],
            "exclude_flags": [f.strip() for f in options["exclude_flags"].split(",") if f.strip()],
            "videos": [v.strip() for v in options["videos"].split(",") if v.strip()],
            "seed": options["seed"],
        }
        try:
            export = new_export(params)
        except ExportError as exc:
            raise CommandError(f"bad parameters: {exc}") from exc

        self.stderr.style_func = None  # progress is not an error: no red
        tty = self.stderr.isatty()

        def progress(percent: int, message: str):
            # one rewritten line on a terminal, one line per step in logs
            if tty:
                self.stderr.write(f"\rexport {export.id}: {percent:3d}% {message[:60]:<60}", ending="")
                self.stderr.flush()
            else:
                self.stderr.write(f"export {export.id}: {percent:3d}% {message}")

        built = build_export(export.id, progress=progress)
        if tty:
            self.stderr.write("")
        if built is None:
            raise CommandError(f"export {export.id} was deleted while it was being built")
        export = built
        if export.status != Export.Status.SUCCEEDED:
            raise CommandError(f"export {export.id} failed: {export.error}")
        if options["out"]:
            path = str(copy_export_file(export, options["out"]).resolve())
        else:
            try:
                path = default_storage.path(export.file.name)
            except NotImplementedError:
                path = export.file.name
        counts = export.counts
        self.stderr.write(f"export {export.id}: {counts['segments']} segments, {export.size_bytes} bytes, "
                          f"sha256 {export.sha256}")
        if options["json"]:
            self.stdout.write(json.dumps({"id": export.id, "path": path, "segments": counts["segments"],
                                          "sha256": export.sha256}))
        else:
            self.stdout.write(path)
