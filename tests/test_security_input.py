"""Probe 5: bad numbers, deep JSON and huge pages are 400s (never 500s or
every row), booleans are not numbers, and actions redirect only locally."""

import json

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from clips.models import Video
from labelstudio_emo.validation import MAX_PAGE, CappedLimitOffsetPagination

from tests.annotation_factories import label_payload, make_segments, make_video

pytestmark = [pytest.mark.security, pytest.mark.django_db]


@pytest.fixture
def ann_api(api_client, annotator):
    api_client.force_authenticate(annotator)
    return api_client


@pytest.fixture
def staff_api(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


@pytest.fixture
def assignment(ann_api):
    make_segments(make_video(), 2)
    return ann_api.get("/api/queue/next/").json()["id"]


@pytest.mark.parametrize("change", [
    {"assignment": 2**70}, {"assignment": -(2**70)}, {"segment": 2**64}, {"assignment": "1e400"},
    {"assignment": "²"}, {"valence": True}, {"arousal": False}, {"assignment": True},
    {"seconds_spent": True}, {"valence": "NaN"}, {"valence": "1e400"},
])
def test_out_of_range_and_boolean_numbers_are_400(ann_api, assignment, change):
    body = {**label_payload(assignment), **change}
    response = ann_api.post("/api/labels/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(change) <= set(response.json())


def test_valence_true_is_not_stored_as_one(ann_api, assignment):
    from annotation.models import Label
    ann_api.post("/api/labels/", {**label_payload(assignment), "valence": True}, format="json")
    assert not Label.objects.exists()


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_400(ann_api, assignment, depth):
    body = "[" * depth + "]" * depth
    response = ann_api.post("/api/labels/", body, content_type="application/json")
    assert response.status_code == 400
    body = json.dumps({**label_payload(assignment), "flags": json.loads("[" * 40 + "]" * 40)})
    assert ann_api.post("/api/labels/", body, content_type="application/json").status_code == 400


def test_oversized_json_is_400(ann_api, assignment, settings):
    settings.API_MAX_JSON_BYTES = 1000
    body = json.dumps({**label_payload(assignment), "pad": "x" * 2000})
    assert ann_api.post("/api/labels/", body, content_type="application/json").status_code == 400


@pytest.mark.parametrize("query", ["offset=1e23", "offset=100000000000000000000000", "offset=-1", "offset=²",
                                   "limit=²", "limit=1e9", "exclude=²", "exclude=99999999999999999999999"])
def test_annotator_query_numbers_are_validated(ann_api, assignment, query):
    path = "/api/queue/next/" if query.startswith("exclude") else "/api/labels/"
    assert ann_api.get(f"{path}?{query}").status_code == 400


@pytest.mark.parametrize("path", ["/api/segments/?video=²", "/api/videos/?ids=²", "/api/videos/?ids=1,²",
                                  "/api/segments/?video=99999999999999999999999",
                                  "/api/videos/?ids=99999999999999999999999", "/api/videos/?offset=1e23",
                                  "/api/videos/?offset=²", "/api/exports/?limit=abc"])
def test_staff_query_numbers_are_validated(staff_api, path):
    assert staff_api.get(path).status_code == 400


@pytest.mark.parametrize("path", ["/videos/99999999999999999999999/", "/api/videos/99999999999999999999999/",
                                  "/exports/99999999999999999999999/download/",
                                  "/api/segments/99999999999999999999999/"])
def test_huge_ids_in_paths_are_404(staff_client, path):
    assert staff_client.get(path).status_code == 404


def test_pages_are_capped(staff_api):
    video = make_video()
    make_segments(video, 3)
    response = staff_api.get(f"/api/segments/?video={video.pk}&limit=100000")
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    request = Request(APIRequestFactory().get("/x", {"limit": "100000"}))
    assert CappedLimitOffsetPagination().get_limit(request) == MAX_PAGE


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "https:evil.example",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_retry_redirects_only_locally(staff_client, target):
    video = Video.objects.create(extractor="t", external_id="x", status=Video.Status.FAILED, stage="")
    response = staff_client.post(f"/videos/{video.pk}/retry/", {"next": target})
    assert response.status_code == 302
    assert response["Location"].startswith("/") and not response["Location"].startswith(("//", "/\\"))


def test_retry_keeps_a_local_next(staff_client):
    video = Video.objects.create(extractor="t", external_id="y", status=Video.Status.FAILED, stage="")
    response = staff_client.post(f"/videos/{video.pk}/retry/", {"next": f"/videos/{video.pk}/"})
    assert response["Location"] == f"/videos/{video.pk}/"


def _csv_post(client, text):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return client.post("/import/", {"csv_file": SimpleUploadedFile("list.csv", text.encode()), "max_height": 720},
                       follow=True)


def test_a_large_csv_is_checked_cheaply_in_the_request_and_counted_honestly(staff_client, monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("the web request must not resolve host names")
    monkeypatch.setattr("clips.importing.safety.socket.getaddrinfo", no_dns)
    good = [f"https://videos{i}.example.org/talk{i}.mp4" for i in range(2000)]
    bad = ["http://127.0.0.1/x.mp4", "http://10.0.0.7/x.mp4", "ftp://example.org/x.mp4"]
    page = _csv_post(staff_client, "url\n" + "\n".join(good + bad) + "\n").content.decode()
    assert "Queued 2000 items for import." in page
    assert page.count("private or local network") == 2 and "Only http and https" in page
    assert not Video.objects.exists()  # rows and their DNS checks come from the task


def test_the_csv_task_accounts_for_every_row(staff_client, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("clips.importing.services.enqueue_import", lambda video_id: None)
    monkeypatch.setattr("clips.importing.safety.resolve_host", lambda host, port: (
        ["10.1.2.3"] if host.startswith("intranet") else ["93.184.216.34"]))
    with django_capture_on_commit_callbacks(execute=True):
        _csv_post(staff_client, "url,title\nhttps://cdn.example.org/a.mp4,A\nhttps://intranet.example.org/b.mp4,B\n")
    rows = dict(Video.objects.values_list("title", "status"))
    assert rows == {"A": "queued", "B": "failed"}


def test_read_only_media_root_gives_a_clear_error_not_a_500(staff_client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    settings.MEDIA_ROOT = "/sys/lse-media-probe"  # a file system even root cannot write
    response = staff_client.post("/import/", {"files": SimpleUploadedFile("talk.mp4", b"\x00" * 1000),
                                              "max_height": 720}, follow=True)
    assert response.status_code == 200
    assert "cannot store files" in response.content.decode() and not Video.objects.exists()
