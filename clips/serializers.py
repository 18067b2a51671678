"""Read-only API representations of videos and their segments."""

from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelstudio_emo.emotions import EMOTION_CHOICES

from .models import Segment, Video
from .selectors import shown_prelabel


def _url(name: str) -> str | None:
    return default_storage.url(name) if name else None


class VideoSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    audio_url = serializers.SerializerMethodField()
    segments = serializers.SerializerMethodField()
    scenes = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = ["id", "title", "status", "stage", "progress", "error", "notes", "speaker_model",
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


class SegmentPrelabelSerializer(serializers.Serializer):
    """The model prelabel shown for a segment (see clips.selectors.shown_prelabel)."""

    category = serializers.ChoiceField(choices=EMOTION_CHOICES, help_text="the most probable class")
    confidence = serializers.FloatField(help_text="probability of `category`, 0-1")
    probs = serializers.ListField(child=serializers.FloatField(), min_length=7, max_length=7,
                                  help_text="7 probabilities: angry, disgust, fear, happy, sad, surprise, neutral")
    valence = serializers.FloatField(help_text="-1..1")
    arousal = serializers.FloatField(help_text="-1..1")
    va_derived = serializers.BooleanField(help_text="V/A from the class circumplex, not predicted by the model")
    entropy = serializers.FloatField(help_text="of probs, nats (higher = less sure)")
    model = serializers.SerializerMethodField(help_text="model name@version that made it")
    kind = serializers.CharField(source="model_version.kind", help_text="teacher (faces) or student (voice)")

    def get_model(self, prelabel) -> str:
        return prelabel.model_version.label


class SegmentSerializer(serializers.ModelSerializer):
    audio_url = serializers.SerializerMethodField()
    face_crop_urls = serializers.SerializerMethodField()
    scene_index = serializers.IntegerField(source="scene.index", read_only=True, default=None)
    identity = serializers.IntegerField(source="face_track.identity", read_only=True, default=None)
    duration = serializers.FloatField(read_only=True)
    is_offscreen = serializers.BooleanField(read_only=True)
    prelabel = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ["id", "video", "scene", "scene_index", "face_track", "identity", "start", "end", "duration",
                  "is_offscreen", "box", "speaking_confidence", "audio_url", "face_crop_urls", "prelabel",
                  "created_at"]
        read_only_fields = fields

    @extend_schema_field(SegmentPrelabelSerializer(allow_null=True))
    def get_prelabel(self, segment) -> dict | None:
        """The active teacher's prelabel (else the newest teacher's; the student's for off-screen speech)."""
        prelabel = shown_prelabel(segment)
        return SegmentPrelabelSerializer(prelabel).data if prelabel else None

    def get_audio_url(self, segment) -> str | None:
        return _url(segment.audio.name)

    def get_face_crop_urls(self, segment) -> list[str]:
        return [_url(name) for name in segment.face_crops or [] if name]
