from django.contrib import admin

from .models import ModelVersion, Prelabel, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "name", "version", "arch", "is_active", "created_at")
    list_filter = ("kind", "is_active")


@admin.register(Prelabel)
class PrelabelAdmin(admin.ModelAdmin):
    list_display = ("id", "segment", "model_version", "category", "confidence", "valence", "arousal", "entropy")
    list_filter = ("model_version", "category")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "progress", "model_version", "created_at", "finished_at")
    list_filter = ("status",)
