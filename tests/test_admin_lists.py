"""Admin lists of the tables that grow with the corpus: the same queries for
a page whatever the table's size (no per-row reads), no unbounded COUNT(*),
and any page opens, however deep."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Assignment, Label, ReviewedLabel
from labelstudio_emo import admin_lists
from tests.annotation_factories import add_prelabel, make_segments, make_video

pytestmark = pytest.mark.django_db

LISTS = ["/admin/clips/video/", "/admin/clips/segment/", "/admin/annotation/label/",
         "/admin/annotation/labelhistory/", "/admin/annotation/assignment/", "/admin/inference/prelabel/",
         "/admin/annotation/queueentry/", "/admin/annotation/segmentaggregate/",
         "/admin/annotation/reviewedlabel/"]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("root", is_staff=True, is_superuser=True))
    return client


def add_corpus(n_videos: int, annotators) -> None:
    from annotation import queue_state
    for _ in range(n_videos):
        for segment in make_segments(make_video(), 3):
            add_prelabel(segment, "sad", 0.4)
            for user in annotators:
                label = Label.objects.create(segment=segment, annotator=user, category="sad", valence=0.1,
                                             arousal=0.2)
                label.history.create(edited_by=user, category="happy", valence=0.0, arousal=0.0)
                Assignment.objects.create(segment=segment, annotator=user, status=Assignment.Status.DONE,
                                          expires_at=label.created_at)
            ReviewedLabel.objects.create(segment=segment, reviewer=annotators[0], category="sad", valence=0.1,
                                         arousal=0.2)
    queue_state.ensure_fresh()


def page_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [q["sql"] for q in ctx.captured_queries]


def test_admin_lists_read_the_same_for_any_table_size(admin_client, make_annotator):
    annotators = [make_annotator("a1"), make_annotator("a2")]
    add_corpus(1, annotators)
    small = {url: len(page_queries(admin_client, url)) for url in LISTS}
    add_corpus(6, annotators)  # 7 times the rows
    for url in LISTS:
        queries = page_queries(admin_client, url)
        assert len(queries) == small[url], (url, queries)
        unbounded = [q for q in queries if re.search(r"COUNT\(", q) and "LIMIT" not in q and "auth_user" not in q]
        assert not unbounded, (url, unbounded)


def test_any_page_of_a_long_list_opens(admin_client, make_annotator, monkeypatch):
    from clips.admin import SegmentAdmin
    monkeypatch.setattr(admin_lists, "COUNT_CAP", 6)  # counting stops after 6 rows...
    monkeypatch.setattr(SegmentAdmin, "list_per_page", 3)
    segments = make_segments(make_video(), 30)
    page = admin_client.get("/admin/clips/segment/?p=8")  # ...yet page 8 (rows 22-24, newest first) opens
    assert page.status_code == 200
    shown = [int(pk) for pk in re.findall(r'/admin/clips/segment/(\d+)/change/', page.content.decode())]
    assert shown == [s.pk for s in segments[::-1][21:24]]
    assert admin_client.get("/admin/clips/segment/?p=11").status_code == 302  # past the end: the usual redirect


def test_queue_entries_filter_by_bucket_without_scanning_them(admin_client, make_annotator):
    add_corpus(1, [make_annotator("a1")])
    queries = page_queries(admin_client, "/admin/annotation/queueentry/")
    assert not [q for q in queries if "DISTINCT" in q]
    page = admin_client.get("/admin/annotation/queueentry/?bucket=sad").content.decode()
    assert page.count("/change/") == 3 and "no prediction" in page
    assert admin_client.get("/admin/annotation/queueentry/?bucket=fear").content.decode().count("/change/") == 0


def test_row_select_boxes_are_djangos_own(db):
    """The fast select box writes exactly what Django's widget writes (names escaped)."""
    from django.contrib import admin

    from clips.admin import VideoAdmin
    from clips.models import Video
    video = make_video(title='Tom & "Jerry" <live>')
    model_admin = VideoAdmin(Video, admin.site)
    assert model_admin.action_checkbox(video) == admin.ModelAdmin.action_checkbox(model_admin, video)
    assert "&lt;live&gt;" in model_admin.action_checkbox(video)
