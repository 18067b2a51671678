"""Training runs: API (staff), run page with live progress, retrain/cancel forms.

Thin: every rule lives in inference.student.services.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from inference.models import ModelVersion, TrainingRun
from labelstudio_emo.permissions import IsStaff, staff_required
from labelstudio_emo.validation import local_next


def _services():
    """The training services import torch (a run's model config is checked by
    building the network): loaded when a run is started or cancelled, not by
    every web process for every page."""
    from . import services

    return services


# --------------------------------------------------------------------- API
class ModelVersionBriefSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "version", "label", "is_active", "sha256"]
        read_only_fields = fields

    def get_label(self, obj) -> str:
        return obj.label


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = ModelVersionBriefSerializer(read_only=True)
    created_by = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    confusion_png_url = serializers.SerializerMethodField()
    baseline_confusion_png_url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "progress", "export", "config", "history", "metrics", "model_version", "error",
                  "cancel_requested", "created_by", "created_at", "started_at", "finished_at", "page_url",
                  "confusion_png_url", "baseline_confusion_png_url"]
        read_only_fields = fields

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.username if obj.created_by else None

    def get_page_url(self, obj) -> str:
        return reverse("training-run", args=[obj.id])

    def get_confusion_png_url(self, obj) -> str | None:
        return _media_url((obj.metrics or {}).get("confusion_png"))

    def get_baseline_confusion_png_url(self, obj) -> str | None:
        return _media_url(((obj.metrics or {}).get("baseline") or {}).get("confusion_png"))


def _media_url(name: str | None) -> str | None:
    return reverse("media", args=[name]) if name else None


class TrainingRunCreateSerializer(serializers.Serializer):
    export = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None,
                                      help_text="export id to train on; default: a new export of everything labelled")
    epochs = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True, default=None)


class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Student training runs (staff only). POST starts one (409 while one is live);
    poll GET /api/training-runs/<id>/ for epoch, losses and val UAR."""

    permission_classes = [IsStaff]
    serializer_class = TrainingRunSerializer
    queryset = TrainingRun.objects.select_related("model_version", "created_by").order_by("-created_at", "-id")

    @extend_schema(request=TrainingRunCreateSerializer, responses={201: TrainingRunSerializer})
    def create(self, request, *args, **kwargs):
        params = TrainingRunCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services = _services()
        try:
            run = services.start_run(user=request.user, export_id=params.validated_data["export"],
                                     epochs=params.validated_data["epochs"])
        except services.RunAlreadyActive as exc:
            return Response({"detail": str(exc), "run": exc.run.id if exc.run else None},
                            status=status.HTTP_409_CONFLICT)
        except services.RunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TrainingRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = get_object_or_404(TrainingRun, pk=pk)
        run = _services().request_cancel(run.id)
        return Response(TrainingRunSerializer(run).data)


# ------------------------------------------------------------------- pages
@staff_required
def training_runs_page(request):
    return render(request, "inference/training_runs.html")


@staff_required
def training_run_page(request, pk):
    run = get_object_or_404(TrainingRun.objects.select_related("model_version", "export", "created_by"), pk=pk)
    metrics = run.metrics or {}
    return render(request, "inference/training_run.html", {
        "run": run, "metrics": metrics, "baseline": metrics.get("baseline") or {},
        "rows": _metric_rows(metrics),
        "recall_rows": _recall_rows(metrics),
        "confusion_url": _media_url(metrics.get("confusion_png")),
        "baseline_confusion_url": _media_url((metrics.get("baseline") or {}).get("confusion_png")),
        "live": run.status in TrainingRun.LIVE,
    })


def _metric_rows(metrics: dict) -> list[tuple[str, object, object]]:
    baseline = metrics.get("baseline") or {}
    names = [("UAR", "uar"), ("WA (accuracy)", "wa"), ("macro-F1", "macro_f1"),
             ("CCC valence", "ccc_valence"), ("CCC arousal", "ccc_arousal")]
    return [(label, metrics.get(key), baseline.get(key)) for label, key in names if key in metrics]


def _recall_rows(metrics: dict) -> list[tuple[str, object, object, object]]:
    recall = metrics.get("per_class_recall") or {}
    base = (metrics.get("baseline") or {}).get("per_class_recall") or {}
    support = metrics.get("support") or {}
    return [(name, value, base.get(name), support.get(name)) for name, value in recall.items()
            if support.get(name)]


@staff_required
@require_POST
def start_run_view(request):
    epochs = request.POST.get("epochs") or None
    export = request.POST.get("export") or None
    services = _services()
    try:
        run = services.start_run(user=request.user, export_id=int(export) if export else None,
                                 epochs=int(epochs) if epochs else None)
    except services.RunAlreadyActive as exc:
        messages.error(request, f"Not started: {exc}.")
        return redirect(reverse("training-run", args=[exc.run.id]) if exc.run else _back(request))
    except (services.RunError, ValueError) as exc:
        messages.error(request, f"Not started: {exc}.")
        return redirect(_back(request))
    messages.success(request, f"Training run {run.id} started.")
    return redirect("training-run", pk=run.id)


@staff_required
@require_POST
def cancel_run_view(request, pk):
    run = get_object_or_404(TrainingRun, pk=pk)
    run = _services().request_cancel(run.id)
    messages.info(request, f"Run {run.id}: {'cancelled' if run.status == 'cancelled' else 'cancelling...'}")
    return redirect("training-run", pk=run.id)


def _back(request) -> str:
    return local_next(request, reverse("training-runs"))
