"""What segmentation found in a video (scenes, tracks, segments, prelabels)."""

import json

from django.core.management.base import BaseCommand, CommandError

from clips.models import Video
from clips.report import video_report


class Command(BaseCommand):
    help = "Status, scenes, face tracks and segments of a video (--json: one JSON value, last line)."

    def add_arguments(self, parser):
        parser.add_argument("video_id", type=int)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, video_id, **options):
        try:
            report = video_report(video_id)
        except Video.DoesNotExist as exc:
            raise CommandError(f"no video with id {video_id}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(f"video {report['id']}: {report['status']} (stage {report['stage'] or '-'}, "
                          f"{report['progress']}%) {report['error']}")
        for note in report["notes"]:
            self.stdout.write(f"  note: {note}")
        self.stdout.write(f"  scenes: {len(report['scenes'])}, face tracks: {report['tracks']}, "
                          f"segments: {len(report['segments'])}")
        for seg in report["segments"]:
            who = f"track {seg['track']}" if seg["track"] is not None else "off-screen"
            pre = f" prelabel {seg['prelabel']['category']}" if seg["prelabel"] else ""
            self.stdout.write(f"  {seg['start']:8.2f}-{seg['end']:8.2f}  {who:<12} conf {seg['speaking_confidence']:.2f}"
                              f"  crops {seg['face_crops']}{pre}")
