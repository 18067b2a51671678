"""Model versions (teachers and students), their prelabels, training runs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from labelstudio_emo.emotions import EMOTION_CHOICES

VA_RANGE = {"valence": (-1.0, 1.0), "arousal": (-1.0, 1.0)}


def va_constraints(prefix: str):
    """valence/arousal in [-1, 1] as database constraints."""
    return [
        models.CheckConstraint(condition=Q(valence__gte=-1.0) & Q(valence__lte=1.0), name=f"{prefix}_valence_range"),
        models.CheckConstraint(condition=Q(arousal__gte=-1.0) & Q(arousal__lte=1.0), name=f"{prefix}_arousal_range"),
    ]


class ModelVersion(models.Model):
    class Kind(models.TextChoices):
        TEACHER = "teacher"
        STUDENT = "student"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=128)
    version = models.PositiveIntegerField(default=1)
    arch = models.CharField(max_length=64)
    weights = models.CharField(max_length=1000, help_text="storage path or absolute path of the weights")
    sha256 = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "version"], name="modelversion_unique"),
            models.UniqueConstraint(fields=["kind"], condition=Q(is_active=True), name="one_active_model_per_kind"),
        ]

    @property
    def label(self) -> str:
        """`name@version`, how manifests, reports and pages name a model."""
        return f"{self.name}@{self.version}"

    def __str__(self):
        return f"{self.kind}:{self.label}"


class Prelabel(models.Model):
    """A model's opinion of a segment, kept apart from human labels."""

    segment = models.ForeignKey("clips.Segment", related_name="prelabels", on_delete=models.CASCADE)
    model_version = models.ForeignKey(ModelVersion, related_name="prelabels", on_delete=models.CASCADE)
    probs = models.JSONField(help_text="7 probabilities in FER2013 order")
    category = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    confidence = models.FloatField()
    valence = models.FloatField()
    arousal = models.FloatField()
    va_derived = models.BooleanField(default=True, help_text="V/A from the class circumplex, not the model")
    entropy = models.FloatField(help_text="of probs, nats; higher = less sure")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "model_version"], name="prelabel_unique_per_model"),
            *va_constraints("prelabel"),
        ]


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    LIVE = (Status.QUEUED, Status.RUNNING)  # at most one run at a time is live (constraint below)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    export = models.ForeignKey("annotation.Export", null=True, blank=True, on_delete=models.SET_NULL)
    config = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    history = models.JSONField(default=list, blank=True, help_text="per-epoch losses and val UAR")
    metrics = models.JSONField(default=dict, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def live(cls) -> "TrainingRun | None":
        """The queued or running run, if any."""
        return cls.objects.filter(status__in=cls.LIVE).first()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One run at a time, enforced by the database (concurrent clicks).
            models.UniqueConstraint(fields=["status"], condition=Q(status__in=["queued", "running"]),
                                    name="one_live_training_run"),
        ]
