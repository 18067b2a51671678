from django.contrib import admin

from .models import FaceTrack, Person, ReferencePhoto, Scene, Segment, Video


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "extractor", "external_id", "status", "progress", "duration", "created_at")
    list_filter = ("status", "extractor")
    search_fields = ("title", "external_id", "channel", "source_url")


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ("id", "video", "index", "start", "end")


class ReferencePhotoInline(admin.TabularInline):
    model = ReferencePhoto
    extra = 1
    exclude = ("encoding",)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created_at")
    inlines = [ReferencePhotoInline]


@admin.register(FaceTrack)
class FaceTrackAdmin(admin.ModelAdmin):
    list_display = ("id", "video", "scene", "identity", "person", "start", "end")
    list_filter = ("video",)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("id", "video", "start", "end", "face_track", "speaking_confidence")
    list_filter = ("video",)


@admin.register(ReferencePhoto)
class ReferencePhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "person", "image")
