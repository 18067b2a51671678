"""The annotation hot path reads and writes with plain SQL (speed):
it must store and return exactly what the ORM would, on SQLite and on
PostgreSQL (CI runs the `backends` tests again there)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import queue
from annotation.models import Assignment, Label, LabelHistory
from labelstudio_emo import fast_insert
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.backends]


@pytest.fixture
def segment():
    seg = make_segments(make_video(), 1, crops=True)[0]
    add_prelabel(seg, "sad", 0.55, valence=-0.4, arousal=0.1)
    return seg


def test_insert_stores_what_save_would(segment, annotator):
    before = timezone.now()
    label = fast_insert.insert(Label(segment=segment, annotator=annotator, category="fear", valence=-0.5,
                                     arousal=0.75, flags=["unsure", "bad_audio"], seconds_spent=3.25))
    stored = Label.objects.get(pk=label.pk)
    assert (stored.category, stored.valence, stored.arousal, stored.flags, stored.seconds_spent) == (
        "fear", -0.5, 0.75, ["unsure", "bad_audio"], 3.25)
    assert stored.created_at == label.created_at and stored.created_at >= before  # auto_now_add, aware
    assert not label._state.adding


def test_insert_refuses_a_duplicate_like_save(segment, annotator):
    fast_insert.insert(Assignment(segment=segment, annotator=annotator, expires_at=timezone.now()))
    with pytest.raises(IntegrityError), transaction.atomic():
        fast_insert.insert(Assignment(segment=segment, annotator=annotator, expires_at=timezone.now()))
    assert Assignment.objects.count() == 1


def test_insert_never_skips_a_save_receiver(segment, annotator):
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    label = Label.objects.create(segment=segment, annotator=annotator, category="happy", valence=0, arousal=0)
    post_save.connect(receiver, sender=LabelHistory)
    try:
        history = fast_insert.insert(LabelHistory(label=label, category="happy", valence=0, arousal=0))
    finally:
        post_save.disconnect(receiver, sender=LabelHistory)
    assert heard == [(history.pk, True)]


def test_label_cycle_over_token_auth_on_this_database(segment, annotator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}")

    given = client.get("/api/queue/next/").json()
    assert given["segment"]["id"] == segment.pk
    assert given["segment"]["box"] == [40, 200, 140, 120] and len(given["segment"]["media"]["face_crops"]) == 2
    assert given["segment"]["prelabel"]["category"] == "sad" and given["segment"]["prelabel"]["valence"] == -0.4
    held = client.get("/api/queue/next/").json()  # a page reload gets the same assignment back
    assert held["id"] == given["id"] and held["expires_at"] == given["expires_at"]

    body = {"assignment": given["id"], "category": "angry", "valence": -0.6, "arousal": 0.8,
            "flags": ["unsure"], "seconds_spent": 2.0}
    first, again = client.post("/api/labels/", body, format="json"), client.post("/api/labels/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    edited = client.post("/api/labels/", {**body, "category": "fear"}, format="json")
    assert edited.status_code == 200 and edited.json()["changed"] is True

    label = Label.objects.get()
    assert (label.category, label.flags, label.prelabel_shown.category) == ("fear", ["unsure"], "sad")
    assert [h.category for h in label.history.order_by("edited_at", "pk")] == ["angry", "fear"]
    assert Assignment.objects.get().status == Assignment.Status.DONE
    assert client.get("/api/queue/next/").status_code == 204


def test_expired_assignment_read_back_is_refused(segment, annotator):
    assignment = queue.next_assignment(annotator)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.force_authenticate(annotator)
    response = client.post("/api/labels/", {"assignment": assignment.pk, "category": "happy", "valence": 0,
                                            "arousal": 0}, format="json")
    assert response.status_code == 400 and "expired" in str(response.json()["assignment"])
