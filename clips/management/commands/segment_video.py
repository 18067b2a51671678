"""Segment a video from its first unfinished stage (or --from a given one)."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from clips import pipeline
from clips.models import Segment, Video
from clips.segmentation.tasks import enqueue_segmentation


class Command(BaseCommand):
    help = "Run segmentation for a video from its first unfinished stage; enqueues unless --sync."

    def add_arguments(self, parser):
        parser.add_argument("video_id", type=int)
        parser.add_argument("--sync", action="store_true", help="run in this process instead of the workers")
        parser.add_argument("--from", dest="from_stage", choices=pipeline.SEGMENTATION_STAGES,
                            help="redo this stage and every later one")
        parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    def handle(self, *args, video_id, sync, from_stage, **options):
        as_json = options["json"]
        if not Video.objects.filter(pk=video_id).exists():
            raise CommandError(f"no video with id {video_id}")
        if not Video.objects.get(pk=video_id).file:
            raise CommandError(f"video {video_id} has no media file yet: import it first")
        if from_stage:
            try:
                pipeline.rewind(video_id, from_stage)
            except pipeline.SegmentationError as exc:
                raise CommandError(str(exc)) from exc
        if not sync:
            result = enqueue_segmentation(video_id)
            self._out({"video": video_id, "enqueued": True, "task": getattr(result, "id", None)}, as_json)
            return

        def progress(value, stage):
            print(f"video {video_id}: {stage} {value}%", file=sys.stderr, flush=True)

        try:
            pipeline.process_video(video_id, progress=progress)
        except pipeline.SegmentationError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            video = Video.objects.get(pk=video_id)
            raise CommandError(video.error or str(exc)) from exc
        video = Video.objects.get(pk=video_id)
        self._out({"video": video_id, "status": video.status, "stage": video.stage,
                   "segments": Segment.objects.filter(video_id=video_id).count(), "notes": video.notes}, as_json)

    def _out(self, summary, as_json):
        if as_json:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in summary.items()))
