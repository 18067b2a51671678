"""Exports page, API and download: staff only, streamed, clear errors."""

import hashlib

import pytest
from rest_framework.authtoken.models import Token

from annotation.export.build import build_export, new_export
from annotation.models import Export
from tests.export_corpus import build_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(make_annotator):
    return build_corpus(make_annotator)


@pytest.fixture
def finished(corpus):
    return build_export(new_export({}).id)


def test_annotator_gets_403_everywhere(annotator_client, annotator, finished):
    assert annotator_client.get("/exports/").status_code == 403
    assert annotator_client.post("/exports/", {"min_labels": 1, "min_agreement": 0, "seed": 0}).status_code == 403
    assert annotator_client.get("/api/exports/").status_code == 403
    assert annotator_client.get(f"/api/exports/{finished.id}/").status_code == 403
    assert annotator_client.post("/api/exports/", {}, content_type="application/json").status_code == 403
    assert annotator_client.get(f"/exports/{finished.id}/download/").status_code == 403
    assert annotator_client.get(f"/media/{finished.file.name}").status_code == 403
    assert Export.objects.count() == 1
    # token-authenticated annotators too
    from rest_framework.test import APIClient
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}")
    assert api.get("/api/exports/").status_code == 403


def test_anonymous_is_sent_away(client, finished):
    assert client.get("/exports/").status_code == 302
    assert client.get(f"/exports/{finished.id}/download/").status_code == 302
    assert client.get("/api/exports/").status_code in (401, 403)


def test_staff_api_creates_and_reports_an_export(staff_client, corpus):
    response = staff_client.post("/api/exports/", {"min_labels": 3, "seed": 4, "exclude_flags": ["bad_audio"]},
                                 content_type="application/json")
    assert response.status_code == 201, response.content
    export_id = response.json()["id"]
    detail = staff_client.get(f"/api/exports/{export_id}/").json()  # eager Celery: already built
    assert detail["status"] == "succeeded" and detail["progress"] == 100
    assert detail["params"]["min_labels"] == 3 and detail["params"]["seed"] == 4
    assert detail["counts"]["segments"] > 0 and detail["size_bytes"] > 0 and len(detail["sha256"]) == 64
    assert detail["created_by"] == "staff"
    listing = staff_client.get("/api/exports/").json()
    assert [e["id"] for e in listing["results"]] == [export_id]
    download = staff_client.get(detail["download_url"])
    assert download.status_code == 200 and download.streaming
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == detail["sha256"]
    assert download["Content-Disposition"].startswith("attachment")


def test_api_rejects_bad_parameters_with_a_message(staff_client, corpus):
    response = staff_client.post("/api/exports/", {"min_agreement": 2, "exclude_flags": ["sleepy"]},
                                 content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert "min_agreement" in body and "exclude_flags" in body
    response = staff_client.post("/api/exports/", {"date_from": "2024-05-01", "date_to": "2024-01-01"},
                                 content_type="application/json")
    assert response.status_code == 400 and "date_from is after date_to" in response.json()["detail"]
    assert Export.objects.count() == 0


def test_api_export_of_empty_corpus_fails_with_reason(staff_client, db):
    response = staff_client.post("/api/exports/", {}, content_type="application/json")
    assert response.status_code == 201
    detail = staff_client.get(f"/api/exports/{response.json()['id']}/").json()
    assert detail["status"] == "failed" and "no segment has a human label" in detail["error"]
    assert detail["download_url"] is None
    assert staff_client.get(f"/exports/{detail['id']}/download/").status_code == 404


def test_exports_page_form_and_list(staff_client, corpus):
    page = staff_client.get("/exports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="min_labels"' in html and 'name="exclude_flags"' in html and "Talk 0" in html
    response = staff_client.post("/exports/", {"min_labels": 1, "min_agreement": "0.5", "seed": 9,
                                               "exclude_flags": ["not_speaker", "bad_audio"],
                                               "videos": [corpus.videos[0].id, corpus.videos[2].id]})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.status == "succeeded", export.error
    assert export.params["videos"] == sorted([corpus.videos[0].id, corpus.videos[2].id])
    assert export.params["min_agreement"] == 0.5
    html = staff_client.get("/exports/").content.decode()
    assert f"/exports/{export.id}/download/" in html and "seed 9" in html
    assert f"{export.counts['segments']} segments" in html


def test_exports_page_shows_failure_reason(staff_client, db):
    staff_client.post("/exports/", {"min_labels": 1, "min_agreement": 0, "seed": 0})
    html = staff_client.get("/exports/").content.decode()
    assert "failed" in html and "no segment has a human label" in html


def test_exports_page_rejects_bad_form(staff_client, corpus):
    response = staff_client.post("/exports/", {"min_labels": 0, "min_agreement": 3, "seed": 0})
    assert response.status_code == 200
    assert Export.objects.count() == 0
    assert "greater than or equal to 1" in response.content.decode()


def test_exports_page_lists_every_video_escaped_and_keeps_the_selection(staff_client, db):
    from tests.annotation_factories import make_video
    plain = make_video(title="")  # no title: its external id stands in
    odd = make_video(title='Tom & "Jerry" <live>', channel="Cartoons")
    html = staff_client.get("/exports/").content.decode()
    assert f'<option value="{plain.id}">#{plain.id} {plain.external_id}</option>' in html
    assert (f'<option value="{odd.id}">#{odd.id} Tom &amp; &quot;Jerry&quot; &lt;live&gt; (Cartoons)</option>'
            in html)
    refused = staff_client.post("/exports/", {"min_labels": 0, "min_agreement": 0, "seed": 0, "videos": [odd.id]})
    assert refused.status_code == 200  # the form comes back with its error and the chosen video still chosen
    assert f'<option value="{odd.id}" selected>' in refused.content.decode()
