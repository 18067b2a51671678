from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import export_views

router = SimpleRouter()
router.register("api/exports", export_views.ExportViewSet, basename="api-exports")

urlpatterns = [
    path("exports/", export_views.exports_page, name="exports"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
    path("", include(router.urls)),
]
