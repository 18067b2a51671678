"""A video's proxy in storage: the downscaled copy that the scenes stage writes in
its one decode of the source and the faces, speakers and crops stages read
(clips.segmentation.av.proxy_args). It is a cache: a stage that finds it
missing or not whole (deleted, damaged, a killed worker's leftover) builds it
again, and it is deleted once the face crops are made.

Stored as proxies/<video>-<key>-<bytes>.mp4: the key changes with the media
file and the proxy's width, and the byte count written in the name tells a
whole file from a cut-off one.
"""

from __future__ import annotations

import hashlib
import logging
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
log = logging.getLogger(__name__)


def proxy_prefix(video, params: SegmentationParams) -> str | None:
    """Storage name of the video's proxy up to its byte count (None: no proxy wanted)."""
    width = params.proxy_width()
    if not width or not video.file:
        return None
    size = default_storage.size(video.file.name) if default_storage.exists(video.file.name) else 0
    key = hashlib.sha1(f"{video.file.name}|{size}|{width}".encode()).hexdigest()[:10]
    return f"{FOLDER}/{video.pk}-{key}-"


def stored_proxies(video_id: int) -> list[str]:
    """Storage names of the video's proxies (in-progress .part files left out)."""
    try:
        _dirs, names = default_storage.listdir(FOLDER)
    except (FileNotFoundError, NotImplementedError):
        return []
    return [f"{FOLDER}/{n}" for n in names if n.startswith(f"{video_id}-") and n.endswith(".mp4")]


def _whole(name: str) -> bool:
    """Whether the stored file has the byte count its name says."""
    try:
        return default_storage.size(name) == int(name.rsplit("-", 1)[1].removesuffix(".mp4"))
    except (ValueError, IndexError, OSError):
        return False


def _storage_path(name: str) -> Path | None:
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage: copied in and out
        return None


@contextmanager
def writing(video, params: SegmentationParams) -> Iterator[Path | None]:
    """A local path for a stage to write the proxy to (None: no proxy wanted); if the
    file is there when the block ends without error, it becomes the video's proxy
    (renamed into place on local storage, so no partial proxy carries the name)."""
    prefix = proxy_prefix(video, params)
    if prefix is None:
        yield None
        return
    folder = _storage_path(FOLDER)
    with tempfile.TemporaryDirectory(prefix="proxy-") as tmp:
        if folder is not None:  # beside its final place: the rename is atomic
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f"{Path(prefix).name}{os.getpid()}.part"
        else:
            part = Path(tmp) / "proxy.mp4"
        try:
            yield part
            if part.exists():
                name = f"{prefix}{part.stat().st_size}.mp4"
                delete_proxies(video.pk)
                if folder is not None:
                    part.replace(folder / Path(name).name)
                else:
                    with open(part, "rb") as fh:
                        default_storage.save(name, File(fh))
        finally:
            part.unlink(missing_ok=True)


def _usable(path: Path, width: int) -> bool:
    try:
        info = av.probe(path)
    except (media.MediaError, OSError, ValueError):
        return False
    return info.has_video and info.width == width


@contextmanager
def reading(video, params: SegmentationParams, source: Path) -> Iterator[Path | None]:
    """Local path of the video's proxy (None: no proxy wanted, or audio only), built
    from `source` (one decode pass) when missing, not whole or unreadable."""
    prefix = proxy_prefix(video, params)
    info = av.probe(source)
    if prefix is None or not info.has_video:
        yield None
        return
    size = av.scaled_size(info.width, info.height, params.proxy_width())
    for name in stored_proxies(video.pk):
        if name.startswith(prefix) and _whole(name):
            with local_path(name) as path:
                if _usable(path, size[0]):
                    yield path
                    return
    try:
        with writing(video, params) as part:
            av.write_proxy(source, part, size)
    except media.MediaError as exc:  # the stage then decodes the source, as without a proxy
        log.warning("video %s: no proxy (%s); decoding the source", video.pk, exc)
        yield None
        return
    name = next(n for n in stored_proxies(video.pk) if n.startswith(prefix))
    with local_path(name) as path:
        yield path


def delete_proxies(video_id: int, leftovers: bool = False) -> None:
    """Every stored proxy of the video; with `leftovers`, also the .part files of
    writers killed on the way (only when none can be running: the video's stages
    are serialised, and this is called after its last one or with its deletion)."""
    names = stored_proxies(video_id)
    if leftovers:
        try:
            names += [f"{FOLDER}/{n}" for n in default_storage.listdir(FOLDER)[1]
                      if n.startswith(f"{video_id}-") and n.endswith(".part")]
        except (FileNotFoundError, NotImplementedError):
            pass
    for name in names:
        default_storage.delete(name)
