"""yt-dlp info-json fixtures: playlists and channels expand to their videos,
limited by max-videos; yt-dlp errors become short, honest messages."""

import pytest

from clips.importing.inputs import parse_csv, parse_time, parse_url_lines
from clips.importing.sources import entries_from_info, humanize_error, metadata_from_info, video_key


def _flat(video_id, title="", duration=None):
    return {"_type": "url", "ie_key": "Youtube", "id": video_id, "title": title, "duration": duration,
            "url": f"https://www.youtube.com/watch?v={video_id}", "channel": "Talks"}


PLAYLIST = {
    "_type": "playlist", "id": "PL123", "title": "Interviews", "extractor_key": "YoutubeTab",
    "entries": [_flat("aaaaaaaaaaa", "one", 61.0), None, _flat("bbbbbbbbbbb", "two"),
                _flat("ccccccccccc", "three"), _flat("ddddddddddd", "four")],
}

CHANNEL = {  # a channel URL without a tab: yt-dlp lists the tabs as playlists
    "_type": "playlist", "id": "UCxyz", "title": "Some Channel", "extractor_key": "YoutubeTab",
    "entries": [
        {"_type": "url", "ie_key": "YoutubeTab", "id": "UCxyz", "url": "https://www.youtube.com/@some/videos"},
        {"_type": "url", "ie_key": "YoutubeTab", "id": "UCxyz", "url": "https://www.youtube.com/@some/shorts"},
    ],
}
TABS = {
    "https://www.youtube.com/@some/videos": {"_type": "playlist", "id": "v", "entries": [
        _flat("vvvvvvvvvv1"), _flat("vvvvvvvvvv2"), _flat("vvvvvvvvvv3")]},
    "https://www.youtube.com/@some/shorts": {"_type": "playlist", "id": "s", "entries": [_flat("sssssssss01")]},
}


def test_playlist_expands_to_its_videos_in_order_skipping_unavailable_ones():
    entries = entries_from_info(PLAYLIST)
    assert [e.external_id for e in entries] == ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd"]
    first = entries[0]
    assert (first.extractor, first.url, first.title, first.duration, first.channel) == (
        "youtube", "https://www.youtube.com/watch?v=aaaaaaaaaaa", "one", 61.0, "Talks")


def test_max_videos_limits_a_playlist():
    assert [e.external_id for e in entries_from_info(PLAYLIST, max_videos=2)] == ["aaaaaaaaaaa", "bbbbbbbbbbb"]


def test_channel_tabs_are_expanded_and_limited_across_tabs():
    fetched = []

    def fetch(url):
        fetched.append(url)
        return TABS[url]
    everything = entries_from_info(CHANNEL, fetch=fetch)
    assert [e.external_id for e in everything] == ["vvvvvvvvvv1", "vvvvvvvvvv2", "vvvvvvvvvv3", "sssssssss01"]
    fetched.clear()
    limited = entries_from_info(CHANNEL, max_videos=2, fetch=fetch)
    assert [e.external_id for e in limited] == ["vvvvvvvvvv1", "vvvvvvvvvv2"]
    assert fetched == ["https://www.youtube.com/@some/videos"]  # stops before the next tab


