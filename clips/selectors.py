"""Read-side queries for videos and segments (pages and API share them)."""

from django.db.models import Count, QuerySet

from .models import Segment, Video


def videos(status: str | None = None, ids: list[int] | None = None, search: str = "") -> QuerySet:
    qs = Video.objects.annotate(segment_count=Count("segments", distinct=True),
                                scene_count=Count("scenes", distinct=True))
    if status:
        qs = qs.filter(status=status)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if search:
        qs = qs.filter(title__icontains=search)
    return qs.order_by("-created_at", "-pk")


def segments_of(video_id: int | None = None) -> QuerySet:
    qs = Segment.objects.select_related("scene", "face_track")
    if video_id is not None:
        qs = qs.filter(video_id=video_id)
    return qs.order_by("video_id", "start", "pk")


def parse_ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    return [int(part) for part in text.split(",") if part.strip().isdigit()][:500]
