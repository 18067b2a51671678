"""The queue: K different annotators per segment, nobody twice, expiry,
most-uncertain first, class balance, gold mixing, no over-fill under load."""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation import queue, services
from annotation.models import Assignment, GoldLabel, Label
from tests.conftest import ROOT
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = pytest.mark.django_db


def label(user, assignment, category="happy"):
    return services.save_label(user, services.LabelValues(category, 0.1, 0.2), assignment_id=assignment.pk)


def test_each_segment_gets_k_labels_from_different_people(settings, make_annotator):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 2
    segments = make_segments(make_video(), 3)
    users = [make_annotator(f"a{i}") for i in range(4)]
    given = Counter()
    for user in users:
        while (a := queue.next_assignment(user)) is not None:
            assert a.segment_id not in {x.segment_id for x in Assignment.objects.filter(annotator=user)
                                        .exclude(pk=a.pk)}
            label(user, a)
            given[a.segment_id] += 1
    assert given == {s.pk: 2 for s in segments}
    assert Label.objects.count() == 6
    # the last two annotators found nothing left
    assert not Assignment.objects.filter(annotator=users[3]).exists()


def test_nobody_sees_a_segment_twice_even_after_skip_or_expiry(settings, annotator):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 3
    make_segments(make_video(), 3)
    seen = []
    first = queue.next_assignment(annotator)
    seen.append(first.segment_id)
    services.skip_assignment(annotator, first.pk)
    second = queue.next_assignment(annotator)
    seen.append(second.segment_id)
    # let it expire: the next call hands out a new segment, not the same one again
    later = timezone.now() + timedelta(minutes=settings.ANNOTATION_ASSIGNMENT_MINUTES + 1)
    third = queue.next_assignment(annotator, now=later)
    seen.append(third.segment_id)
    assert len(set(seen)) == 3
    assert queue.next_assignment(annotator, exclude=[third.pk], now=later) is None
    assert Assignment.objects.get(pk=second.pk).status == Assignment.Status.EXPIRED


def test_an_expired_assignment_frees_its_place(settings, make_annotator):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 1
    make_segments(make_video(), 1)
    a, b = make_annotator("a"), make_annotator("b")
    held = queue.next_assignment(a)
    assert queue.next_assignment(b) is None  # the only place is taken
    later = timezone.now() + timedelta(minutes=settings.ANNOTATION_ASSIGNMENT_MINUTES, seconds=1)
    again = queue.next_assignment(b, now=later)
    assert again is not None and again.segment_id == held.segment_id


def test_same_assignment_until_labelled_and_preload_gives_another(annotator):
    make_segments(make_video(), 3)
    first = queue.next_assignment(annotator)
    assert queue.next_assignment(annotator).pk == first.pk  # reload of the page
    preloaded = queue.next_assignment(annotator, exclude=[first.pk])
    assert preloaded.pk != first.pk
    label(annotator, first)
    assert queue.next_assignment(annotator).pk == preloaded.pk


def test_most_uncertain_prelabel_comes_first(annotator):
    video = make_video()
    sure, unsure, middle = make_segments(video, 3)
    add_prelabel(sure, "happy", 0.95)
    add_prelabel(unsure, "happy", 0.25)
    add_prelabel(middle, "happy", 0.6)
    order = []
    while (a := queue.next_assignment(annotator)) is not None:
        order.append(a.segment_id)
        label(annotator, a)
    assert order == [unsure.pk, middle.pk, sure.pk]


def test_order_is_balanced_across_predicted_classes(annotator):
    segments = make_segments(make_video(), 6)
    # three uncertain "neutral" and three sure "sad": plain entropy order would give neutral x3 first
    for seg, conf in zip(segments[:3], (0.3, 0.32, 0.34)):
        add_prelabel(seg, "neutral", conf)
    for seg, conf in zip(segments[3:], (0.8, 0.85, 0.9)):
        add_prelabel(seg, "sad", conf)
    predicted = []
    while (a := queue.next_assignment(annotator)) is not None:
        predicted.append(a.segment.prelabels.first().category)
        label(annotator, a)
    assert predicted == ["neutral", "sad"] * 3


def test_teacher_student_disagreement_first_when_asked(settings, annotator):
    from inference.models import ModelVersion
    settings.ANNOTATION_QUEUE_ORDER = "disagreement"
    student = ModelVersion.objects.create(kind="student", name="ser", arch="x", weights="w", sha256="1" * 64)
    agree, disagree = make_segments(make_video(), 2)
    add_prelabel(agree, "sad", 0.3)  # very uncertain teacher, student agrees
    add_prelabel(agree, "sad", 0.5, model=student)
    add_prelabel(disagree, "sad", 0.9)  # sure teacher, but the student says angry
    add_prelabel(disagree, "angry", 0.6, model=student)
    assert queue.next_assignment(annotator).segment_id == disagree.pk


