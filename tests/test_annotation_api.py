"""The annotation API as a client sees it: next assignment, saving labels
(validation, idempotency, history), skipping, walking back, permissions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Assignment, Label, LabelHistory
from tests.annotation_factories import add_prelabel, label_payload, make_segments, make_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann_api(api_client, annotator):
    api_client.force_authenticate(annotator)
    return api_client


@pytest.fixture
def segments():
    video = make_video()
    segs = make_segments(video, 3, crops=True)
    for seg, conf in zip(segs, (0.4, 0.5, 0.6)):
        add_prelabel(seg, "happy", conf)
    return segs


def next_assignment(client, **params):
    response = client.get("/api/queue/next/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_next_returns_media_box_prelabel_and_expiry(ann_api, segments, settings):
    data = next_assignment(ann_api)
    seg = data["segment"]
    assert seg["id"] == segments[0].pk  # most uncertain first
    assert seg["box"] == [40, 200, 140, 120]
    assert seg["media"]["face_crops"][0].startswith("/media/faces/")
    assert seg["media"]["loop_start"] == seg["start"] and seg["media"]["loop_end"] == seg["end"]
    assert seg["prelabel"]["category"] == "happy" and seg["prelabel"]["confidence"] == pytest.approx(0.4)
    assert seg["prelabel"]["model"] == "fer-test@1"
    expires = Assignment.objects.get(pk=data["id"]).expires_at
    assert timedelta(minutes=settings.ANNOTATION_ASSIGNMENT_MINUTES - 1) < expires - timezone.now()


def test_blind_pass_hides_prelabels(ann_api, segments, settings):
    settings.ANNOTATION_HIDE_PRELABELS = True
    data = next_assignment(ann_api)
    assert data["segment"]["prelabel"] is None
    ann_api.post("/api/labels/", label_payload(data["id"]), format="json")
    assert Label.objects.get().prelabel_shown is None


def test_active_teacher_prelabel_is_preferred_over_a_newer_one(ann_api, segments):
    from inference.models import ModelVersion
    other = ModelVersion.objects.create(kind="teacher", name="old", arch="x", weights="w", sha256="2" * 64)
    add_prelabel(segments[0], "sad", 0.9, model=other)  # newer, but not the active teacher
    data = next_assignment(ann_api)
    assert data["segment"]["id"] == segments[0].pk
    assert data["segment"]["prelabel"]["category"] == "happy"


def test_nothing_left_is_204(ann_api):
    assert ann_api.get("/api/queue/next/").status_code == 204


def test_label_is_saved_and_idempotent(ann_api, segments, annotator):
    data = next_assignment(ann_api)
    payload = label_payload(data["id"], "happy", 0.4, -0.2, flags=["unsure", "bad_audio"])
    first = ann_api.post("/api/labels/", payload, format="json")
    assert first.status_code == 201, first.content
    again = ann_api.post("/api/labels/", payload, format="json")  # double Enter / retry
    assert again.status_code == 200 and again.json()["changed"] is False
    label = Label.objects.get()
    assert (label.category, label.valence, label.arousal) == ("happy", 0.4, -0.2)
    assert label.flags == ["bad_audio", "unsure"]
    assert label.prelabel_shown.category == "happy"
    assert label.seconds_spent == 3.0
    assert LabelHistory.objects.count() == 1
    assert Assignment.objects.get(pk=data["id"]).status == Assignment.Status.DONE


def test_edit_updates_the_same_label_and_keeps_history(ann_api, segments):
    data = next_assignment(ann_api)
    ann_api.post("/api/labels/", label_payload(data["id"], "happy"), format="json")
    by_segment = {"segment": data["segment"]["id"], "category": "sad", "valence": -0.5, "arousal": -0.3}
    response = ann_api.post("/api/labels/", by_segment, format="json")
    assert response.status_code == 200 and response.json()["changed"] is True
    label = Label.objects.get()
    assert label.category == "sad" and label.valence == -0.5
    assert [h.category for h in label.history.order_by("edited_at", "id")] == ["happy", "sad"]


@pytest.mark.parametrize("change, field, text", [
    ({"category": "bored"}, "category", "not one of the 7 categories"),
    ({"valence": 1.5}, "valence", "between -1 and 1"),
    ({"arousal": -1.01}, "arousal", "between -1 and 1"),
    ({"valence": "loud"}, "valence", "valid number"),
    ({"flags": ["sneeze"]}, "flags", "unknown flag"),
    ({"assignment": None}, "assignment", "Give the assignment"),
])
def test_bad_values_get_a_clear_400(ann_api, segments, change, field, text):
    data = next_assignment(ann_api)
    response = ann_api.post("/api/labels/", {**label_payload(data["id"]), **change}, format="json")
    assert response.status_code == 400
    assert text in str(response.json()[field])
    assert not Label.objects.exists()


def test_someone_elses_or_expired_assignment_is_refused(ann_api, segments, make_annotator, api_client):
    from rest_framework.test import APIClient
    other = APIClient()
    other.force_authenticate(make_annotator("other"))
    theirs = next_assignment(other)
    response = ann_api.post("/api/labels/", label_payload(theirs["id"]), format="json")
    assert response.status_code == 400 and "someone else's" in response.json()["assignment"][0]

    mine = next_assignment(ann_api)
    Assignment.objects.filter(pk=mine["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = ann_api.post("/api/labels/", label_payload(mine["id"]), format="json")
    assert response.status_code == 400 and "expired" in response.json()["assignment"][0]

    response = ann_api.post("/api/labels/", {"segment": segments[2].pk, "category": "sad", "valence": 0,
                                             "arousal": 0}, format="json")
    assert response.status_code == 400 and "no assignment" in response.json()["segment"][0]
    assert not Label.objects.exists()


def test_skip_gives_the_place_back_and_moves_on(ann_api, segments):
    first = next_assignment(ann_api)
    assert ann_api.post(f"/api/assignments/{first['id']}/skip/").json()["status"] == "skipped"
    second = next_assignment(ann_api)
    assert second["segment"]["id"] != first["segment"]["id"]
    response = ann_api.post("/api/labels/", label_payload(first["id"]), format="json")
    assert response.status_code == 400 and "skipped" in response.json()["assignment"][0]


def test_preload_and_walking_back_through_my_labels(ann_api, segments):
    first = next_assignment(ann_api)
    preloaded = next_assignment(ann_api, exclude=str(first["id"]))
    assert preloaded["id"] != first["id"]
    ann_api.post("/api/labels/", label_payload(first["id"], "fear"), format="json")
    ann_api.post("/api/labels/", label_payload(preloaded["id"], "sad"), format="json")
    latest = ann_api.get("/api/labels/", {"offset": 0}).json()
    assert latest[0]["label"]["category"] == "sad" and latest[0]["assignment"] == preloaded["id"]
    before = ann_api.get("/api/labels/", {"offset": 1}).json()
    assert before[0]["label"]["category"] == "fear" and before[0]["segment"]["id"] == first["segment"]["id"]
    assert next_assignment(ann_api)["done_today"] == 2


def test_annotators_cannot_reach_staff_api(ann_api, segments):
    assert ann_api.get("/api/agreement/").status_code == 403


def test_api_requires_login(api_client):
    assert api_client.get("/api/queue/next/").status_code in (401, 403)
    assert api_client.post("/api/labels/", {}, format="json").status_code in (401, 403)


def test_users_without_a_role_cannot_annotate(api_client, django_user_model):
    api_client.force_authenticate(django_user_model.objects.create_user("nobody", password="x"))
    assert api_client.get("/api/queue/next/").status_code == 403


def test_agreement_api_for_staff(api_client, staff_user, segments, make_annotator):
    from annotation import queue, services
    for name, cat in (("a", "happy"), ("b", "happy"), ("c", "sad")):
        user = make_annotator(name)
        a = queue.next_assignment(user)
        services.save_label(user, services.LabelValues(cat, 0.1, 0.1), assignment_id=a.pk)
    api_client.force_authenticate(staff_user)
    data = api_client.get("/api/agreement/").json()
    assert data["n_labels"] == 3 and data["n_raters"] == 3
    assert data["teacher_confusion"][3][3] == 2  # teacher said happy, two humans agreed
    assert data["acceptance_rate"] == pytest.approx(2 / 3)
    assert {r["rater"] for r in data["raters"]} == {"a", "b", "c"}


def test_schema_documents_the_endpoints(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/queue/next/", "/api/labels/", "/api/agreement/", "/api/assignments/{id}/skip/"):
        assert path in schema
    assert '"Assignment"' in schema and '"Agreement"' in schema


def test_assignment_and_segment_must_agree(ann_api, segments):
    data = next_assignment(ann_api)
    other = next(s.pk for s in segments if s.pk != data["segment"]["id"])
    response = ann_api.post("/api/labels/", label_payload(data["id"], segment=other), format="json")
    assert response.status_code == 400 and f"not {other}" in response.json()["segment"][0]
    assert not Label.objects.exists()


GOOD = {"assignment": 3, "category": "happy", "valence": 0.5, "arousal": -0.25, "flags": ["unsure"],
        "seconds_spent": 2.5}


@pytest.mark.parametrize("change", [
    {}, {"flags": []}, {"assignment": None, "segment": 7}, {"valence": "0.3"}, {"assignment": "12"},
    {"category": "bored"}, {"category": None}, {"valence": 1.5}, {"arousal": -1.01}, {"valence": "loud"},
    {"valence": True}, {"valence": [1]}, {"valence": float("nan")}, {"flags": ["sneeze"]}, {"flags": "unsure"},
    {"assignment": "x"}, {"assignment": None}, {"seconds_spent": -1}, {"seconds_spent": None},
    {"valence": 2, "arousal": 2, "category": "x"}, {"category": 5}, {"flags": [1]}, {"valence": ""},
    {"flags": [True]}, {"flags": [{"a": 1}]}, {"assignment": 2**70}, {"segment": -5, "assignment": None},
    {"seconds_spent": True}, {"arousal": False},
])
def test_submit_checks_match_the_documented_serializer(change):
    """POST /api/labels/ checks input without DRF fields (speed); it must accept and
    refuse exactly what the schema's LabelInputSerializer does, field by field."""
    from rest_framework.exceptions import ValidationError

    from annotation.serializers import LabelInputSerializer, parse_label_input
    data = {**GOOD, **change}
    serializer = LabelInputSerializer(data=data)
    documented_ok = serializer.is_valid()
    try:
        parsed, errors = parse_label_input(data), {}
    except ValidationError as error:
        parsed, errors = None, error.detail
    assert (parsed is not None) == documented_ok, (serializer.errors, errors)
    if documented_ok:
        assert {k: parsed[k] for k in serializer.validated_data} == dict(serializer.validated_data)
    else:
        assert set(errors) == set(serializer.errors)
        for field in errors:
            assert [str(m) for m in errors[field]] == [str(m) for m in serializer.errors[field]]


@pytest.mark.parametrize("body", [[1, 2], "happy", 3])
def test_a_body_that_is_not_an_object_gets_the_documented_400(ann_api, body):
    from annotation.serializers import LabelInputSerializer
    response = ann_api.post("/api/labels/", body, format="json")
    assert response.status_code == 400
    serializer = LabelInputSerializer(data=body)
    assert not serializer.is_valid()
    assert response.json() == {k: [str(m) for m in v] for k, v in serializer.errors.items()}
