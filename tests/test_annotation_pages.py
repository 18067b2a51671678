"""Pages: the workspace for annotators, agreement and review for staff only."""

import pytest

from annotation import queue, services
from annotation.models import GoldLabel, Label, ReviewedLabel
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = pytest.mark.django_db


def label_by(user, category, valence=0.0, arousal=0.0):
    a = queue.next_assignment(user)
    return services.save_label(user, services.LabelValues(category, valence, arousal), assignment_id=a.pk).label


@pytest.fixture
def disputed(make_annotator):
    """Segment 1: everyone says happy. Segment 2: happy / sad / angry."""
    calm, disputed = make_segments(make_video(), 2)
    add_prelabel(calm, "happy", 0.5)
    add_prelabel(disputed, "happy", 0.4)
    users = [make_annotator(n) for n in ("ann_a", "ann_b", "ann_c")]
    for user, cat in zip(users, ("happy", "sad", "angry")):
        label_by(user, cat, 0.5, 0.1)  # the disputed one first (more uncertain)
        label_by(user, "happy", 0.6, 0.2)
    return calm, disputed, users


def test_annotate_page_for_annotators(annotator_client):
    response = annotator_client.get("/annotate/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "annotation/annotate.js" in body and 'id="annotate-config"' in body and "happy" in body


def test_annotate_page_needs_a_role(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    assert client.get("/annotate/").status_code == 403
    client.logout()
    assert client.get("/annotate/").status_code == 302  # to the login page


@pytest.mark.parametrize("url", ["/agreement/", "/review/"])
def test_staff_pages_are_403_for_annotators(annotator_client, url):
    assert annotator_client.get(url).status_code == 403


def test_review_detail_and_save_are_staff_only(annotator_client, disputed):
    _, seg, _ = disputed
    assert annotator_client.get(f"/review/{seg.pk}/").status_code == 403
    response = annotator_client.post(f"/review/{seg.pk}/save/", {"category": "sad", "valence": 0, "arousal": 0})
    assert response.status_code == 403
    assert not ReviewedLabel.objects.exists()


def test_agreement_page_shows_the_figures(staff_client, disputed):
    body = staff_client.get("/agreement/").content.decode()
    assert "Krippendorff" in body and 'data-rater="ann_a"' in body
    assert "6 labels by 3 annotators on" in body


def test_review_lists_disputed_segments_first(staff_client, disputed):
    calm, seg, _ = disputed
    body = staff_client.get("/review/").content.decode()
    assert body.index(f'data-segment="{seg.pk}"') < body.index(f'data-segment="{calm.pk}"')


def test_reviewer_sets_the_final_label_and_sees_history(staff_client, disputed, staff_user):
    _, seg, users = disputed
    # ann_b changes their mind: the history keeps both versions
    services.save_label(users[1], services.LabelValues("fear", -0.4, 0.7), segment_id=seg.pk)
    page = staff_client.get(f"/review/{seg.pk}/").content.decode()
    assert "sad (0.50, 0.10)" in page and "fear (-0.40, 0.70)" in page
    response = staff_client.post(f"/review/{seg.pk}/save/", {"action": "review", "category": "sad",
                                                             "valence": "-0.3", "arousal": "0.2", "note": "sobbing"})
    assert response.status_code == 302
    review = ReviewedLabel.objects.get(segment=seg)
    assert (review.category, review.valence, review.reviewer) == ("sad", -0.3, staff_user)
    from annotation.export.aggregate import aggregate_segment_labels
    assert aggregate_segment_labels(Label.objects.filter(segment=seg)).category == "sad"


def test_bad_review_values_are_refused_with_a_message(staff_client, disputed):
    _, seg, _ = disputed
    response = staff_client.post(f"/review/{seg.pk}/save/", {"action": "review", "category": "sad",
                                                             "valence": "3", "arousal": "0"}, follow=True)
    assert "between -1 and 1" in response.content.decode()
    assert not ReviewedLabel.objects.exists()


def test_gold_segment_and_gold_accuracy(staff_client, disputed):
    calm, seg, users = disputed
    staff_client.post(f"/review/{seg.pk}/save/", {"action": "gold", "category": "sad", "valence": "-0.5",
                                                  "arousal": "0"})
    assert GoldLabel.objects.get(segment=seg).category == "sad"
    body = staff_client.get("/agreement/").content.decode()
    # only ann_b said sad on the gold segment
    row_b = body[body.index('data-rater="ann_b"'):].split("</tr>")[0]
    row_a = body[body.index('data-rater="ann_a"'):].split("</tr>")[0]
    assert '<td class="gold-accuracy">100%</td>' in row_b and '<td class="gold-accuracy">0%</td>' in row_a
    staff_client.post(f"/review/{seg.pk}/save/", {"action": "clear_gold"})
    assert not GoldLabel.objects.exists()
