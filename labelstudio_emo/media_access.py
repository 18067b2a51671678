"""Which stored file a /media/ request may read: the one resolver every media
view goes through.

The name is normalised *before* any rule is applied (percent-decoding that
survived the server's own, `.`/`..`/`//` segments, backslashes), so
`/media/./exports/x.zip` and `/media/%2e/exports/x.zip` meet the same check as
`/media/exports/x.zip`. On a local disk the real path must also be a regular
file inside MEDIA_ROOT: folders are 404s and symlinks that lead out are refused.
"""

from __future__ import annotations

import os
import posixpath
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404

from .permissions import is_annotator, is_staff

# Never through /media/: exports have their own staff download view (it sets
# the checksum header and is the one place to audit), incoming/ is scratch.
UNSERVED_AREAS = ("exports", "incoming", "locks")
# Model weights and figures, people's reference photos: staff only.
STAFF_AREAS = ("models", "people")
MAX_DECODE_ROUNDS = 3


def normalise(path: str) -> str:
    """A stored name with no way to step outside or around its folder; Http404 if none."""
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        raise Http404("Media path is encoded too many times.")
    if "\x00" in path:
        raise Http404
    path = path.replace("\\", "/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise Http404
    name = posixpath.join(*parts)
    if name != posixpath.normpath(name):  # belt and braces: nothing left to resolve
        raise Http404
    return name


def area(name: str) -> str:
    return name.split("/", 1)[0]


def check_role(name: str, user) -> None:
    if area(name) in UNSERVED_AREAS:
        raise PermissionDenied("Exports download from their own page (/exports/<id>/download/).")
    if area(name) in STAFF_AREAS and not is_staff(user):
        raise PermissionDenied("Staff only.")
    if not is_annotator(user):
        raise PermissionDenied("Annotators and staff only.")


def check_is_stored_file(name: str) -> None:
    """A regular file (not a folder) whose real path stays inside MEDIA_ROOT."""
    try:
        local = default_storage.path(name)
    except NotImplementedError:  # object stores: no folders, no symlinks
        if not default_storage.exists(name):
            raise Http404
        return
    root = os.path.realpath(settings.MEDIA_ROOT)
    real = os.path.realpath(local)
    if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
        raise Http404
    if area(os.path.relpath(real, root).replace(os.sep, "/")) != area(name):
        raise Http404  # a link from a shared area into a private one


def stored_file(name: str) -> str:
    """For views that already checked who may see a file (the video player,
    the export download): the same normalisation and on-disk checks."""
    name = normalise(name)
    check_is_stored_file(name)
    return name


def resolve_media(path: str, user) -> str:
    """The storage name `user` may read at /media/<path>, or Http404/PermissionDenied."""
    name = normalise(path)
    check_role(name, user)
    return stored_file(name)
