"""Media for the annotation page: byte ranges so the browser can seek into
long source videos; what the page is told to play for each kind of segment."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.serializers import segment_media
from tests.annotation_factories import make_segments, make_video

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def stored():
    return default_storage.save("videos/range.mp4", ContentFile(DATA))


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-99", 0, 99), ("bytes=5000-", 5000, len(DATA) - 1), ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
    ("bytes=10000-99999", 10000, len(DATA) - 1),
])
def test_byte_ranges_are_served(annotator_client, stored, header, start, end):
    response = annotator_client.get(f"/media/{stored}", HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert body(response) == DATA[start:end + 1]


def test_whole_file_advertises_ranges_and_bad_ranges_are_416(annotator_client, stored):
    whole = annotator_client.get(f"/media/{stored}")
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and body(whole) == DATA
    assert annotator_client.get(f"/media/{stored}", HTTP_RANGE="bytes=20000-").status_code == 416


def test_open_ended_range_comes_in_bounded_parts_that_add_up(annotator_client, stored, monkeypatch):
    """A browser playing a long video asks "bytes=0-": each answer is capped, and
    asking from where the last one ended walks through the whole file."""
    from labelstudio_emo import byte_ranges
    monkeypatch.setattr(byte_ranges, "RANGE_CHUNK", 4096)
    received, start = b"", 0
    while start < len(DATA):
        part = annotator_client.get(f"/media/{stored}", HTTP_RANGE=f"bytes={start}-")
        assert part.status_code == 206
        end = min(start + 4096, len(DATA)) - 1
        assert part["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
        assert int(part["Content-Length"]) == end - start + 1
        received += body(part)
        start = end + 1
    assert received == DATA


def test_ranges_still_need_login(client, stored):
    assert client.get(f"/media/{stored}", HTTP_RANGE="bytes=0-9").status_code == 302


def test_on_screen_speech_loops_the_source_video_offscreen_plays_its_clip():
    video = make_video()
    video.file.save("v.mp4", ContentFile(b"x"), save=True)
    on_screen, off_screen = make_segments(video, 2)
    off_screen.box = None
    off_screen.audio.save("seg.wav", ContentFile(b"RIFF"), save=True)
    media = segment_media(on_screen)
    assert media["kind"] == "video" and media["url"] == f"/media/{video.file.name}"
    assert (media["loop_start"], media["loop_end"]) == (on_screen.start, on_screen.end)
    media = segment_media(off_screen)
    assert media["kind"] == "audio" and media["url"] == f"/media/{off_screen.audio.name}"
    assert media["loop_start"] == 0.0 and media["loop_end"] == pytest.approx(off_screen.end - off_screen.start)
