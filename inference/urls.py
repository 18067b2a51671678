from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api, views

router = SimpleRouter()
router.register("api/models", api.ModelVersionViewSet, basename="api-models")

urlpatterns = [
    path("models/", views.models_page, name="models"),
    path("models/<int:pk>/activate/", views.activate_view, name="model-activate"),
    path("models/prelabel-all/", views.prelabel_all_view, name="models-prelabel-all"),
    path("", include(router.urls)),
    path("", include("inference.student.urls")),
]
