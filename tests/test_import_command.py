"""`manage.py import_clips`: URLs and local files, --json as the last stdout
line, non-zero exit when anything failed."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clips.models import Video
from tests.import_helpers import *  # noqa: F401,F403

pytestmark = pytest.mark.django_db


def run(*args, on_commit=None):
    out, err = StringIO(), StringIO()
    error = None
    try:
        if on_commit:
            with on_commit(execute=True):
                call_command("import_clips", *args, stdout=out, stderr=err)
        else:
            call_command("import_clips", *args, stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    lines = out.getvalue().strip().splitlines()
    return (json.loads(lines[-1]) if lines else None), err.getvalue(), error


def test_sync_json_runs_the_whole_pipeline_and_reports_each_source(allow_private, media_server, import_media):
    """The "done when" of issue 4 through the command: good sources reach
    `ready` (real segmentation + prelabel in-process), bad ones say why."""
    rows, stderr, error = run(media_server.url("talk.mp4"), str(import_media / "tone.wav"),
                              media_server.url("notes.mp4"), str(import_media / "nope.mp4"), "--sync", "--json")
    assert [set(r) for r in rows] == [{"id", "status", "title", "duration", "segments", "error"}] * 4
    talk, tone, text, missing = rows
    assert (talk["status"], talk["title"], talk["error"]) == ("ready", "talk", "")
    assert talk["duration"] == pytest.approx(3.0, abs=0.1) and talk["segments"] == Video.objects.get(
        pk=talk["id"]).segments.count()
    assert tone["status"] == "ready" and Video.objects.get(pk=tone["id"]).has_video is False
    assert text["status"] == "failed" and text["error"].startswith("Not a video or audio file")
    assert missing == {"id": None, "status": "failed", "title": "nope", "duration": None, "segments": 0,
                       "error": "nope.mp4: file not found."}
    assert isinstance(error, CommandError) and "2 of 4 imports failed" in str(error)
    assert "talk" in stderr and "100%" in stderr  # progress bars + summary on stderr


def test_without_sync_the_videos_are_queued_for_the_worker(allow_private, media_server, handoffs,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        rows, _, error = run(media_server.url("talk3.mp4"), "--json")
    assert error is None and [r["status"] for r in rows] == ["queued"] and len(queued) == 1
    queued[0]()  # the commit sends the task; Celery runs it eagerly here
    assert Video.objects.get(pk=rows[0]["id"]).status == "segmenting" and handoffs == [rows[0]["id"]]
    # no worker ever picked it up: --sync on the same link finishes that video here
    again, _, error = run(media_server.url("talk3.mp4"), "--sync", "--json")
    assert error is None and again[0]["id"] == rows[0]["id"] and again[0]["status"] == "ready"


def test_csv_and_max_videos(allow_private, media_server, handoffs, tmp_path, django_capture_on_commit_callbacks):
    feed = media_server.feed("cmd_feed.xml", ["talk.mp4", "talk2.mp4", "talk3.mp4"])
    csv = tmp_path / "list.csv"
    csv.write_text(f"url,title\n{feed},Feed\n")
    with django_capture_on_commit_callbacks(execute=True):
        rows, _, error = run("--csv", str(csv), "--max-videos", "2", "--json")
    assert error is None and len(rows) == 1  # the feed, expanded by the worker
    assert sorted(Video.objects.values_list("title", flat=True)) == ["talk", "talk2"]
    assert len(handoffs) == 2


def test_csv_lists_local_files_with_their_speaker(import_media, tmp_path, django_capture_on_commit_callbacks):
    csv = tmp_path / "clips.csv"
    csv.write_text(f"url,title,speaker\n{import_media / 'tone.wav'},Tone one,Ann\n{tmp_path / 'gone.wav'},,Bob\n")
    with django_capture_on_commit_callbacks(execute=False):
        rows, _, error = run("--csv", str(csv), "--json")
    assert [r["status"] for r in rows] == ["queued", "failed"] and rows[1]["error"] == "gone.wav: file not found."
    video = Video.objects.get(pk=rows[0]["id"])
    assert (video.title, video.speaker_hint, video.extractor) == ("Tone one", "Ann", "local")


def test_duplicate_import_returns_the_same_video(allow_private, media_server, handoffs,
                                                 django_capture_on_commit_callbacks):
    first, _, _ = run(media_server.url("talk2.mp4"), "--json", on_commit=django_capture_on_commit_callbacks)
    second, _, error = run(media_server.url("talk2.mp4"), "--json", on_commit=django_capture_on_commit_callbacks)
    assert error is None and first[0]["id"] == second[0]["id"] and Video.objects.count() == 1


def test_bad_arguments_are_refused():
    with pytest.raises(CommandError, match="at least one SOURCE"):
        call_command("import_clips", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="max-duration"):
        call_command("import_clips", "http://x.example/a", "--max-duration", "soon",
                     stdout=StringIO(), stderr=StringIO())
