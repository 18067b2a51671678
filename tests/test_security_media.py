"""Probe 1: no way around the media check. Every /media/ spelling is normalised
before the role check; folders are 404s, links out of MEDIA_ROOT are refused."""

import os

import pytest

pytestmark = [pytest.mark.security, pytest.mark.django_db]
SECRET = b"staff-only-bytes-7f3a"


@pytest.fixture
def media(settings):
    root = settings.MEDIA_ROOT
    for name, data in {"exports/e.zip": SECRET, "models/w.pt": SECRET, "people/p.jpg": SECRET,
                       "segments/a.wav": b"RIFF", "incoming/x.mp4": SECRET}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("path", [
    "./exports/e.zip", "%2e/exports/e.zip", "%2E/exports/e.zip", "%252e/exports/e.zip",
    ".//exports/e.zip", "segments/../exports/e.zip", "segments/%2e%2e/exports/e.zip",
    "./models/w.pt", "%2e/models/w.pt", "/models/w.pt", "segments/..%2fmodels/w.pt",
    "people/p.jpg", "./people/p.jpg", "models%2fw.pt", "segments\\..\\models\\w.pt",
])
def test_annotator_cannot_reach_staff_files_by_spelling(annotator_client, media, path):
    response = annotator_client.get(f"/media/{path}")
    assert response.status_code in (403, 404), path
    assert SECRET not in b"".join(response.streaming_content if response.streaming else [response.content])


@pytest.mark.parametrize("path", ["./exports/e.zip", "exports/e.zip", "%2e/incoming/x.mp4"])
def test_exports_download_only_through_their_staff_view(staff_client, media, path):
    assert staff_client.get(f"/media/{path}").status_code == 403


def test_staff_still_see_model_figures_and_annotators_their_media(staff_client, annotator_client, media):
    assert annotator_client.get("/media/./segments/a.wav").status_code == 200
    assert annotator_client.get("/media/segments/a.wav").status_code == 200


def test_staff_see_model_figures(staff_client, media):
    assert staff_client.get("/media/%2e/models/w.pt").status_code == 200


@pytest.mark.parametrize("path", ["", ".", "segments", "segments/", "./segments/.", "%2e"])
def test_folders_are_404_not_500(annotator_client, media, path):
    assert annotator_client.get(f"/media/{path}").status_code == 404


def test_symlinks_leaving_media_root_or_into_a_staff_area_are_refused(annotator_client, media, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, media / "segments" / "out.wav")
    os.symlink(media / "exports" / "e.zip", media / "segments" / "e.wav")
    os.symlink(media / "exports", media / "segments" / "ex")
    assert annotator_client.get("/media/segments/out.wav").status_code == 404
    assert annotator_client.get("/media/segments/e.wav").status_code == 404
    assert annotator_client.get("/media/segments/ex/e.zip").status_code == 404