def test_only_ready_videos_are_queued(annotator):
    make_segments(make_video(status="segmenting"), 2)
    assert queue.next_assignment(annotator) is None


def test_gold_segments_are_mixed_in_and_do_not_count_toward_k(settings, make_annotator):
    settings.ANNOTATION_GOLD_EVERY = 3
    settings.ANNOTATION_LABELS_PER_SEGMENT = 1
    segments = make_segments(make_video(), 5)
    GoldLabel.objects.create(segment=segments[-1], category="sad")
    for name in ("a", "b"):
        user = make_annotator(name)
        got = []
        for _ in range(3):
            a = queue.next_assignment(user)
            got.append(a.segment_id)
            label(user, a)
        assert got[2] == segments[-1].pk  # the 3rd assignment is the gold one, for both users
    assert Label.objects.filter(segment=segments[-1]).count() == 2


def _run_hammer_in_subprocess(tmp_path, users: int, segments: int, k: int) -> dict:
    """SQLite: a real file database in a child process (the test database lives
    in shared-cache memory, which refuses concurrent writers outright)."""
    env = {**os.environ, "LSE_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "MEDIA_ROOT": str(tmp_path / "media"), "ANNOTATION_LABELS_PER_SEGMENT": str(k)}
    done = subprocess.run([sys.executable, "-m", "tests.annotation_concurrency", str(users), str(segments)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.backends
@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_overfill_a_segment(settings, make_annotator, tmp_path):
    users, segments, k = 6, 5, 2
    if connection.vendor == "sqlite":
        result = _run_hammer_in_subprocess(tmp_path, users, segments, k)
    else:  # PostgreSQL in CI: threads on the test database itself
        from tests.annotation_concurrency import hammer
        settings.ANNOTATION_LABELS_PER_SEGMENT = k
        make_segments(make_video(), segments)
        result = hammer([make_annotator(f"c{i}") for i in range(users)])
    assert result["errors"] == []
    # every segment filled to exactly K: none over-filled, none starved
    assert sorted(result["labels_per_segment"].values()) == [k] * segments
    assert result["max_assignments_per_pair"] == 1  # nobody got a segment twice


def test_class_balance_follows_recent_work_and_gold_cadence_counts_all(make_annotator, settings, monkeypatch):
    """Balance looks at the latest assignments only (a long-serving annotator's
    request stays cheap); the gold cadence still counts every assignment."""
    from annotation.models import GoldLabel
    monkeypatch.setattr(queue, "BALANCE_WINDOW", 4)
    settings.ANNOTATION_GOLD_EVERY = 10
    video = make_video()
    segments = make_segments(video, 14)
    for i, seg in enumerate(segments[:12]):
        add_prelabel(seg, "happy" if i < 6 else "sad", 0.5)
    GoldLabel.objects.create(segment=segments[12], category="happy")
    GoldLabel.objects.create(segment=segments[13], category="sad")
    user = make_annotator("long_serving")
    gold_at = []
    for n in range(12):
        a = queue.next_assignment(user)
        services.save_label(user, services.LabelValues("happy", 0, 0), assignment_id=a.pk)
        if a.segment_id in (segments[12].pk, segments[13].pk):
            gold_at.append(n + 1)
    given = queue.given_counts(user)
    assert given.total == 12
    assert sum(given.recent.values()) == 4  # only the window
    assert gold_at == [10]  # the 10th assignment, counted over all of them


def test_an_expired_place_is_offered_even_between_expiry_sweeps(make_annotator):
    """Sweeps for expired assignments run every few seconds per process; the
    last open place must still not be reported as "nothing left"."""
    (segment,) = make_segments(make_video(), 1)
    add_prelabel(segment, "sad", 0.5)
    users = [make_annotator(f"r{i}") for i in range(5)]
    now = timezone.now()
    held = [queue.next_assignment(u, now=now) for u in users[:3]]  # K = 3 places taken
    sweep_at = now + timedelta(minutes=1)
    Assignment.objects.filter(pk=held[2].pk).update(expires_at=sweep_at + timedelta(milliseconds=500))
    assert queue.next_assignment(users[3], now=sweep_at) is None  # swept: nothing had expired yet
    # Half a second later held[2] expires; the next sweep is seconds away.
    got = queue.next_assignment(users[4], now=sweep_at + timedelta(seconds=1))
    assert got is not None and got.segment_id == segment.pk
