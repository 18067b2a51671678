import mimetypes

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render

from . import dashboard
from .byte_ranges import file_response
from .media_access import resolve_media
from .permissions import is_annotator, is_staff


@login_required
def home(request):
    """Staff get the dashboard; annotators go straight to work."""
    if is_staff(request.user):
        return render(request, "home.html", {"is_staff": True, "dashboard": dashboard.figures()})
    if is_annotator(request.user):
        return redirect("annotate")
    return render(request, "home.html", {"is_staff": False})


def health(request):
    return JsonResponse({"ok": True})


@login_required
def protected_media(request, path):
    """Serve media through the storage API (local folders and S3-compatible
    stores alike) after the one access check, media_access.resolve_media."""
    name = resolve_media(path, request.user)
    content_type, _ = mimetypes.guess_type(name)
    return file_response(request, name, content_type or "application/octet-stream")
