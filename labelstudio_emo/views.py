import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render

from . import dashboard
from .byte_ranges import file_response
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


# Exports live under their own staff-only download view; everything else in
# MEDIA_ROOT (segment audio, face crops, videos) is for logged-in annotators.
STAFF_ONLY_MEDIA_PREFIXES = ("exports/", "models/", "people/", "incoming/")


@login_required
def protected_media(request, path):
    """Serve media through the storage API to authenticated users only
    (works for local folders and S3-compatible stores alike)."""
    if ".." in path.split("/"):
        raise Http404
    if path.startswith(STAFF_ONLY_MEDIA_PREFIXES) and not is_staff(request.user):
        return JsonResponse({"detail": "Staff only."}, status=403)
    if not is_annotator(request.user):
        return JsonResponse({"detail": "Annotators and staff only."}, status=403)
    if not default_storage.exists(path):
        raise Http404
    content_type, _ = mimetypes.guess_type(path)
    return file_response(request, path, content_type or "application/octet-stream")
