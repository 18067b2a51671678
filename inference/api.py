"""GET /api/models/ (+ activate, prelabel-all): staff only."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from labelstudio_emo.permissions import IsStaff

from .models import ModelVersion
from .registry import RegistryError, active_model
from .services import activate
from .selectors import model_versions
from .serializers import ModelVersionSerializer
from .teachers.tasks import prelabel_all_task


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Teacher and student versions; filter with ?kind=teacher|student."""

    serializer_class = ModelVersionSerializer
    permission_classes = [IsStaff]

    def get_queryset(self):
        kind = self.request.query_params.get("kind")
        return model_versions(*([kind] if kind in ModelVersion.Kind.values else []))

    @extend_schema(request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        try:
            mv = activate(self.get_object())
        except RegistryError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(self.get_serializer(mv).data)

    @extend_schema(request=None, responses=dict)
    @action(detail=False, methods=["post"], url_path="prelabel-all")
    def prelabel_all(self, request):
        teacher = active_model(ModelVersion.Kind.TEACHER)
        if teacher is None:
            return Response({"detail": "No active teacher."}, status=409)
        result = prelabel_all_task.delay(teacher.pk)
        return Response({"task_id": result.id, "model_version": teacher.pk}, status=202)
