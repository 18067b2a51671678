"""python manage.py import_clips SOURCE... [--csv FILE] [--max-videos N] [--sync] [--json]

SOURCE is a URL (video, playlist, channel) or a local media file (video, or
audio-only such as WAV/MP3). Without --sync the videos are queued for the
worker; with --sync everything (download, audio, segmentation, prelabels)
runs here and the command waits. Progress goes to stderr; --json prints one
JSON array as the last stdout line; the exit code is 1 if anything failed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clips.importing import services
from clips.importing.inputs import ImportOptions, SourceRequest, parse_csv, parse_time
from clips.importing.sources import ImportFailed, TransientImportError
from clips.models import Video
from clips.pipeline import process_video

SYNC_RETRY_DELAYS = (2, 5, 15)  # back-off for network errors in --sync mode


class Command(BaseCommand):
    help = "Import videos from URLs, playlists, channels, a CSV list or local files."

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="*", metavar="SOURCE", help="URL or local media file")
        parser.add_argument("--csv", dest="csv_file", help="CSV with columns url,title,speaker,start,end (url may be a local file path)")
        parser.add_argument("--max-videos", type=int, help="at most N videos per playlist/channel")
        parser.add_argument("--max-duration", help="refuse videos longer than this (seconds or h:mm:ss)")
        parser.add_argument("--max-height", type=int, help="download at most this height (default 720)")
        parser.add_argument("--language", default="", help="language tag stored on the videos, e.g. en")
        parser.add_argument("--sync", action="store_true", help="run the whole pipeline here and wait")
        parser.add_argument("--json", action="store_true", help="print a JSON array as the last line")

    def handle(self, *args, **opts):
        if not opts["sources"] and not opts["csv_file"]:
            raise CommandError("give at least one SOURCE or --csv FILE")
        try:
            max_duration = parse_time(opts["max_duration"] or "")
        except ValueError as exc:
            raise CommandError(f"--max-duration: {exc}") from exc
        options = ImportOptions(max_videos=opts["max_videos"], max_duration=max_duration,
                                max_height=opts["max_height"], language=opts["language"] or "")
        self.sync = opts["sync"]
        failures: list[dict] = []  # inputs that never became a video
        ids: list[int] = []

        requests = []
        for source in opts["sources"]:
            if "://" in source:
                ids.append(services.submit_url(SourceRequest(url=source), options, enqueue=not self.sync).pk)
            else:
                self._add_file(Path(source), options, ids, failures)
        if opts["csv_file"]:
            try:
                text = Path(opts["csv_file"]).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {opts['csv_file']}: {exc}") from exc
            rows, errors = parse_csv(text)
            requests += rows
            failures += [_failure(message, "") for message in errors]
        for req in requests:
            if "://" in req.url:
                ids.append(services.submit_url(req, options, enqueue=not self.sync).pk)
            else:  # a local file listed in the CSV (command line only: the web form takes URLs)
                self._add_file(Path(req.url), options, ids, failures, speaker=req.speaker, title=req.title)

        if self.sync:
            ids = self._run_all(ids)
        rows = [_row(v) for v in _in_order(ids)] + failures
        self._summary(rows)
        if opts["json"]:
            self.stdout.write(json.dumps(rows))
        bad = [r for r in rows if r["status"] == Video.Status.FAILED]
        if bad:
            raise CommandError(f"{len(bad)} of {len(rows)} imports failed")

    def _add_file(self, path: Path, options, ids, failures, speaker: str = "", title: str = ""):
        try:
            ids.append(services.import_file(path, path.name, options, extractor="local",
                                            enqueue=not self.sync, speaker=speaker, title=title).pk)
        except ImportFailed as exc:
            failures.append(_failure(str(exc), path.stem))

    # --- --sync --------------------------------------------------------------------
    def _run_all(self, ids: list[int]) -> list[int]:
        final, pending = [], list(dict.fromkeys(ids))
        while pending:
            video_id = pending.pop(0)
            result = self._import_one(video_id)
            if result.spawned:
                pending += [i for i in result.spawned if i not in final and i not in pending]
                continue
            if result.merged_into:
                video_id = result.merged_into
            final.append(video_id)
            if result.done or _unfinished(video_id):
                self._segment(video_id)
        return final

    def _import_one(self, video_id: int) -> services.RunResult:
        bar = _Bar(Video.objects.filter(pk=video_id).values_list("title", flat=True).first() or f"video {video_id}",
                   stream=self.stderr._out)
        try:
            for attempt, delay in enumerate((*SYNC_RETRY_DELAYS, None), start=1):
                try:
                    return services.run_import(video_id, worker="sync", progress=bar.update, hand_off=False)
                except TransientImportError as exc:
                    if delay is None:
                        services.fail(video_id, f"{exc} Gave up after {attempt} attempts.")
                        return services.RunResult(video_id)
                    services.back_to_queue(video_id, f"{exc} Retrying in {delay}s.")
                    bar.note(f"{exc} Retrying in {delay}s")
                    time.sleep(delay)
        finally:
            bar.close()

    def _segment(self, video_id: int):
        bar = _Bar(Video.objects.get(pk=video_id).title or f"video {video_id}", start=services.IMPORT_DONE_PROGRESS,
                   stream=self.stderr._out)
        try:
            process_video(video_id, progress=bar.update)
        except Exception as exc:  # report it per video, keep going with the others
            video = Video.objects.filter(pk=video_id).first()
            if video and video.status != Video.Status.FAILED:
                services.fail(video_id, f"Segmentation failed: {exc}")
        finally:
            video = Video.objects.filter(pk=video_id).first()
            if video:
                bar.update(video.progress, video.status)
            bar.close()

    def _summary(self, rows):
        for row in rows:
            line = f"{row['id'] or '-':>5}  {row['status']:<12} {row['title'][:50]}"
            if row["error"]:
                line += f"  ({row['error']})"
            self.stderr.write(line)


class _Bar:
    """One tqdm bar per video on stderr; accepts the progress callbacks of both
    import (percent, stage) and the segmentation pipeline (percent or fraction,
    optional stage)."""

    def __init__(self, title: str, start: int = 0, stream=None):
        from tqdm import tqdm
        self.stream = stream or sys.stderr
        self.bar = tqdm(total=100, initial=start, desc=title[:30], file=self.stream, leave=True,
                        bar_format="{desc:<30} {bar} {n:3.0f}% {postfix}", dynamic_ncols=True)

    def update(self, value=None, stage: str = "", *args, **kwargs):
        stage = stage or kwargs.get("stage", "")
        if isinstance(value, (int, float)):
            percent = value * 100 if isinstance(value, float) and 0 <= value <= 1.0 and value != int(value) else value
            self.bar.n = max(self.bar.n, min(100, float(percent)))
        if stage:
            self.bar.set_postfix_str(str(stage), refresh=False)
        self.bar.refresh()

    def note(self, text: str):
        self.bar.write(text, file=self.stream)

    def close(self):
        self.bar.close()


def _unfinished(video_id: int) -> bool:
    """Imported earlier (e.g. queued for a worker that never ran) but not segmented yet."""
    video = Video.objects.filter(pk=video_id).first()
    return bool(video and video.file and video.stage and video.stage != Video.Stage.DOWNLOADED
                and video.status in (Video.Status.SEGMENTING, Video.Status.PRELABELLING))


def _in_order(ids):
    videos = Video.objects.in_bulk(list(dict.fromkeys(ids)))
    return [videos[i] for i in dict.fromkeys(ids) if i in videos]


def _row(video: Video) -> dict:
    return {"id": video.pk, "status": video.status, "title": video.title, "duration": video.duration,
            "segments": video.segments.count(), "error": video.error}


def _failure(message: str, title: str) -> dict:
    return {"id": None, "status": Video.Status.FAILED, "title": title, "duration": None, "segments": 0,
            "error": message}
