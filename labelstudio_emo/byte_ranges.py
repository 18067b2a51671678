"""Serving a stored file with HTTP byte ranges (one implementation for every
media view).

Ranges let the browser seek inside long source videos (the annotation page
loops a few seconds from the middle of an hour-long file). A browser asks for
"bytes=0-" and reads as it plays: each answer is cut to at most RANGE_CHUNK
bytes (a 206 may cover less than asked; players then ask for the next part),
so a playing video never holds a single-threaded web process for long
(gunicorn.conf.py).
"""

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
RANGE_CHUNK = 4 * 1024 * 1024


def file_response(request, path: str, content_type: str) -> HttpResponse:
    """The whole file (200), the asked part capped at RANGE_CHUNK (206), or 416."""
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    size = default_storage.size(path)
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
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