def test_single_video_info_is_one_entry_with_its_metadata():
    info = {"id": "dQw4w9WgXcQ", "extractor_key": "Youtube", "extractor": "youtube", "title": "A talk",
            "channel": "Talks", "upload_date": "20240102", "license": "Creative Commons Attribution license (reuse allowed)",
            "webpage_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "duration": 212}
    [entry] = entries_from_info(info)
    assert (entry.extractor, entry.external_id) == ("youtube", "dQw4w9WgXcQ")
    meta = metadata_from_info(info)
    assert meta["license"].startswith("Creative Commons") and meta["upload_date"] == "20240102"
    assert meta["duration"] == 212 and meta["channel"] == "Talks"


def test_direct_links_are_keyed_by_their_url():
    info = {"id": "talk", "extractor_key": "Generic", "webpage_url": "http://a.example/x/talk.mp4"}
    assert video_key(info) == ("generic", "http://a.example/x/talk.mp4")
    other = {"id": "talk", "extractor_key": "Generic", "webpage_url": "http://b.example/talk.mp4"}
    assert video_key(other) != video_key(info)


@pytest.mark.parametrize("message, expected, transient", [
    ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video", "private", False),
    ("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader", "removed", False),
    ("ERROR: Unsupported URL: https://example.com/page", "Unsupported URL", False),
    ("ERROR: [generic] x: Unable to download webpage: HTTP Error 404: Not Found", "removed or does not exist", False),
    ("ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.", "Age-restricted", False),
    ("ERROR: [youtube] abc: Join this channel to get access to members-only content", "Members-only", False),
    ("ERROR: [youtube] abc: This live event will begin in 3 hours.", "Live streams", False),
    ("ERROR: [generic] x: Unable to download webpage: <urlopen error timed out>", "Network error", True),
    ("ERROR: unable to download video data: HTTP Error 503: Service Unavailable", "server error", True),
    ("ERROR: [Errno 28] No space left on device", "Disk full", False),
    ("ERROR: something entirely new happened", "Download failed: something entirely new happened", False),
])
def test_yt_dlp_errors_become_short_messages(message, expected, transient):
    short, is_transient = humanize_error(message)
    assert expected in short and len(short) < 120
    assert is_transient is transient


def test_csv_rows_with_optional_columns_and_clear_errors_for_bad_rows():
    text = ("\ufeffurl,title,speaker,start,end\n"
            "https://youtu.be/aaaaaaaaaaa,First,Ann,1:05,1:30.5\n"
            "https://youtu.be/bbbbbbbbbbb,,,,\n"
            ",no url,,,\n"
            "https://youtu.be/ccccccccccc,Bad,,ten,\n"
            "https://youtu.be/ddddddddddd,Backwards,,20,10\n")
    rows, errors = parse_csv(text)
    assert [(r.url[-11:], r.title, r.speaker, r.start, r.end) for r in rows] == [
        ("aaaaaaaaaaa", "First", "Ann", 65.0, 90.5), ("bbbbbbbbbbb", "", "", None, None)]
    assert errors == ["CSV row 4: no url.", "CSV row 5: 'ten' is not a time (use seconds or h:mm:ss).",
                      "CSV row 6: end (10s) must be after start (20s)."]


def test_csv_without_header_and_without_url_column():
    rows, errors = parse_csv("https://youtu.be/aaaaaaaaaaa;Title;Bob;2;4\n")
    assert rows[0].title == "Title" and rows[0].end == 4.0 and not errors
    assert parse_csv("name,age\nx,1\n")[1] == [
        "The CSV file needs a 'url' column (header row: url,title,speaker,start,end)."]


def test_url_lines_and_times():
    assert [r.url for r in parse_url_lines(" https://a.example/1 \n\n# comment\nhttps://a.example/2")] == [
        "https://a.example/1", "https://a.example/2"]
    assert parse_time("1:02:03.5") == 3723.5 and parse_time("") is None


def _fmt(format_id, height=None, vcodec="avc1", acodec="none", ext="mp4", tbr=100):
    return {"format_id": format_id, "url": f"https://media.example/{format_id}", "ext": ext, "height": height,
            "width": height and height * 16 // 9, "vcodec": vcodec, "acodec": acodec, "tbr": tbr,
            "protocol": "https"}


@pytest.mark.parametrize("max_height, expected_video", [(720, "v720"), (480, "v360"), (1080, "v1080")])
def test_format_choice_respects_max_height_and_keeps_audio(max_height, expected_video):
    """yt-dlp's own format selector with our options, on a hand-written info dict."""
    from clips.importing.sources import SourceOptions, _ydl
    info = {"id": "dQw4w9WgXcQ", "title": "t", "extractor": "youtube", "extractor_key": "Youtube",
            "webpage_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "formats": [
                _fmt("v360", 360, tbr=300), _fmt("v720", 720, tbr=1500), _fmt("v1080", 1080, tbr=3000),
                _fmt("a128", None, vcodec="none", acodec="mp4a.40.2", ext="m4a", tbr=128)]}
    with _ydl(SourceOptions(max_height=max_height)) as ydl:
        chosen = ydl.process_ie_result(info, download=False)
    assert [f["format_id"] for f in chosen["requested_formats"]] == [expected_video, "a128"]


def test_audio_only_sources_still_get_a_format():
    from clips.importing.sources import SourceOptions, _ydl
    info = {"id": "x", "title": "podcast", "extractor": "generic", "extractor_key": "Generic",
            "webpage_url": "https://media.example/x.mp3",
            "formats": [_fmt("mp3", None, vcodec="none", acodec="mp3", ext="mp3")]}
    with _ydl(SourceOptions()) as ydl:
        assert ydl.process_ie_result(info, download=False)["format_id"] == "mp3"
