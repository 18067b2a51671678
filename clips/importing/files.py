"""Where imports write: a private `incoming/<video_id>/` folder per video,
moved into storage only once complete, so storage never holds a half file."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename, slugify


def incoming_root() -> Path:
    # Under MEDIA_ROOT so the final move is a rename on the same filesystem.
    return Path(getattr(settings, "IMPORT_TMP_DIR", None) or Path(settings.MEDIA_ROOT) / "incoming")


def incoming_dir(key) -> Path:
    path = incoming_root() / str(key)
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_incoming(key) -> bool:
    path = incoming_root() / str(key)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        return True
    return False


class _CompleteLocalFile(File):
    """A finished local file: FileSystemStorage moves it (rename) instead of
    streaming it into the destination, so the stored name appears whole."""

    def temporary_file_path(self):
        return self.file.name


def store_file(local_path: Path, name: str) -> str:
    """Move a finished file into default storage under `name`; returns the stored name."""
    with open(local_path, "rb") as fh:
        stored = default_storage.save(name, _CompleteLocalFile(fh, name=Path(name).name))
    Path(local_path).unlink(missing_ok=True)
    return stored


def local_path_or_copy(name: str, into: Path) -> Path:
    """A local path of a stored file: the file itself on local storage, else
    a copy made in the folder `into` (remote storage such as S3)."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        dst = Path(into) / Path(name).name
        with default_storage.open(name, "rb") as src, open(dst, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return dst


@contextmanager
def local_path(name: str) -> Iterator[Path]:
    """local_path_or_copy, any copy made in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="stored-") as tmp:
        yield local_path_or_copy(name, Path(tmp))


def media_name(folder: str, video_id: int, title: str, suffix: str) -> str:
    stem = slugify(title)[:60] or "media"
    return f"{folder}/{video_id}-{get_valid_filename(stem)}{suffix.lower()}"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def delete_stored(*names: str):
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def remove_stale_incoming(max_age_s: float) -> int:
    """Uploads/copies abandoned by a killed process (per-video folders are
    handled by the worker-start recovery)."""
    import time
    root = incoming_root()
    if not root.exists():
        return 0
    removed = 0
    for path in root.iterdir():
        if path.name.startswith(("upload-", "copy-")) and time.time() - path.stat().st_mtime > max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
