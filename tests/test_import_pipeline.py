"""Import end to end through the real code (yt-dlp generic extractor over
local HTTP, ffprobe, ffmpeg, Celery eager): what a staff member would see
on each video afterwards."""

import errno
from types import SimpleNamespace

import pytest
import soundfile as sf

from clips.importing import services
from clips.importing.inputs import ImportOptions, SourceRequest
from clips.models import Video
from tests.import_helpers import *  # noqa: F401,F403

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _commit(django_capture_on_commit_callbacks):
    """Tasks are queued on commit; run them (eagerly) as a real commit would."""
    global committed
    committed = lambda: django_capture_on_commit_callbacks(execute=True)  # noqa: E731


def submit(url, **options):
    req_fields = {k: options.pop(k) for k in ("title", "speaker", "start", "end") if k in options}
    with committed():
        video = services.submit_url(SourceRequest(url, **req_fields), ImportOptions(**options))
    return Video.objects.filter(pk=video.pk).first() or video


def test_url_import_stores_media_wav_and_metadata_then_hands_off(allow_private, media_server, handoffs, settings):
    url = media_server.url("talk.mp4")
    video = submit(url, language="en")
    assert video.status == "segmenting" and video.stage == "audio" and video.error == ""
    assert video.progress == services.IMPORT_DONE_PROGRESS
    assert (video.extractor, video.external_id, video.title, video.language) == ("generic", url, "talk", "en")
    assert video.duration == pytest.approx(3.0, abs=0.1)
    assert (video.width, video.height, video.fps) == (320, 240, 25.0)
    assert video.has_audio and video.has_video
    assert video.file.name.startswith("videos/") and (settings.MEDIA_ROOT / video.file.name).is_file()
    wav = sf.info(str(settings.MEDIA_ROOT / video.audio.name))
    assert (wav.samplerate, wav.channels) == (16000, 1)
    assert wav.duration == pytest.approx(video.duration, abs=0.1)
    assert handoffs == [video.pk]
    assert list((settings.MEDIA_ROOT / "incoming").iterdir()) == []  # no leftovers


def test_importing_the_same_url_twice_returns_the_existing_video(allow_private, media_server, handoffs):
    first = submit(media_server.url("talk2.mp4"))
    again = submit(media_server.url("talk2.mp4"))
    assert again.pk == first.pk and Video.objects.count() == 1 and handoffs == [first.pk]


def test_video_without_audio_is_kept_and_marked(allow_private, media_server, handoffs):
    video = submit(media_server.url("silent.mp4"))
    assert video.status == "segmenting" and not video.has_audio and not video.audio
    assert any("no audio track" in note for note in video.notes)
    assert video.file and handoffs == [video.pk]


def test_bad_links_fail_with_clear_messages_and_leave_the_others_alone(allow_private, media_server, handoffs):
    good = submit(media_server.url("talk.mp4"))
    text = submit(media_server.url("notes.mp4"))
    missing = submit(media_server.url("gone.mp4"))
    assert text.status == "failed" and text.error.startswith("Not a video or audio file")
    assert missing.status == "failed" and missing.error == "The video was removed or does not exist."
    assert not text.file and not missing.file
    good.refresh_from_db()
    assert good.status == "segmenting" and handoffs == [good.pk]


def test_too_long_videos_are_refused(allow_private, media_server, handoffs, settings):
    video = submit(media_server.url("talk3.mp4"), max_duration=1.5)
    assert video.status == "failed" and video.error == "Too long: 2.4 s (the limit is 1.5 s)."
    assert not video.file and not list((settings.MEDIA_ROOT / "videos").glob("*")) and handoffs == []


def test_csv_range_keeps_only_that_part(allow_private, media_server, handoffs, settings):
    video = submit(media_server.url("talk.mp4"), title="Interview", speaker="Ann", start=0.5, end=2.0)
    assert video.status == "segmenting", video.error
    assert (video.title, video.speaker_hint, video.clip_start, video.clip_end) == ("Interview", "Ann", 0.5, 2.0)
    assert video.duration == pytest.approx(1.5, abs=0.1)
    assert sf.info(str(settings.MEDIA_ROOT / video.audio.name)).duration == pytest.approx(1.5, abs=0.1)


