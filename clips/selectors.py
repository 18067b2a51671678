"""Read-side queries for videos and segments (pages and API share them)."""

from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

# A read of a later stage, by design: the video page and /api/segments/ show
# each segment's prelabel; the pipeline itself never imports inference.
from inference.models import Prelabel
from inference.selectors import counting_prelabel, preferred_kind

from .models import Scene, Segment, Video


def _count_of(model):
    rows = model.objects.filter(video=OuterRef("pk")).order_by().values("video").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def videos(status: str | None = None, ids: list[int] | None = None, search: str = "") -> QuerySet:
    # Correlated counts, not a JOIN ... GROUP BY: evaluated for the page's rows only, not
    # for every video before the LIMIT (2 s at 100,000 segments).
    qs = Video.objects.annotate(segment_count=_count_of(Segment), scene_count=_count_of(Scene))
    if status:
        qs = qs.filter(status=status)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if search:
        qs = qs.filter(title__icontains=search)
    return qs.order_by("-created_at", "-pk")


def status_counts(search: str = "") -> dict[str, int]:
    """{status: number of videos}, among the videos the search finds."""
    qs = Video.objects.filter(title__icontains=search) if search else Video.objects.all()
    return dict(qs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


class LabelProgress(NamedTuple):
    labelled: int  # segments with K labels or more
    needed: int    # segments still short of K labels
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.labelled / self.total) if self.total else 0


def label_progress(video_ids: list[int]) -> dict[int, LabelProgress]:
    """Labelling progress of a page of videos: one grouped query over their
    segments (gold segments are answered already and not counted)."""
    k = max(1, int(settings.ANNOTATION_LABELS_PER_SEGMENT))
    done: dict[int, list[int]] = {pk: [0, 0] for pk in video_ids}
    rows = (Segment.objects.filter(video_id__in=video_ids, gold__isnull=True)
            .annotate(n=Count("labels")).values_list("video_id", "n"))
    for video_id, n in rows:
        done[video_id][0 if n >= k else 1] += 1
    return {pk: LabelProgress(a, b, a + b) for pk, (a, b) in done.items()}


def segments_of(video_id: int | None = None) -> QuerySet:
    """Segments in time order, with scene, speaker and every prelabel (plus
    its model version) fetched in one extra query for all of them; use
    `shown_prelabel(segment)` to pick the one to show."""
    candidates = Prelabel.objects.select_related("model_version").order_by("-created_at", "-pk")
    qs = (Segment.objects.select_related("scene", "face_track__person")
          .prefetch_related(Prefetch("prelabels", queryset=candidates, to_attr="prelabel_candidates")))
    if video_id is not None:
        qs = qs.filter(video_id=video_id)
    return qs.order_by("video_id", "start", "pk")


def shown_prelabel(segment: Segment) -> Prelabel | None:
    """The prelabel that counts for the segment (inference.selectors.counting_prelabel:
    on-screen the teacher's, off-screen the student's; active, else newest)."""
    candidates = getattr(segment, "prelabel_candidates", None)
    if candidates is None:  # not fetched through segments_of(): one query for this segment
        candidates = list(segment.prelabels.select_related("model_version").order_by("-created_at", "-pk"))
    return counting_prelabel(candidates, preferred_kind(segment.is_offscreen))


