"""Models page and API: staff only; activation and re-prelabelling."""

import pytest

from inference.models import ModelVersion
from inference.registry import ensure_default_teacher

pytestmark = pytest.mark.django_db


def test_annotators_are_refused(annotator_client):
    assert annotator_client.get("/models/").status_code == 403
    assert annotator_client.get("/api/models/").status_code == 403
    assert annotator_client.post("/models/prelabel-all/").status_code == 403


def test_api_requires_login(client):
    assert client.get("/api/models/").status_code in (401, 403)


def test_staff_sees_teachers_and_training_runs(staff_client):
    mv = ensure_default_teacher()
    page = staff_client.get("/models/").content.decode()
    assert "fer-mini-xception@1" in page and "Re-prelabel all with the active teacher" in page
    assert 'id="training-runs"' in page or "training-runs" in page
    data = staff_client.get("/api/models/").json()
    assert data["results"][0]["label"] == "fer-mini-xception@1" and data["results"][0]["is_active"]
    assert staff_client.get(f"/api/models/{mv.pk}/").json()["sha256"] == mv.sha256


def test_each_model_lists_how_many_prelabels_it_made(staff_client):
    from tests.annotation_factories import add_prelabel, make_segments, make_video, teacher

    first, second, unused = teacher("fer-a"), teacher("fer-b", active=False), teacher("fer-c", active=False)
    for i, segment in enumerate(make_segments(make_video(), 5)):
        add_prelabel(segment, model=first)
        if i % 2:
            add_prelabel(segment, model=second)
    counts = {row["label"]: row["prelabel_count"] for row in staff_client.get("/api/models/").json()["results"]}
    assert counts == {"fer-a@1": 5, "fer-b@1": 2, "fer-c@1": 0}


def test_activate_switches_and_reprelabel_runs(staff_client, tmp_path):
    import io

    import torch
    from django.core.files.storage import default_storage

    from inference.registry import register_model
    default = ensure_default_teacher()
    state = torch.load(io.BytesIO(default_storage.open(default.weights).read()), weights_only=True)
    state["classifier.bias"] += 0.01
    torch.save(state, tmp_path / "v2.pt")
    new = register_model("teacher", "fer-mini-xception", "mini_xception", tmp_path / "v2.pt")
    response = staff_client.post(f"/models/{new.pk}/activate/", follow=True)
    assert "is now the active teacher" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True, kind="teacher") == new
    page = staff_client.get("/models/").content.decode()
    assert "Roll back to this" in page  # the older default
    response = staff_client.post("/models/prelabel-all/", follow=True)
    assert "Prelabelled 0 segments" in response.content.decode()
    assert staff_client.post(f"/api/models/{default.pk}/activate/").json()["is_active"] is True
