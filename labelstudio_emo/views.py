import mimetypes

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from .byte_ranges import file_response
from .media_access import resolve_media
from .permissions import is_annotator, is_staff


@login_required
def home(request):
    """One home page per role: staff get the corpus tools, annotators one button."""
    return render(request, "home.html", {"is_staff": is_staff(request.user),
                                         "is_annotator": is_annotator(request.user)})


def health(request):
    return JsonResponse({"ok": True})


@login_required
def protected_media(request, path):
    """Serve media through the storage API (local folders and S3-compatible
    stores alike) after the one access check, media_access.resolve_media."""
    name = resolve_media(path, request.user)
    content_type, _ = mimetypes.guess_type(name)
    return file_response(request, name, content_type or "application/octet-stream")
