"""Videos and what segmentation finds in them. Times are seconds from the
start of the video; boxes are (top, right, bottom, left) source pixels."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Video(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        DOWNLOADING = "downloading"
        SEGMENTING = "segmenting"
        PRELABELLING = "prelabelling"
        READY = "ready"
        FAILED = "failed"

    class Stage(models.TextChoices):
        """The last finished pipeline stage, in pipeline order ("" = nothing yet)."""
        DOWNLOADED = "downloaded"
        AUDIO = "audio"
        SCENES = "scenes"
        FACES = "faces"
        SPEAKERS = "speakers"
        SEGMENTS = "segments"
        PRELABELLED = "prelabelled"

    source_url = models.URLField(max_length=2000, blank=True)
    extractor = models.CharField(max_length=64, help_text="yt-dlp extractor, or 'upload'/'local'")
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True)
    channel = models.CharField(max_length=255, blank=True)
    upload_date = models.CharField(max_length=8, blank=True, help_text="YYYYMMDD as yt-dlp gives it")
    license = models.CharField(max_length=255, blank=True)
    webpage_url = models.URLField(max_length=2000, blank=True)
    language = models.CharField(max_length=16, blank=True)
    speaker_hint = models.CharField(max_length=255, blank=True)
    clip_start = models.FloatField(null=True, blank=True, help_text="keep only from here (s)")
    clip_end = models.FloatField(null=True, blank=True, help_text="keep only up to here (s)")
    options = models.JSONField(default=dict, blank=True, help_text="import options (max height, ...)")

    duration = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    has_audio = models.BooleanField(default=True)
    has_video = models.BooleanField(default=True)
    file = models.FileField(upload_to="videos/", max_length=500, blank=True)
    audio = models.FileField(upload_to="audio/", max_length=500, blank=True,
                             help_text="16 kHz mono WAV")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # Values: Video.Stage ("" before any). Not the field's `choices`: that would
    # be a migration for no change in what is stored.
    stage = models.CharField(max_length=32, blank=True, help_text="last finished pipeline stage")
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="non-fatal remarks (no faces, ...)")
    speaker_model = models.CharField(max_length=100, blank=True,
                                     help_text="what decided who speaks (active-speaker model and voice activity)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # The video list's order (newest first), whole or by status: its page of 50 is read from
        # an index, so the per-video segment and scene counts run for those 50 rows only, not for
        # every video (SQLite, without statistics, otherwise takes the status index and sorts).
        indexes = [models.Index(fields=["-created_at", "-id"], name="video_newest_first"),
                   models.Index(fields=["status", "-created_at", "-id"], name="video_status_newest_first")]
        constraints = [
            models.UniqueConstraint(fields=["extractor", "external_id"], name="video_unique_source"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="video_progress_le_100"),
        ]

    def __str__(self):
        return self.title or f"{self.extractor}:{self.external_id}"


class Scene(models.Model):
    video = models.ForeignKey(Video, related_name="scenes", on_delete=models.CASCADE)
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()

    class Meta:
        ordering = ["video", "index"]
        constraints = [
            models.UniqueConstraint(fields=["video", "index"], name="scene_unique_index"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="scene_end_after_start"),
        ]

    def __str__(self):
        return f"{self.video_id}#{self.index} [{self.start:.2f}-{self.end:.2f}]"


class Person(models.Model):
    """A target person named from reference photos; tracks are matched to it."""

    name = models.CharField(max_length=255, unique=True)
    encodings = models.JSONField(default=list, blank=True, help_text="128-d face encodings of the photos")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class ReferencePhoto(models.Model):
    person = models.ForeignKey(Person, related_name="photos", on_delete=models.CASCADE)
    image = models.ImageField(upload_to="people/", max_length=500)
    encoding = models.JSONField(null=True, blank=True)


class FaceTrack(models.Model):
    video = models.ForeignKey(Video, related_name="tracks", on_delete=models.CASCADE)
    scene = models.ForeignKey(Scene, related_name="tracks", on_delete=models.CASCADE)
    identity = models.IntegerField(default=-1, help_text="face cluster within the video (-1 unknown)")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL)
    start = models.FloatField()
    end = models.FloatField()
    boxes = models.JSONField(default=list, help_text="[[t, top, right, bottom, left], ...]")
    encoding = models.JSONField(null=True, blank=True, help_text="mean 128-d encoding")
    mouth = models.JSONField(default=list, blank=True, help_text="[[t, lip opening / eye distance], ...]")

    class Meta:
        ordering = ["video", "start"]
        constraints = [models.CheckConstraint(condition=Q(end__gte=F("start")), name="track_end_not_before_start")]


class Segment(models.Model):
    """One speaker in one scene for a few seconds: the unit people label."""

    video = models.ForeignKey(Video, related_name="segments", on_delete=models.CASCADE)
    scene = models.ForeignKey(Scene, null=True, blank=True, related_name="segments", on_delete=models.CASCADE)
    face_track = models.ForeignKey(FaceTrack, null=True, blank=True, related_name="segments",
                                   on_delete=models.SET_NULL, help_text="empty for off-screen speech")
    start = models.FloatField()
    end = models.FloatField()
    audio = models.FileField(upload_to="segments/", max_length=500, blank=True)
    face_crops = models.JSONField(default=list, blank=True, help_text="storage paths of aligned 112 px crops")
    box = models.JSONField(null=True, blank=True, help_text="median speaking-face box [t, r, b, l]")
    speaking_confidence = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["video", "start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="segment_end_after_start")]

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_offscreen(self) -> bool:
        return self.face_track_id is None

    def __str__(self):
        return f"seg {self.pk} v{self.video_id} [{self.start:.2f}-{self.end:.2f}]"
