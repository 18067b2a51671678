from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("api/exports", views.ExportViewSet, basename="api-exports")

urlpatterns = [
    path("exports/", views.exports_page, name="exports"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
    path("", include(router.urls)),
]
