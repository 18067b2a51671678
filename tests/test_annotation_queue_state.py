"""The queue's denormalised state: a request costs the same number of queries
whatever the corpus size, and the state follows the corpus (new ready videos,
new gold, deleted labels, expiry)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation import queue, services
from annotation.models import Assignment, GoldLabel, Label, QueueEntry
from tests.annotation_factories import add_prelabel, label_payload, make_segments, make_video

pytestmark = pytest.mark.django_db


def add_corpus(n: int):
    segments = make_segments(make_video(), n)
    for i, segment in enumerate(segments):
        add_prelabel(segment, ("happy", "sad", "neutral")[i % 3], 0.3 + 0.6 * i / n)
    return segments


def one_cycle_queries(client) -> tuple[int, int]:
    """Queries of GET /api/queue/next/ (a new reservation) and POST /api/labels/ (a new label)."""
    with CaptureQueriesContext(connection) as next_ctx:
        response = client.get("/api/queue/next/")
    assert response.status_code == 200, response.content
    with CaptureQueriesContext(connection) as label_ctx:
        saved = client.post("/api/labels/", label_payload(response.json()["id"]), format="json")
    assert saved.status_code == 201, saved.content
    return len(next_ctx.captured_queries), len(label_ctx.captured_queries)


def test_queries_per_request_do_not_grow_with_the_corpus(api_client, annotator,
                                                        django_assert_max_num_queries):
    api_client.force_authenticate(annotator)
    add_corpus(10)
    one_cycle_queries(api_client)  # the first request builds the queue entries
    small = one_cycle_queries(api_client)
    add_corpus(190)
    one_cycle_queries(api_client)  # new segments: entries rebuilt once
    large = one_cycle_queries(api_client)
    assert large == small
    with django_assert_max_num_queries(12):  # a new reservation, savepoints included
        api_client.get("/api/queue/next/")


def test_newly_ready_video_is_offered_without_restart(annotator):
    video = make_video(status="segmenting")
    (segment,) = make_segments(video, 1)
    assert queue.next_assignment(annotator) is None
    video.status = "ready"
    video.save(update_fields=["status"])
    assert queue.next_assignment(annotator).segment_id == segment.pk


def test_a_deleted_label_gives_its_place_back(settings, make_annotator):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 1
    (segment,) = make_segments(make_video(), 1)
    a, b = make_annotator("a"), make_annotator("b")
    services.save_label(a, services.LabelValues("happy", 0, 0), assignment_id=queue.next_assignment(a).pk)
    assert queue.next_assignment(b) is None
    Label.objects.filter(annotator=a).delete()  # e.g. removed in the admin
    assert queue.next_assignment(b).segment_id == segment.pk


def test_place_counts_follow_labels_skips_and_expiry(settings, make_annotator):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 3
    (segment,) = make_segments(make_video(), 1)
    users = [make_annotator(n) for n in "abc"]
    held = [queue.next_assignment(u) for u in users]
    entry = QueueEntry.objects.get(pk=segment.pk)
    assert (entry.taken, entry.is_open) == (3, False)
    services.save_label(users[0], services.LabelValues("sad", 0, 0), assignment_id=held[0].pk)
    services.skip_assignment(users[1], held[1].pk)
    entry.refresh_from_db()
    assert (entry.taken, entry.is_open) == (2, True)
    later = timezone.now() + timedelta(minutes=settings.ANNOTATION_ASSIGNMENT_MINUTES + 1)
    d = make_annotator("d")
    assert queue.next_assignment(d, now=later).segment_id == segment.pk  # c's place expired, d takes one
    entry.refresh_from_db()
    assert entry.taken == 2  # a's label + d's assignment
    assert Assignment.objects.get(pk=held[2].pk).status == Assignment.Status.EXPIRED


def test_a_segment_made_gold_leaves_the_normal_queue(settings, make_annotator):
    settings.ANNOTATION_GOLD_EVERY = 0
    first, second = make_segments(make_video(), 2)
    queue.next_assignment(make_annotator("a"))  # entries built with both segments
    GoldLabel.objects.create(segment=first, category="sad")
    got = []
    user = make_annotator("b")
    while (a := queue.next_assignment(user)) is not None:
        got.append(a.segment_id)
        services.save_label(user, services.LabelValues("sad", 0, 0), assignment_id=a.pk)
    assert got == [second.pk]


def test_a_prelabel_rewritten_in_place_reorders_the_queue(make_annotator):
    """Re-running the same teacher updates prelabels in place; the queue must
    rank by the new uncertainty, not the one it saw first."""
    from inference.models import Prelabel
    from tests.annotation_factories import entropy, probs_for
    a, b = make_segments(make_video(), 2)
    add_prelabel(a, "happy", 0.3)  # unsure: asked first
    add_prelabel(b, "happy", 0.9)
    assert queue.next_assignment(make_annotator("first")).segment_id == a.pk
    for segment, confidence in ((a, 0.95), (b, 0.2)):  # the re-run changes its mind
        probs = probs_for("happy", confidence)
        Prelabel.objects.update_or_create(segment=segment, model_version=Prelabel.objects.get(
            segment=segment).model_version, defaults={"probs": probs, "confidence": confidence,
                                                      "entropy": entropy(probs)})
    assert queue.next_assignment(make_annotator("second")).segment_id == b.pk


def test_an_import_recomputes_only_its_own_segments(annotator, make_annotator):
    old = add_corpus(20)
    assert queue.next_assignment(annotator) is not None  # entries computed for the corpus
    untouched = QueueEntry.objects.get(pk=old[0].pk)
    QueueEntry.objects.filter(pk=untouched.pk).update(uncertainty=-5.0)  # a marker a recomputation would undo
    imported = add_corpus(5)
    newcomer = make_annotator("newcomer")
    assignment = queue.next_assignment(newcomer)
    assert assignment.segment_id == imported[0].pk  # the new, most uncertain segment is offered at once
    assert QueueEntry.objects.filter(pk__in=[s.pk for s in imported], queueable=True).count() == 5
    assert QueueEntry.objects.get(pk=untouched.pk).uncertainty == -5.0  # the old entries were not recomputed


def test_a_video_turning_ready_ranks_its_segments_in_the_worker(annotator, make_annotator, monkeypatch):
    """The task that finishes a video (clips.readiness.mark_ready, called by the
    prelabel stage) updates the queue; the next annotator's request finds it current."""
    from annotation import queue_state
    from clips.readiness import mark_ready

    add_corpus(10)
    assert queue.next_assignment(annotator) is not None
    video = make_video(status="prelabelling")
    imported = make_segments(video, 4)
    for segment in imported:
        add_prelabel(segment, "fear", 0.15)  # the most uncertain: asked first
    mark_ready(video.pk)
    assert QueueEntry.objects.filter(pk__in=[s.pk for s in imported], queueable=True, is_open=True).count() == 4

    def no_work_in_the_request(*args, **kwargs):
        raise AssertionError("the request recomputed queue entries")
    monkeypatch.setattr(queue_state, "update", no_work_in_the_request)
    monkeypatch.setattr(queue_state, "rebuild", no_work_in_the_request)
    assert queue.next_assignment(make_annotator("newcomer")).segment_id in {s.pk for s in imported}


