"""Import, Videos and video detail pages plus the videos/segments API, as a
staff member and as an annotator sees them."""

import pytest

from clips.models import Scene, Segment, Video
from tests.import_helpers import *  # noqa: F401,F403

pytestmark = pytest.mark.django_db

STAFF_PAGES = ["/import/", "/videos/", "/videos/{id}/", "/videos/{id}/media/"]
STAFF_API = ["/api/videos/", "/api/videos/{id}/", "/api/segments/?video={id}"]


@pytest.fixture
def video(db):
    return Video.objects.create(extractor="youtube", external_id="abcdefghijk", title="A talk", status="ready",
                                duration=12.0)


def test_annotators_get_403_on_import_pages_and_api(annotator_client, video):
    for url in STAFF_PAGES + STAFF_API:
        assert annotator_client.get(url.format(id=video.pk)).status_code == 403, url
    for url in ["/import/", f"/videos/{video.pk}/retry/", f"/videos/{video.pk}/delete/"]:
        assert annotator_client.post(url).status_code == 403, url
    assert Video.objects.filter(pk=video.pk).exists()


def test_anonymous_users_are_sent_to_login_and_api_needs_auth(client, api_client, video):
    assert client.get("/videos/").status_code == 302
    assert api_client.get("/api/videos/").status_code in (401, 403)


def test_staff_pastes_three_links_and_sees_two_videos_progress_and_one_error(
        staff_client, allow_private, media_server, handoffs, django_capture_on_commit_callbacks):
    urls = [media_server.url("talk.mp4"), media_server.url("missing.mp4"), media_server.url("talk2.mp4")]
    page = staff_client.get("/import/")
    assert page.status_code == 200 and b'name="urls"' in page.content and b"720p" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/import/", {"urls": "\n".join(urls), "max_height": 720, "language": "en"})
    assert response.status_code == 302 and response["Location"] == "/videos/"
    by_url = {v.source_url: v for v in Video.objects.all()}
    assert [by_url[u].status for u in urls] == ["segmenting", "failed", "segmenting"]
    assert by_url[urls[1]].error == "The video was removed or does not exist."
    listing = staff_client.get("/videos/").content.decode()
    assert "The video was removed or does not exist." in listing
    assert listing.count('data-show-when="failed"') == 3 and listing.count(" hidden>") == 2  # one Retry button shown
    assert f'<progress max="100" value="{by_url[urls[0]].progress}"' in listing
    api = staff_client.get("/api/videos/", {"ids": ",".join(str(v.pk) for v in by_url.values())}).json()
    assert {v["status"] for v in api["results"]} == {"segmenting", "failed"} and api["count"] == 3
    assert all(v["language"] == "en" for v in api["results"])


def test_unsafe_and_malformed_lines_are_reported_on_the_page(staff_client, settings, handoffs):
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = False
    # Lines that are not http(s) links at all are refused by the form (kept in the box to fix), nothing queued.
    response = staff_client.post("/import/", {"urls": "file:///etc/passwd\nhttp://127.0.0.1/x.mp4\njavascript:alert(1)",
                                              "max_height": 720}, follow=True)
    text = response.content.decode()
    assert "Not a link" in text and "line 1: file:///etc/passwd" in text and "line 3: javascript:alert(1)" in text
    assert "http://127.0.0.1/x.mp4" in text and not Video.objects.exists()
    # A well-formed link to a private address is checked when queued and kept as a failed row with the reason.
    text = staff_client.post("/import/", {"urls": "http://127.0.0.1/x.mp4", "max_height": 720},
                             follow=True).content.decode()
    assert "private or local network address" in text
    assert Video.objects.filter(status="failed").count() == 1
    for page in ["/videos/"] + [f"/videos/{pk}/" for pk in Video.objects.values_list("pk", flat=True)]:
        html = staff_client.get(page).content.decode()
        assert 'href="javascript:' not in html and 'href="file:' not in html


def test_upload_that_is_not_a_video_is_refused_clearly(staff_client, import_media, handoffs):
    with open(import_media / "notes.mp4", "rb") as fh:
        response = staff_client.post("/import/", {"files": fh, "max_height": 720}, follow=True)
    assert "notes.mp4: Not a video or audio file" in response.content.decode()
    assert not Video.objects.exists()


