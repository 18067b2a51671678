"""API tokens (scripts, the load benchmark): the right user, their role, and
refusals with DRF's messages."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import queue, services
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = [pytest.mark.django_db, pytest.mark.backends]


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def segment():
    seg = make_segments(make_video(), 1)[0]
    add_prelabel(seg, "sad", 0.5)
    return seg


def test_token_acts_as_its_own_user(make_annotator, segment):
    alice, bob = make_annotator("alice"), make_annotator("bob")
    services.save_label(alice, services.LabelValues("happy", 0.5, 0.2), assignment_id=queue.next_assignment(alice).pk)

    mine = token_client(alice).get("/api/labels/", {"limit": 10})
    assert mine.status_code == 200
    assert [row["label"]["category"] for row in mine.json()] == ["happy"]
    assert token_client(bob).get("/api/labels/").json() == []  # bob sees none of alice's labels

    given = token_client(bob).get("/api/queue/next/")
    assert given.status_code == 200 and given.json()["segment"]["id"] == segment.pk


def test_token_of_a_user_without_a_role_cannot_annotate(django_user_model, segment):
    nobody = django_user_model.objects.create_user("nobody", password="long-enough-password")
    response = token_client(nobody).get("/api/queue/next/")
    assert response.status_code == 403


def test_staff_token_reaches_staff_api_annotator_token_does_not(staff_user, annotator):
    assert token_client(staff_user).get("/api/agreement/").status_code == 200
    assert token_client(annotator).get("/api/agreement/").status_code == 403


def test_group_membership_is_read_per_request(make_annotator, segment):
    carol = make_annotator("carol")
    client = token_client(carol)
    assert client.get("/api/queue/next/").status_code == 200
    carol.groups.remove(Group.objects.get(name="annotators"))
    assert client.get("/api/queue/next/").status_code == 403  # removal takes effect at once


def test_unknown_token_and_inactive_user_are_refused(annotator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/queue/next/")
    assert response.status_code in (401, 403) and response.json()["detail"] == "Invalid token."

    client = token_client(annotator)
    annotator.is_active = False
    annotator.save()
    response = client.get("/api/queue/next/")
    assert response.status_code in (401, 403) and response.json()["detail"] == "User inactive or deleted."
