import mimetypes
import re

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from .permissions import is_annotator, is_staff


@login_required
def home(request):
    """One home page per role: staff get the corpus tools, annotators one button."""
    return render(request, "home.html", {"is_staff": is_staff(request.user),
                                         "is_annotator": is_annotator(request.user)})


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
    content_type = content_type or "application/octet-stream"
    ranged = _range_response(request, path, content_type)
    if ranged is not None:
        return ranged
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    return response


# Byte ranges let the browser seek inside long source videos (the annotation
# page loops a few seconds from the middle of an hour-long file). A browser
# asks for "bytes=0-" and reads as it plays: each answer is cut to at most
# RANGE_CHUNK bytes (a 206 may cover less than asked; players then ask for the
# next part), so a playing video never holds a web process for long.
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
RANGE_CHUNK = 4 * 1024 * 1024


def _range_response(request, path, content_type):
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        return None
    size = default_storage.size(path)
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    end = min(end, start + RANGE_CHUNK - 1)
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    handle = default_storage.open(path, "rb")
    handle.seek(start)

    def chunks(remaining=end - start + 1, block=256 * 1024):
        try:
            while remaining > 0:
                data = handle.read(min(block, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            handle.close()

    response = StreamingHttpResponse(chunks(), status=206, content_type=content_type)
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