def test_upload_of_a_real_video_is_imported(staff_client, import_media, handoffs, settings,
                                            django_capture_on_commit_callbacks):
    with open(import_media / "talk2.mp4", "rb") as fh, django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/import/", {"files": fh, "max_height": 720})
    assert response.status_code == 302
    video = Video.objects.get()
    assert (video.extractor, video.title, video.status) == ("upload", "talk2", "segmenting")
    assert video.audio and handoffs == [video.pk]


def test_upload_larger_than_the_limit_is_dropped(staff_client, import_media, handoffs, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000
    with open(import_media / "talk.mp4", "rb") as fh:
        response = staff_client.post("/import/", {"files": fh, "max_height": 720}, follow=True)
    assert "talk.mp4: larger than the upload limit" in response.content.decode()
    assert not Video.objects.exists()
    assert not list((settings.MEDIA_ROOT).rglob("*.mp4"))


def test_csv_upload_queues_good_rows_and_reports_bad_ones(staff_client, allow_private, media_server, handoffs,
                                                          django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile
    csv = (f"url,title,speaker,start,end\n{media_server.url('talk.mp4')},Opening,Ann,0.5,2\n"
           f"{media_server.url('talk2.mp4')},Bad,,x,\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/import/", {"csv_file": SimpleUploadedFile("list.csv", csv.encode()),
                                                  "max_height": 720}, follow=True)
    assert "CSV row 3: &#x27;x&#x27; is not a time" in response.content.decode()
    video = Video.objects.get()
    assert (video.title, video.speaker_hint, video.status) == ("Opening", "Ann", "segmenting")
    assert video.duration == pytest.approx(1.5, abs=0.1)


def test_empty_form_says_what_to_do(staff_client):
    response = staff_client.post("/import/", {"max_height": 720})
    assert "Paste at least one link" in response.content.decode()


def test_detail_page_shows_player_scenes_and_segments(staff_client, allow_private, media_server, handoffs,
                                                      django_capture_on_commit_callbacks):
    from clips.importing.inputs import ImportOptions, SourceRequest
    from clips.importing.services import submit_url
    with django_capture_on_commit_callbacks(execute=True):
        video = submit_url(SourceRequest(media_server.url("talk.mp4")), ImportOptions())
    scene = Scene.objects.create(video=video, index=0, start=0.0, end=3.0)
    Segment.objects.create(video=video, scene=scene, start=0.4, end=1.9, face_crops=["faces/x/0.jpg"])
    page = staff_client.get(f"/videos/{video.pk}/").content.decode()
    assert f'<video id="player" controls preload="metadata" src="/videos/{video.pk}/media/">' in page
    assert 'data-start="0.4" data-end="1.9"' in page and "/media/faces/x/0.jpg" in page
    media = staff_client.get(f"/videos/{video.pk}/media/", HTTP_RANGE="bytes=100-199")
    assert media.status_code == 206 and len(b"".join(media.streaming_content)) == 100
    assert media["Content-Range"].startswith("bytes 100-199/")
    segments = staff_client.get("/api/segments/", {"video": video.pk}).json()["results"]
    assert [(s["start"], s["end"], s["scene_index"], s["is_offscreen"]) for s in segments] == [(0.4, 1.9, 0, True)]
    assert segments[0]["face_crop_urls"] == ["/media/faces/x/0.jpg"]


def test_retry_and_delete_buttons(staff_client, allow_private, media_server, handoffs, import_media,
                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/import/", {"urls": media_server.url("soon.mp4"), "max_height": 720})
    video = Video.objects.get()
    assert video.status == "failed"
    (import_media / "soon.mp4").write_bytes((import_media / "talk3.mp4").read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(f"/videos/{video.pk}/retry/").status_code == 302
    video.refresh_from_db()
    assert video.status == "segmenting" and video.audio
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(f"/videos/{video.pk}/delete/").status_code == 302
    assert not Video.objects.exists()


def test_api_filters_by_status_and_rejects_unknown_ones(staff_client, video):
    Video.objects.create(extractor="youtube", external_id="zzzzzzzzzzz", status="failed", error="This video is private.")
    failed = staff_client.get("/api/videos/", {"status": "failed"}).json()["results"]
    assert [v["error"] for v in failed] == ["This video is private."]
    assert staff_client.get("/api/videos/", {"status": "nonsense"}).status_code == 400
    assert staff_client.get("/api/segments/", {"video": "x"}).status_code == 400
