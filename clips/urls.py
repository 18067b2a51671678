from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api, views

app_name = "clips"

router = SimpleRouter()
router.register("videos", api.VideoViewSet, basename="api-video")
router.register("segments", api.SegmentViewSet, basename="api-segment")

urlpatterns = [
    path("import/", views.import_page, name="import"),
    path("videos/", views.video_list, name="videos"),
    path("videos/<int:pk>/", views.video_detail, name="video"),
    path("videos/<int:pk>/retry/", views.video_retry, name="video-retry"),
    path("videos/<int:pk>/delete/", views.video_delete, name="video-delete"),
    path("videos/<int:pk>/media/", views.video_media, name="video-media"),
    path("api/", include(router.urls)),
]
