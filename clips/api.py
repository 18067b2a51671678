"""GET /api/videos/ and GET /api/segments/?video=ID (staff only)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated

from labelstudio_emo.permissions import IsStaff
from labelstudio_emo.validation import parse_id, parse_ids

from . import selectors
from .models import Segment, Video
from .serializers import SegmentSerializer, VideoSerializer


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("status", OpenApiTypes.STR, enum=[s.value for s in Video.Status]),
    OpenApiParameter("ids", OpenApiTypes.STR, description="comma-separated ids (progress polling)"),
    OpenApiParameter("search", OpenApiTypes.STR, description="title contains"),
]))
class VideoViewSet(viewsets.ReadOnlyModelViewSet):
    """Imported videos with status and progress."""

    serializer_class = VideoSerializer
    queryset = Video.objects.none()  # the model, for the OpenAPI schema; rows come from get_queryset
    permission_classes = [IsAuthenticated, IsStaff]

    def get_queryset(self):
        params = self.request.query_params
        status = params.get("status") or None
        if status and status not in Video.Status.values:
            raise ValidationError({"status": f"one of {', '.join(Video.Status.values)}"})
        return selectors.videos(status=status, ids=parse_ids(params.get("ids"), "ids"),
                                search=params.get("search", ""))


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("video", OpenApiTypes.INT, description="only this video's segments"),
]))
class SegmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Segments found by segmentation (one speaker in one scene)."""

    serializer_class = SegmentSerializer
    queryset = Segment.objects.none()  # the model, for the OpenAPI schema
    permission_classes = [IsAuthenticated, IsStaff]

    def get_queryset(self):
        video = self.request.query_params.get("video")
        return selectors.segments_of(parse_id(video, "video") if video is not None else None)
