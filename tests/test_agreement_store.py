"""The stored agreement report (computed by the Celery task, eager here) and
the review list's per-segment summaries, kept current as labels change."""

import random

import pytest

from annotation import agreement_store, queue, selectors, services
from annotation.agreement import agreement_report
from annotation.models import AgreementSnapshot, GoldLabel, Label, SegmentAggregate
from annotation.segment_aggregates import summarise
from labelstudio_emo.emotions import EMOTIONS
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users here never log in


def label(user, category, valence=0.0, arousal=0.0):
    assignment = queue.next_assignment(user)
    return services.save_label(user, services.LabelValues(category, valence, arousal), assignment_id=assignment.pk)


@pytest.fixture
def corpus(make_annotator, settings):
    settings.ANNOTATION_GOLD_EVERY = 0
    segments = make_segments(make_video(), 12)
    for i, segment in enumerate(segments):
        add_prelabel(segment, EMOTIONS[i % 7], 0.3 + i / 40)
    return segments, [make_annotator(f"ann{i}") for i in range(4)]


def test_database_report_equals_the_in_memory_one(corpus, settings):
    """Streamed units + SQL aggregates give the same figures as the report over flat rows."""
    segments, users = corpus
    settings.ANNOTATION_LABELS_PER_SEGMENT = 4
    rng = random.Random(5)
    for user in users:
        settings.ANNOTATION_HIDE_PRELABELS = user is users[-1]  # one blind annotator: anchoring figures
        for _ in range(8):
            label(user, rng.choice(EMOTIONS[:3]), round(rng.uniform(-1, 1), 6), rng.uniform(-1, 1))
    GoldLabel.objects.create(segment=Label.objects.first().segment, category="angry", valence=0.2)
    expected = agreement_report(selectors.agreement_rows()).as_dict()
    got = agreement_store.compute().as_dict()
    assert _close(got, expected)
    assert got["alpha_valence"] is not None and got["raters"][0]["gold_n"] + got["raters"][1]["gold_n"] >= 1


def _close(a, b) -> bool:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert len(a) == len(b)
        return all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-9)
        return True
    assert a == b
    return True


def test_stored_report_refreshes_after_labels_change(corpus, staff_client, django_capture_on_commit_callbacks,
                                                     settings):
    segments, users = corpus
    data = staff_client.get("/api/agreement/").json()  # first visit: computed (eager task) and stored
    assert data["n_labels"] == 0 and data["computed_at"] and data["refresh_pending"] is False
    first = AgreementSnapshot.objects.get(pk=1).computed_at
    settings.AGREEMENT_REFRESH_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        label(users[0], "happy", 0.5, 0.5)
    data = staff_client.get("/api/agreement/").json()
    assert data["n_labels"] == 1 and data["labels_now"] == 1
    assert AgreementSnapshot.objects.get(pk=1).computed_at > first
    body = staff_client.get("/agreement/").content.decode()
    assert "over 1 label." in body and "Computed at" in body


def test_refresh_is_debounced_while_one_is_queued(corpus):
    assert agreement_store.request_refresh()  # eager: computed at once, nothing left queued
    AgreementSnapshot.objects.filter(pk=1).update(requested_at=agreement_store.timezone.now())
    computed = AgreementSnapshot.objects.get(pk=1).computed_at
    assert not agreement_store.request_refresh()  # one is queued: a second save asks for nothing
    assert AgreementSnapshot.objects.get(pk=1).computed_at == computed


def test_before_the_first_computation_the_api_says_pending(corpus, staff_client):
    # A computation was queued but no worker has run it yet.
    AgreementSnapshot.objects.create(pk=1, requested_at=agreement_store.timezone.now())
    response = staff_client.get("/api/agreement/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert "Not computed yet" in staff_client.get("/agreement/").content.decode()


def review_order(client, **params) -> list[int]:
    body = client.get("/review/", params).content.decode()
    return [int(part.split('"')[0]) for part in body.split('data-segment="')[1:]]


def test_review_order_follows_the_aggregates_after_label_edits(corpus, staff_client):
    segments, users = corpus
    for user in users[:3]:
        for _ in range(3):
            label(user, "happy", 0.2, 0.2)
    labelled = sorted({lab.segment_id for lab in Label.objects.all()})
    assert len(labelled) == 3 and review_order(staff_client) == labelled  # all agree: by id
    # One annotator changes their mind on the last segment: it becomes the most disputed.
    last = labelled[-1]
    services.save_label(users[1], services.LabelValues("sad", -0.8, 0.9), segment_id=last)
    aggregate = SegmentAggregate.objects.get(pk=last)
    assert aggregate == SegmentAggregate(pk=last)  # same row, and its figures from the labels now:
    assert tuple(summarise(Label.objects.filter(segment_id=last).values_list("category", "valence", "arousal"))) == (
        aggregate.n_labels, aggregate.categories, aggregate.majority, aggregate.majority_share,
        aggregate.valence_spread, aggregate.arousal_spread, aggregate.disagreement)
    assert aggregate.majority == "happy" and aggregate.categories == {"happy": 2, "sad": 1}
    assert review_order(staff_client) == [last, *labelled[:-1]]
    # Reviewed segments go last, and out of the "open" list.
    services.set_review(users[0], segments[0].__class__.objects.get(pk=last), services.LabelValues("sad", -0.5, 0.5))
    assert review_order(staff_client) == [*labelled[:-1], last]
    assert review_order(staff_client, open="1") == labelled[:-1]
    # A deleted label (admin) updates the summary; no labels left: no row.
    Label.objects.filter(segment_id=last, annotator=users[1]).delete()
    assert SegmentAggregate.objects.get(pk=last).disagreement == 0
    Label.objects.filter(segment_id=last).delete()
    assert not SegmentAggregate.objects.filter(pk=last).exists()


def test_dashboard_shows_the_stored_alpha(corpus, staff_client):
    segments, users = corpus
    for user in users[:3]:
        label(user, "happy", 0.5, 0.5)
        label(user, "sad" if user is users[2] else "fear", -0.5, 0.1)
    assert 'data-figure="alpha">α not computed yet' in staff_client.get("/").content.decode()
    snapshot = agreement_store.refresh()
    page = staff_client.get("/").content.decode()
    assert f'data-figure="alpha">{snapshot.report["alpha_category"]:.2f}' in page
    assert "over 6 labels" in page