def test_playlist_feed_expands_into_videos_limited_by_max_videos(allow_private, media_server, handoffs):
    feed = media_server.feed("feed.xml", ["talk.mp4", "talk2.mp4", "silent.mp4"])
    with committed():
        placeholder = services.submit_url(SourceRequest(feed), ImportOptions(max_videos=2))
    assert not Video.objects.filter(pk=placeholder.pk).exists()  # replaced by its entries
    videos = list(Video.objects.order_by("pk"))
    assert [v.title for v in videos] == ["talk", "talk2"]
    assert all(v.status == "segmenting" and v.audio for v in videos)
    assert sorted(handoffs) == [v.pk for v in videos]


def test_network_errors_are_retried_then_succeed(allow_private, media_server, handoffs):
    video = submit(media_server.url("flaky/talk2.mp4"))  # 503 on the first request
    assert video.status == "segmenting" and video.error == ""


def test_network_errors_give_up_with_a_message(allow_private, handoffs):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    video = submit(f"http://127.0.0.1:{port}/talk.mp4")
    assert video.status == "failed"
    assert video.error.startswith("Network error while downloading.") and "Gave up after 5 attempts" in video.error


def test_disk_full_is_a_clear_error(allow_private, media_server, handoffs, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("clips.media.extract_audio", full)
    video = submit(media_server.url("talk3.mp4"))
    assert video.status == "failed" and video.error.startswith("Disk full") and handoffs == []


def test_local_audio_file_is_accepted_as_audio_only(import_media, handoffs, settings):
    with committed():
        video = services.import_file(import_media / "tone.wav", "tone.wav", ImportOptions())
    video.refresh_from_db()
    assert video.status == "segmenting" and not video.has_video and video.has_audio
    assert sf.info(str(settings.MEDIA_ROOT / video.audio.name)).samplerate == 16000
    again = services.import_file(import_media / "tone.wav", "copy.wav", ImportOptions())
    assert again.pk == video.pk  # same content, same video


def test_retry_runs_a_failed_import_again(allow_private, media_server, handoffs, import_media):
    video = submit(media_server.url("later.mp4"))
    assert video.status == "failed"
    (import_media / "later.mp4").write_bytes((import_media / "talk2.mp4").read_bytes())
    with committed():
        services.retry(video)
    video.refresh_from_db()
    assert video.status == "segmenting" and video.error == "" and handoffs == [video.pk]


def test_delete_removes_the_row_and_its_files(allow_private, media_server, handoffs, settings):
    from clips.models import Segment
    video = submit(media_server.url("talk.mp4"))
    Segment.objects.create(video=video, start=0.0, end=1.0)
    paths = [settings.MEDIA_ROOT / video.file.name, settings.MEDIA_ROOT / video.audio.name]
    with committed():
        services.delete_video(video)
    assert not Video.objects.exists() and not Segment.objects.exists()
    assert not any(p.exists() for p in paths)


def test_worker_restart_requeues_interrupted_downloads(allow_private, media_server, handoffs, settings):
    from clips.importing.files import incoming_dir
    from clips.importing.tasks import requeue_interrupted_imports
    url = media_server.url("talk3.mp4")
    stuck = Video.objects.create(extractor="generic", external_id=url, source_url=url, status="downloading",
                                 options={"worker": "celery@box"})
    partial = incoming_dir(stuck.pk) / "media.mp4.part"
    partial.write_bytes(b"half a video")
    busy = Video.objects.create(extractor="generic", external_id="other", source_url=url + "?x",
                                status="downloading", options={"worker": "celery@other-box"})
    with committed():
        requeue_interrupted_imports(sender=SimpleNamespace(hostname="celery@box"))
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert not partial.exists()
    assert stuck.status == "segmenting" and stuck.audio  # re-ran (eagerly here) to the end
    assert busy.status == "downloading"  # another live worker's download is left alone


def test_audio_link_is_imported_as_audio_only(allow_private, media_server, handoffs, settings):
    video = submit(media_server.url("tone.wav"))
    assert video.status == "segmenting", video.error
    assert video.has_audio and not video.has_video
    assert sf.info(str(settings.MEDIA_ROOT / video.audio.name)).duration == pytest.approx(2.5, abs=0.1)


def test_real_talking_head_clip_from_shared_media(allow_private, handoffs, settings):
    from clips.media import probe_media
    from tests.conftest import shared_media
    from tests.import_helpers import MediaServer
    clip = shared_media("clips", "grid_bbaf2n.mpg")
    server = MediaServer(clip.parent)
    try:
        video = submit(server.url(clip.name))
    finally:
        server.httpd.shutdown()
    assert video.status == "segmenting", video.error
    assert (video.width, video.height, video.fps) == (360, 288, 25.0)
    wav = sf.info(str(settings.MEDIA_ROOT / video.audio.name))
    assert (wav.samplerate, wav.channels) == (16000, 1)
    assert wav.duration == pytest.approx(probe_media(clip).duration, abs=0.1)


def test_youtube_playlist_rows_from_info_json(monkeypatch, allow_private, django_capture_on_commit_callbacks):
    """A YouTube playlist (yt-dlp's flat info-json; YouTube itself is not
    reachable here): one queued row per entry up to max-videos, entries longer
    than the limit refused before any download, no duplicates on re-import."""
    from clips.importing.sources import Expansion, entries_from_info
    from tests.test_import_sources import PLAYLIST
    monkeypatch.setattr(services, "expand", lambda url, opts: Expansion(
        entries_from_info(PLAYLIST, opts.max_videos), True, PLAYLIST["title"]))
    url = "https://www.youtube.com/playlist?list=PL123"
    for attempt in range(2):
        with django_capture_on_commit_callbacks(execute=False) as sent:
            placeholder = services.submit_url(SourceRequest(url), ImportOptions(max_videos=3, max_duration=60),
                                              enqueue=False)
            result = services.run_import(placeholder.pk)
        assert not Video.objects.filter(pk=placeholder.pk).exists()
        rows = {v.external_id: v for v in Video.objects.all()}
        assert sorted(rows) == ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"]
        assert rows["aaaaaaaaaaa"].status == "failed" and rows["aaaaaaaaaaa"].error == "Too long: 1:01 (the limit is 1:00)."
        assert rows["bbbbbbbbbbb"].source_url == "https://www.youtube.com/watch?v=bbbbbbbbbbb"
        assert all(rows[k].status == "queued" and rows[k].extractor == "youtube" for k in ("bbbbbbbbbbb", "ccccccccccc"))
        assert sorted(result.spawned) == sorted(v.pk for v in rows.values())
        assert len(sent) == (2 if attempt == 0 else 0)  # downloads queued once, not again


def test_media_browsers_cannot_play_is_re_encoded_once(tmp_path, handoffs, settings):
    """An MPEG-1 .mpg upload (GRID-style) is stored as H.264 MP4 on the same
    timeline, so the annotation and video pages can play it."""
    from clips import media
    from tests.import_helpers import _ffmpeg
    src = tmp_path / "old.mpg"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2.5",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2.5",
            "-c:v", "mpeg1video", "-c:a", "mp2", "-shortest", str(src))
    assert not media.is_browser_playable(media.probe_media(src))
    with committed():
        video = services.import_file(src, "old.mpg", ImportOptions())
    video.refresh_from_db()
    assert video.status == "segmenting", video.error
    stored = media.probe_media(settings.MEDIA_ROOT / video.file.name)
    assert media.is_browser_playable(stored) and stored.video_codec == "h264"
    assert stored.duration == pytest.approx(2.5, abs=0.1)
    assert any("re-encoded" in note for note in video.notes)
    videos_dir = settings.MEDIA_ROOT / "videos"
    assert [p.suffix for p in videos_dir.rglob("*") if p.is_file()] == [".mp4"]  # the .mpg upload is gone


def test_browser_playable_uploads_are_stored_as_they_are(import_media, handoffs, settings):
    from clips import media
    with committed():
        video = services.import_file(import_media / "talk.mp4", "talk.mp4", ImportOptions())
    video.refresh_from_db()
    assert not any("re-encoded" in note for note in video.notes)
    assert (settings.MEDIA_ROOT / video.file.name).read_bytes() == (import_media / "talk.mp4").read_bytes()
    assert media.is_browser_playable(media.probe_media(import_media / "talk.mp4"))
