"""Human labels (kept apart from model prelabels), assignments, reviews, exports."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from inference.models import va_constraints
from labelstudio_emo.emotions import EMOTION_CHOICES, EMOTIONS

FLAG_CHOICES = [
    ("not_speaker", "not the speaker"),
    ("several_speakers", "several speakers"),
    ("no_face", "no face"),
    ("bad_audio", "bad audio"),
    ("unsure", "unsure"),
]
FLAGS = tuple(f for f, _ in FLAG_CHOICES)


def category_constraint(prefix: str):
    return models.CheckConstraint(condition=Q(category__in=EMOTIONS), name=f"{prefix}_category_valid")


class Label(models.Model):
    segment = models.ForeignKey("clips.Segment", related_name="labels", on_delete=models.CASCADE)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="labels", on_delete=models.CASCADE)
    category = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    valence = models.FloatField()
    arousal = models.FloatField()
    flags = models.JSONField(default=list, blank=True)
    seconds_spent = models.FloatField(default=0.0)
    prelabel_shown = models.ForeignKey("inference.Prelabel", null=True, blank=True, on_delete=models.SET_NULL,
                                       help_text="the prelabel the annotator saw (anchoring studies)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["annotator", "created_at"], name="label_annotator_created")]  # done today
        constraints = [
            models.UniqueConstraint(fields=["segment", "annotator"], name="label_unique_per_annotator"),
            category_constraint("label"),
            *va_constraints("label"),
        ]


class LabelHistory(models.Model):
    """Every version of a label, written on each create and edit."""

    label = models.ForeignKey(Label, related_name="history", on_delete=models.CASCADE)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    category = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    valence = models.FloatField()
    arousal = models.FloatField()
    flags = models.JSONField(default=list, blank=True)
    edited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-edited_at"]


class Assignment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        DONE = "done"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    segment = models.ForeignKey("clips.Segment", related_name="assignments", on_delete=models.CASCADE)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="assignments", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["annotator", "status"], name="assignment_annotator_status"),  # held
            models.Index(fields=["status", "expires_at"], name="assignment_status_expires"),  # expiry sweep
        ]
        constraints = [
            # nobody is given the same segment twice
            models.UniqueConstraint(fields=["segment", "annotator"], name="assignment_unique_per_annotator"),
        ]


class QueueEntry(models.Model):
    """Denormalised queue state of one segment (annotation/queue_state.py keeps it
    up to date), so the next assignment is an indexed ORDER BY ... LIMIT instead
    of a pass over the corpus."""

    segment = models.OneToOneField("clips.Segment", primary_key=True, related_name="queue_entry",
                                   on_delete=models.CASCADE)
    bucket = models.CharField(max_length=16, help_text="predicted class used for balancing ('-' = none)")
    uncertainty = models.FloatField(help_text="higher = ask people sooner")
    queueable = models.BooleanField(default=False, help_text="ready video and not a gold segment")
    taken = models.IntegerField(default=0, help_text="labels + active assignments")
    is_open = models.BooleanField(default=False, help_text="queueable and taken < K")

    class Meta:
        indexes = [models.Index(fields=["bucket", "-uncertainty", "segment"], condition=Q(is_open=True),
                                name="queueentry_open_rank")]


class QueueSnapshot(models.Model):
    """What the queue entries were computed from (one row): when the corpus,
    the models or the queue settings change, the entries are recomputed."""

    fingerprint = models.CharField(max_length=500, blank=True)
    ready_videos = models.JSONField(default=list, blank=True, help_text="ids of the ready videos then")
    pending = models.CharField(max_length=200, blank=True,
                               help_text="models/settings part of a full recomputation queued (a task)")


class SegmentAggregate(models.Model):
    """Per-segment summary of its human labels, rewritten in the transaction
    that saves or deletes a label (annotation/segment_aggregates.py), so the
    review list is an indexed ORDER BY ... LIMIT instead of a pass over every
    label. Only segments with at least one label have a row."""

    segment = models.OneToOneField("clips.Segment", primary_key=True, related_name="aggregate",
                                   on_delete=models.CASCADE)
    n_labels = models.IntegerField()
    categories = models.JSONField(default=dict, help_text="labels per category")
    majority = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    majority_share = models.FloatField()
    valence_spread = models.FloatField(help_text="max - min of the labels' valence")
    arousal_spread = models.FloatField()
    disagreement = models.FloatField(help_text="share outside the majority + half the mean V/A spread")
    reviewed = models.BooleanField(default=False)
    gold = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["reviewed", "-disagreement", "-n_labels", "segment"],
                                name="segmentaggregate_review")]

    @property
    def vote_share(self) -> float:
        return self.majority_share


class AgreementSnapshot(models.Model):
    """The last agreement report (one row, pk=1), computed by a Celery task
    after labels change (annotation/agreement_store.py): the pages read it
    instead of recomputing over every label per request."""

    report = models.JSONField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    n_labels = models.IntegerField(default=0, help_text="labels the report was computed over")
    seconds = models.FloatField(default=0.0, help_text="how long the computation took")
    requested_at = models.DateTimeField(null=True, blank=True,
                                        help_text="a computation is queued since (None = none queued)")


class ReviewedLabel(models.Model):
    """The reviewer's final word on a segment, overriding the majority."""

    segment = models.OneToOneField("clips.Segment", related_name="review", on_delete=models.CASCADE)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    category = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    valence = models.FloatField()
    arousal = models.FloatField()
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [category_constraint("review"), *va_constraints("review")]


class GoldLabel(models.Model):
    """A segment with a known answer, mixed into queues to measure annotators."""

    segment = models.OneToOneField("clips.Segment", related_name="gold", on_delete=models.CASCADE)
    category = models.CharField(max_length=16, choices=EMOTION_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [category_constraint("gold")]


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="exports/", max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
