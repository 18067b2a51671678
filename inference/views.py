"""Models page: teacher and student versions, activation, re-prelabelling."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labelstudio_emo.permissions import staff_required

from .models import ModelVersion
from .registry import RegistryError, active_model
from .services import activate
from .selectors import model_rows, prelabel_status
from .teachers.tasks import prelabel_all_task

Kind = ModelVersion.Kind


@staff_required
def models_page(request):
    teacher = active_model(Kind.TEACHER)
    return render(request, "inference/models.html", {
        "teachers": model_rows(Kind.TEACHER), "students": model_rows(Kind.STUDENT),
        "active_teacher": teacher, "active_student": active_model(Kind.STUDENT),
        "prelabels": prelabel_status(teacher),
    })


@staff_required
@require_POST
def activate_view(request, pk):
    mv = get_object_or_404(ModelVersion, pk=pk)
    previous = active_model(mv.kind)
    try:
        activate(mv)
    except RegistryError as exc:
        messages.error(request, str(exc))
        return redirect("models")
    note = " Use “Re-prelabel all” to prelabel existing segments with it." if mv.kind == Kind.TEACHER else ""
    messages.success(request, f"{mv.label} is now the active {mv.kind}"
                              f"{f' (was {previous.label})' if previous and previous != mv else ''}.{note}")
    return redirect("models")


@staff_required
@require_POST
def prelabel_all_view(request):
    teacher = active_model(Kind.TEACHER)
    if teacher is None:
        messages.error(request, "No active teacher: activate one first.")
        return redirect("models")
    result = prelabel_all_task.delay(teacher.pk)
    if result.ready():  # eager mode (tests, single process)
        messages.success(request, f"Prelabelled {result.get()['segments']} segments with {teacher.label}.")
    else:
        messages.success(request, f"Re-prelabelling all segments with {teacher.label} "
                                  f"on the gpu queue (task {result.id}).")
    return redirect("models")
