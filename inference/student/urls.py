from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("api/training-runs", views.TrainingRunViewSet, basename="api-training-runs")

urlpatterns = [
    path("models/runs/", views.training_runs_page, name="training-runs"),
    path("models/runs/start/", views.start_run_view, name="training-run-start"),
    path("models/runs/<int:pk>/", views.training_run_page, name="training-run"),
    path("models/runs/<int:pk>/cancel/", views.cancel_run_view, name="training-run-cancel"),
    path("", include(router.urls)),
]
