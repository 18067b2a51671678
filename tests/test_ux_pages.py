"""Server side of the issue-16 pages: review saves, ties, progress figures,
error pages, login, import refusals and retries, /videos/ filters, offline
API docs, the confusion plot's title."""

import logging
import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from annotation import queue
from annotation.models import Assignment, GoldLabel, Label, QueueEntry, ReviewedLabel
from clips.models import FaceTrack, Video
from tests.annotation_factories import add_prelabel, make_segments, make_video
from tests.import_helpers import handoffs  # noqa: F401 (fixture)
from tests.video_page_factories import on_screen_segment

pytestmark = pytest.mark.django_db


def label(segment, user, category="happy", valence=0.0, arousal=0.0):
    return Label.objects.create(segment=segment, annotator=user, category=category, valence=valence, arousal=arousal)


@pytest.fixture
def two_annotators(make_annotator):
    return make_annotator("ann-a"), make_annotator("ann-b")


def test_review_prefills_a_rounded_mean_and_saves_any_value(staff_client, make_annotator):
    segment = make_segments(make_video(), 1)[0]
    for i, v in enumerate((0.1, 0.0, 0.0)):
        label(segment, make_annotator(f"r{i}"), "sad", valence=v, arousal=-v)
    page = staff_client.get(f"/review/{segment.pk}/").content.decode()
    assert 'name="valence" min="-1" max="1" step="any" value="0.03"' in page
    assert 'name="arousal" min="-1" max="1" step="any" value="-0.03"' in page
    response = staff_client.post(f"/review/{segment.pk}/save/", {"category": "sad", "valence": "0.0333333",
                                                                 "arousal": "-0.0333333", "action": "review"},
                                 follow=True)
    review = ReviewedLabel.objects.get(segment=segment)
    assert review.valence == pytest.approx(0.0333333) and review.arousal == pytest.approx(-0.0333333)
    assert f"Final label of segment {segment.pk} saved." in response.content.decode()
    # the same form makes it gold with the values shown
    staff_client.post(f"/review/{segment.pk}/save/", {"category": "sad", "valence": "0.03", "arousal": "-0.03",
                                                      "action": "gold"})
    assert GoldLabel.objects.get(segment=segment).valence == pytest.approx(0.03)


def test_a_one_one_split_is_a_tie_not_a_majority(staff_client, two_annotators):
    segment = make_segments(make_video(), 1)[0]
    label(segment, two_annotators[0], "happy")
    label(segment, two_annotators[1], "angry")
    detail = staff_client.get(f"/review/{segment.pk}/").content.decode()
    summary = re.search(r'<p class="muted" id="summary">(.*?)</p>', detail, re.S).group(1)
    assert "Tie: angry / happy" in summary and "%" not in summary and "Majority" not in summary
    listing = staff_client.get("/review/").content.decode()
    assert "tie: angry / happy" in listing and "(50%)" not in listing


