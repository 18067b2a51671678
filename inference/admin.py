from django.contrib import admin

from labelstudio_emo.admin_lists import LargeTableAdmin

from .models import ModelVersion, Prelabel, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "name", "version", "arch", "is_active", "created_at")
    list_filter = ("kind", "is_active")


@admin.register(Prelabel)
class PrelabelAdmin(LargeTableAdmin):
    list_display = ("id", "segment", "model_version", "category", "confidence", "valence", "arousal", "entropy")
    list_select_related = ("segment", "model_version")
    list_filter = ("model_version", "category")
    raw_id_fields = ("segment",)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "progress", "model_version", "created_at", "finished_at")
    list_filter = ("status",)