def test_a_failing_queue_update_does_not_keep_a_video_from_turning_ready(annotator, monkeypatch):
    from annotation import queue_state
    from clips.models import Video
    from clips.readiness import mark_ready

    add_corpus(3)
    queue_state.ensure_fresh()  # the corpus is queued
    video = make_video(status="prelabelling")
    (segment,) = make_segments(video, 1)
    add_prelabel(segment, "fear", 0.15)
    real_update = queue_state.update

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")
    monkeypatch.setattr(queue_state, "update", broken)
    mark_ready(video.pk)
    assert Video.objects.get(pk=video.pk).status == "ready"
    assert not QueueEntry.objects.filter(pk=segment.pk, is_open=True).exists()
    monkeypatch.setattr(queue_state, "update", real_update)
    assert queue.next_assignment(annotator).segment_id == segment.pk  # the request catches up


def test_a_new_teacher_reranks_every_segment(annotator, make_annotator):
    """A new model changes every segment's ranking: recomputed by the rebuild
    task (eager here), not segment by segment."""
    from tests.annotation_factories import teacher
    segments = add_corpus(6)
    assert queue.next_assignment(annotator) is not None
    new = teacher("fer-new", active=False)
    for segment in segments:
        add_prelabel(segment, "fear", 0.2, model=new)
    from inference.models import ModelVersion
    ModelVersion.objects.update(is_active=False)
    ModelVersion.objects.filter(pk=new.pk).update(is_active=True)
    queue.next_assignment(make_annotator("second"))
    assert set(QueueEntry.objects.filter(queueable=True).values_list("bucket", flat=True)) == {"fear"}
