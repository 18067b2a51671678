from django.contrib import admin

from labelstudio_emo.admin_lists import LargeTableAdmin
from labelstudio_emo.emotions import EMOTIONS

from .models import (AgreementSnapshot, Assignment, Export, GoldLabel, Label, LabelHistory, QueueEntry, QueueSnapshot,
                     ReviewedLabel, SegmentAggregate)
from .queue_state import NO_PREDICTION


class LabelHistoryInline(admin.TabularInline):
    model = LabelHistory
    extra = 0
    readonly_fields = ("edited_by", "category", "valence", "arousal", "flags", "edited_at")
    can_delete = False


@admin.register(Label)
class LabelAdmin(LargeTableAdmin):
    list_display = ("id", "segment", "annotator", "category", "valence", "arousal", "seconds_spent", "updated_at")
    list_select_related = ("annotator", "segment")
    list_filter = ("category", "annotator")
    raw_id_fields = ("segment", "prelabel_shown")
    inlines = [LabelHistoryInline]


@admin.register(LabelHistory)
class LabelHistoryAdmin(LargeTableAdmin):
    list_display = ("id", "label_id", "edited_by", "category", "valence", "arousal", "edited_at")
    list_select_related = ("edited_by",)
    raw_id_fields = ("label",)


@admin.register(Assignment)
class AssignmentAdmin(LargeTableAdmin):
    list_display = ("id", "segment", "annotator", "status", "created_at", "expires_at")
    list_select_related = ("annotator", "segment")
    list_filter = ("status", "annotator")
    raw_id_fields = ("segment",)


@admin.register(ReviewedLabel)
class ReviewedLabelAdmin(LargeTableAdmin):
    list_display = ("id", "segment", "reviewer", "category", "valence", "arousal", "updated_at")
    list_select_related = ("segment", "reviewer")
    raw_id_fields = ("segment",)


@admin.register(GoldLabel)
class GoldLabelAdmin(admin.ModelAdmin):
    list_display = ("id", "segment", "category", "valence", "arousal")


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "progress", "size_bytes", "created_by", "created_at")
    list_filter = ("status",)
    # Exports are immutable records of what was released: viewable here, never edited.
    readonly_fields = [f.name for f in Export._meta.fields]

    def has_add_permission(self, request):
        return False  # made on the Exports page / API / export_corpus, which build them


class BucketFilter(admin.SimpleListFilter):
    """The queue's balancing buckets are the emotion classes (or none): listed as such, not
    found by a SELECT DISTINCT over every entry."""

    title, parameter_name = "bucket", "bucket"

    def lookups(self, request, model_admin):
        return [(c, c) for c in EMOTIONS] + [(NO_PREDICTION, "no prediction")]

    def queryset(self, request, queryset):
        return queryset.filter(bucket=self.value()) if self.value() else queryset


@admin.register(QueueEntry)
class QueueEntryAdmin(LargeTableAdmin):
    """Derived state of the queue (annotation/queue_state.py): shown, never edited by hand."""

    list_display = ("segment", "bucket", "uncertainty", "queueable", "taken", "is_open")
    list_select_related = ("segment",)
    list_filter = ("is_open", BucketFilter)
    readonly_fields = [f.name for f in QueueEntry._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(QueueSnapshot)
class QueueSnapshotAdmin(admin.ModelAdmin):
    list_display = ("id", "fingerprint")
    readonly_fields = ("fingerprint",)

    def has_add_permission(self, request):
        return False


class DerivedAdmin(LargeTableAdmin):
    """Rows the app computes (shown for inspection, never edited by hand)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SegmentAggregate)
class SegmentAggregateAdmin(DerivedAdmin):
    """The review list's per-segment summaries (annotation/segment_aggregates.py)."""

    list_display = ("segment", "n_labels", "majority", "majority_share", "valence_spread", "arousal_spread",
                    "disagreement", "reviewed", "gold")
    list_select_related = ("segment",)
    list_filter = ("reviewed", "gold")
    ordering = ("reviewed", "-disagreement", "-n_labels", "segment")


@admin.register(AgreementSnapshot)
class AgreementSnapshotAdmin(DerivedAdmin):
    """The stored agreement report (annotation/agreement_store.py)."""

    list_display = ("id", "computed_at", "n_labels", "seconds", "requested_at")
    exclude = ("report",)
