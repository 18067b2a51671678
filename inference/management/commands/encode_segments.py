"""Cache the student's speech-encoder features for segments (backfill).

    encode_segments [--all] [--video ID] [--json]

Without --all, only segments that have no cached features for the current
encoder (STUDENT_ENCODER) are encoded; --all re-encodes every segment.
Progress on stderr; --json prints {"encoder", "encoded", "cached", "failed",
"audio_seconds", "seconds"} as the last stdout line.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from inference.student.encoders import EncoderError
from inference.student.encoding import current_encoder, encode_segments


class Command(BaseCommand):
    help = "Compute and cache speech-encoder features of segments (missing ones; --all: every one)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", dest="force", help="re-encode segments already cached")
        parser.add_argument("--video", type=int, default=None, help="only this video's segments")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, force=False, video=None, as_json=False, **options):
        try:
            encoder = current_encoder()
        except EncoderError as exc:
            raise CommandError(str(exc)) from None
        if encoder is None:
            raise CommandError("no speech encoder (STUDENT_ENCODER=log-mel, or the encoder package is not "
                               "installed): the log-mel network reads audio directly, nothing to cache")
        self.stderr.write(f"encoder {encoder.name} ({encoder.checksum[:12]}), {encoder.frame_rate:g} frames/s")
        started = time.perf_counter()
        report = encode_segments(video, force=force,
                                 progress=lambda done, total: self.stderr.write(f"{done}/{total} segments"))
        seconds = time.perf_counter() - started
        for line in report.failed[:20]:
            self.stderr.write(f"failed: {line}")
        summary = {"encoder": encoder.name, **report.as_dict(), "seconds": round(seconds, 1)}
        if as_json:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in summary.items()))
        if report.failed and not report.encoded and not report.cached:
            raise CommandError(f"{len(report.failed)} segment(s) could not be read")
