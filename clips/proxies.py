"""A video's proxy in storage: the downscaled copy that the scenes stage writes in
its one decode of the source and the faces, speakers and crops stages read
(clips.segmentation.av.PROXY_CODEC). It is a cache: a stage that finds it
missing or unreadable (deleted, a killed worker's leftover) builds it again,
and it is deleted once the face crops are made.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

from clips import media
from clips.importing.files import local_path
from clips.segmentation import av
from clips.segmentation.params import SegmentationParams

FOLDER = "proxies"


def proxy_name(video, params: SegmentationParams) -> str | None:
    """Storage name of the video's proxy; it changes with the media file and the width."""
    width = params.proxy_width()
    if not width or not video.file:
        return None
    size = default_storage.size(video.file.name) if default_storage.exists(video.file.name) else 0
    key = hashlib.sha1(f"{video.file.name}|{size}|{width}".encode()).hexdigest()[:10]
    return f"{FOLDER}/{video.pk}-{key}.mp4"


def _storage_path(name: str) -> Path | None:
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage: copied in and out
        return None


@contextmanager
def writing(video, params: SegmentationParams) -> Iterator[Path | None]:
    """A local path for a stage to write the proxy to (None: no proxy wanted); if the
    file is there when the block ends without error, it becomes the video's proxy
    (a rename on local storage, so no partial proxy is ever seen)."""
    name = proxy_name(video, params)
    if name is None:
        yield None
        return
    final = _storage_path(name)
    with tempfile.TemporaryDirectory(prefix="proxy-") as tmp:
        if final is not None:
            final.parent.mkdir(parents=True, exist_ok=True)
            part = final.with_name(f"{final.name}.{os.getpid()}.part")
        else:
            part = Path(tmp) / Path(name).name
        try:
            yield part
            if part.exists():
                delete_proxies(video.pk, keep=name)
                if final is not None:
                    part.replace(final)
                else:
                    if default_storage.exists(name):  # an unreadable copy: replaced, not renamed
                        default_storage.delete(name)
                    with open(part, "rb") as fh:
                        default_storage.save(name, File(fh))
        finally:
            part.unlink(missing_ok=True)


def _usable(path: Path, width: int) -> bool:
    """Whether the stored file is a whole proxy (a cut-off MP4 has no index: unreadable)."""
    try:
        info = av.probe(path)
    except (media.MediaError, OSError, ValueError):
        return False
    return info.has_video and info.width == width


@contextmanager
def reading(video, params: SegmentationParams, source: Path) -> Iterator[Path | None]:
    """Local path of the video's proxy (None: no proxy wanted, or audio only), built
    from `source` (one decode pass) when missing or unreadable."""
    name = proxy_name(video, params)
    info = av.probe(source)
    if name is None or not info.has_video:
        yield None
        return
    width = av.scaled_size(info.width, info.height, params.proxy_width())
    if default_storage.exists(name):
        with local_path(name) as path:
            if _usable(path, width[0]):
                yield path
                return
    with writing(video, params) as part:
        av.write_proxy(source, part, width)
    with local_path(name) as path:
        yield path


def delete_proxies(video_id: int, keep: str | None = None) -> None:
    """The video's proxies (all of them, or all but `keep`)."""
    try:
        _dirs, names = default_storage.listdir(FOLDER)
    except (FileNotFoundError, NotImplementedError):
        return
    for file_name in names:
        name = f"{FOLDER}/{file_name}"
        if file_name.startswith(f"{video_id}-") and name != keep and not file_name.endswith(".part"):
            default_storage.delete(name)

