from django.contrib import admin

from labelstudio_emo.admin_lists import LargeTableAdmin

from .models import FaceTrack, Person, ReferencePhoto, Scene, Segment, Video


@admin.register(Video)
class VideoAdmin(LargeTableAdmin):
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


class VideoIdFilter(admin.SimpleListFilter):
    """Segments of one video by id (?video=ID): a list of every video title
    would be thousands of links on each page."""

    title, parameter_name = "video id", "video"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"video {value}")] if value and value.isdigit() else []

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(video_id=int(value)) if value and value.isdigit() else queryset


@admin.register(Segment)
class SegmentAdmin(LargeTableAdmin):
    list_display = ("id", "video", "start", "end", "face_track_id", "speaking_confidence")
    list_select_related = ("video",)
    list_filter = (VideoIdFilter,)
    raw_id_fields = ("video", "scene", "face_track")


@admin.register(ReferencePhoto)
class ReferencePhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "person", "image")