def test_plain_refusals_get_the_layout_and_no_traceback(annotator_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = annotator_client.get("/videos/")
    page = response.content.decode()
    assert response.status_code == 403 and 'class="topbar"' in page and "not allowed" in page and "Staff only." in page
    refusals = [r for r in caplog.records if "Forbidden" in r.getMessage()]
    assert refusals and all(r.exc_info is None and r.exc_text is None for r in refusals)
    missing = annotator_client.get("/videos/99999/nothing/")
    assert missing.status_code == 404 and 'class="topbar"' in missing.content.decode()
    assert 'class="topbar"' in render_to_string("500.html") and "went wrong" in render_to_string("500.html")


def test_wrong_password_keeps_the_username(client, annotator):
    page = client.post("/login/", {"username": annotator.username, "password": "nope"}).content.decode()
    assert "Wrong username or password" in page and f'name="username" value="{annotator.username}"' in page


def test_annotators_land_on_annotate_after_login(client, annotator, password):
    response = client.post("/login/", {"username": annotator.username, "password": password}, follow=True)
    assert response.redirect_chain[-1][0] == "/annotate/"


def test_reimporting_a_failed_link_retries_it(staff_client, handoffs):  # noqa: F811
    url = "https://example.org/v.mp4"
    video = Video.objects.create(extractor="generic", external_id="x", source_url=url,
                                 status=Video.Status.FAILED, error="network down")
    response = staff_client.post("/import/", {"urls": url, "max_height": 720}, follow=True)
    text = response.content.decode()
    assert "Retrying 1 earlier failed import" in text and "already imported" not in text
    video.refresh_from_db()
    assert video.status == Video.Status.QUEUED and not video.error


def test_videos_filter_counts_follow_the_search_and_rows_show_labelling(staff_client, two_annotators, settings):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 2
    cats = make_video(title="cats at play")
    make_video(title="cats asleep", status="failed")
    make_video(title="dogs")
    done, half, untouched = make_segments(cats, 3)
    for user in two_annotators:
        label(done, user)
    label(half, two_annotators[0])
    page = staff_client.get("/videos/", {"q": "cats"}).content.decode()
    assert re.search(r'All \(2\)', page) and 'data-count-for="ready">1<' in page and 'data-count-for="failed">1<' in page
    assert '<label for="video-search">Search titles</label>' in page
    row = re.search(rf'<tr data-id="{cats.pk}".*?</tr>', page, re.S).group(0)
    assert 'data-labelled="1" data-needed="2"' in row and "1</span> labelled" in row


def test_label_activity_counts_today_and_this_week(two_annotators):
    from annotation.progress import label_activity

    wednesday_noon = timezone.make_aware(timezone.datetime(2026, 11, 25, 12, 0))
    first, second = two_annotators
    segments = make_segments(make_video(), 4)
    ages = {segments[0]: timezone.timedelta(hours=1), segments[1]: timezone.timedelta(hours=2),  # today
            segments[2]: timezone.timedelta(days=1),  # Tuesday: this week
            segments[3]: timezone.timedelta(days=9)}  # the week before
    for segment, user in zip(segments, [first, first, second, second]):
        label(segment, user)
        Label.objects.filter(segment=segment).update(created_at=wednesday_noon - ages[segment])
    assert label_activity(now=wednesday_noon) == {"today": 2, "week": 3, "active_annotators": 2}


def test_dashboard_figures_match_the_database(staff_client, two_annotators, settings):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 2
    video = make_video()
    make_video(status="failed")
    segments = make_segments(video, 4)
    for user in two_annotators:
        label(segments[0], user)
    label(segments[1], two_annotators[0])
    Label.objects.filter(segment=segments[1]).update(created_at=timezone.now() - timezone.timedelta(days=30))
    before = staff_client.get("/").content.decode()  # nobody asked for a segment yet: still counted
    assert re.search(r'data-figure="still-needed">3<', before)
    queue.next_assignment(two_annotators[1])  # holds one segment: it still needs its labels
    page = staff_client.get("/").content.decode()

    def figure(name):
        return int(re.search(rf'data-figure="{name}">(\d+)<', page).group(1))

    assert figure("videos") == 2 and figure("videos-ready") == 1 and figure("videos-failed") == 1
    assert figure("segments") == 4
    assert figure("still-needed") == 3  # every segment but the one with 2 labels
    assert figure("queue-depth") == QueueEntry.objects.filter(is_open=True).count()
    assert figure("labels-today") == 2 and figure("active-annotators") == 2
    assert 'data-figure="alpha">α not computed yet' in page and "no training run yet" in page
    assert 'href="/videos/?status=failed"' in page and 'href="/review/"' in page

    # Once the agreement task has stored its report, the dashboard shows its α (it never computes one).
    from annotation import agreement_store
    snapshot = agreement_store.refresh()
    page = staff_client.get("/").content.decode()
    alpha = snapshot.report["alpha_category"]
    assert f'data-figure="alpha">{"–" if alpha is None else f"{alpha:.2f}"}<' in page
    assert f"over {snapshot.n_labels} labels" in page


def test_queue_progress_counts_what_is_left(client, two_annotators, password, settings):
    settings.ANNOTATION_LABELS_PER_SEGMENT = 2
    first, second = two_annotators
    segments = make_segments(make_video(), 3)
    for seg in segments:
        add_prelabel(seg)
    held = queue.next_assignment(first)
    label(held.segment, first)
    Assignment.objects.filter(pk=held.pk).update(status=Assignment.Status.DONE)
    label(segments[0] if held.segment != segments[0] else segments[1], second)
    client.login(username=first.username, password=password)
    body = client.get("/api/queue/progress/").json()
    # first: 2 segments never given to them; corpus: all 3 have fewer than 2 labels
    assert body == {"left_for_you": 2, "still_needed": 3, "done_today": 1}


def test_api_docs_need_nothing_from_the_internet(staff_client):
    from django.contrib.staticfiles import finders
    page = staff_client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page and "<script>" not in page
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any("swagger-ui-bundle" in s for s in sources)
    for source in sources:
        assert finders.find(source.removeprefix("/static/").split("?")[0]), source


def test_segment_payload_carries_its_face_track(staff_client):
    from annotation.serializers import segment_payload
    video = make_video()
    segment = on_screen_segment(video, 1.0, 2.0)
    FaceTrack.objects.filter(pk=segment.face_track_id).update(
        boxes=[[t / 10, 40 + t, 200 + t, 140 + t, 120 + t] for t in range(0, 40)])
    segment.refresh_from_db()
    segment.face_track.refresh_from_db()
    track = segment_payload(segment)["track"]
    times = [sample[0] for sample in track]
    assert times == sorted(times) and times[0] <= 0.5 and times[-1] >= 2.5 and len(track) < 40


def test_confusion_title_fits_in_the_picture():
    from inference.student.metrics import confusion_figure
    matrix = [[0] * 7 for _ in range(7)]
    matrix[6][6], matrix[3][6] = 9, 4  # a majority baseline: one predicted class, two true ones
    fig = confusion_figure(matrix, title="majority baseline (neutral), UAR 0.143 on the test split")
    fig.canvas.draw()
    title = fig.axes[0].title.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= fig.bbox.x1 and title.y1 <= fig.bbox.y1
