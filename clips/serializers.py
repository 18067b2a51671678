"""Read-only API representations of videos and their segments."""

from django.core.files.storage import default_storage
from rest_framework import serializers

from .models import Segment, Video


def _url(name: str) -> str | None:
    return default_storage.url(name) if name else None


class VideoSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    audio_url = serializers.SerializerMethodField()
    segments = serializers.SerializerMethodField()
    scenes = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = ["id", "title", "status", "stage", "progress", "error", "notes",
                  "source_url", "webpage_url", "extractor", "external_id", "channel", "upload_date", "license",
                  "language", "speaker_hint", "clip_start", "clip_end",
                  "duration", "fps", "width", "height", "has_audio", "has_video",
                  "file_url", "audio_url", "segments", "scenes", "created_at", "updated_at"]
        read_only_fields = fields

    def get_segments(self, video) -> int:
        count = getattr(video, "segment_count", None)
        return video.segments.count() if count is None else count

    def get_scenes(self, video) -> int:
        count = getattr(video, "scene_count", None)
        return video.scenes.count() if count is None else count

    def get_file_url(self, video) -> str | None:
        return _url(video.file.name)

    def get_audio_url(self, video) -> str | None:
        return _url(video.audio.name)


class SegmentSerializer(serializers.ModelSerializer):
    audio_url = serializers.SerializerMethodField()
    face_crop_urls = serializers.SerializerMethodField()
    scene_index = serializers.IntegerField(source="scene.index", read_only=True, default=None)
    identity = serializers.IntegerField(source="face_track.identity", read_only=True, default=None)
    duration = serializers.FloatField(read_only=True)
    is_offscreen = serializers.BooleanField(read_only=True)

    class Meta:
        model = Segment
        fields = ["id", "video", "scene", "scene_index", "face_track", "identity", "start", "end", "duration",
                  "is_offscreen", "box", "speaking_confidence", "audio_url", "face_crop_urls", "created_at"]
        read_only_fields = fields

    def get_audio_url(self, segment) -> str | None:
        return _url(segment.audio.name)

    def get_face_crop_urls(self, segment) -> list[str]:
        return [_url(name) for name in segment.face_crops or [] if name]
