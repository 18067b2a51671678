"""yt-dlp as a library: expand playlists/channels, read metadata, download.

No Django here: callers pass options in and get dataclasses / paths out.
Every request yt-dlp makes goes through SafeYoutubeDL.urlopen, so the SSRF
guard also covers extractor API calls, media URLs and each redirect hop
before it is followed (guarded_http).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from yt_dlp import YoutubeDL
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.networking.exceptions import RequestError
from yt_dlp.utils import DownloadError

from .guarded_http import AddressRefused, RedirectRefused, guarded_request_director, refuse_external_downloader
from .safety import UnresolvableHost, UnsafeURL, check_url

log = logging.getLogger(__name__)


class ImportFailed(Exception):
    """Permanent per-video failure; str(exc) is the message shown to the user."""


class TransientImportError(ImportFailed):
    """Network trouble worth retrying later (with back-off)."""


@dataclass(frozen=True)
class SourceOptions:
    max_height: int = 720
    max_duration: float | None = None  # seconds; None = no limit
    max_videos: int | None = None  # per playlist/channel
    max_filesize: int | None = None  # bytes
    allow_private: bool = False


@dataclass
class Entry:
    """One video found at a URL (a flat playlist entry or a single video)."""

    url: str
    extractor: str
    external_id: str
    title: str = ""
    duration: float | None = None
    channel: str = ""


@dataclass
class Expansion:
    entries: list[Entry]
    is_playlist: bool
    title: str = ""


@dataclass
class Downloaded:
    path: Path
    metadata: dict = field(default_factory=dict)


# --- errors ----------------------------------------------------------------

# (pattern in yt-dlp's message, short message, transient?)
_ERROR_MAP: list[tuple[str, str, bool]] = [
    (r"No space left on device", "Disk full on the server: free some space, then retry.", False),
    (r"private video|video is private", "This video is private.", False),
    (r"members[- ]only|join this channel", "Members-only video: it cannot be downloaded.", False),
    (r"confirm your age|age[- ]restricted|inappropriate for some users", "Age-restricted video: it needs a signed-in account.", False),
    (r"has been removed|video unavailable|no longer available|account .* terminated|"
     r"does not exist|HTTP Error 404|HTTP Error 410", "The video was removed or does not exist.", False),
    (r"not available in your country|geo.?restrict", "The video is blocked in the server's country.", False),
    (r"live event will begin|premieres in|is_live|is live", "Live streams and premieres can only be imported once they have ended.", False),
    (r"Unsupported URL", "Unsupported URL: no video found at this address.", False),
    (r"Requested format is not available|No video formats found", "No downloadable video format was found.", False),
    (r"HTTP Error 403|Forbidden", "The site refused the download (HTTP 403).", False),
    (r"HTTP Error 429|Too Many Requests", "The site is rate-limiting this server (HTTP 429).", True),
    (r"HTTP Error 5\d\d", "The site had a server error (HTTP 5xx).", True),
    (r"timed out|timeout|Temporary failure in name resolution|Name or service not known|"
     r"Connection (refused|reset|aborted)|Network is unreachable|IncompleteRead|"
     r"Remote end closed|EOF occurred|urlopen error|Unable to download webpage|"
     r"unable to download video data|Failed to resolve|Read timed out|ConnectionError",
     "Network error while downloading.", True),
]


def humanize_error(message: str) -> tuple[str, bool]:
    """yt-dlp's long error -> (short message for people, transient?)."""
    text = str(message)
    for pattern, short, transient in _ERROR_MAP:
        if re.search(pattern, text, re.IGNORECASE):
            return short, transient
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    first = re.sub(r"^ERROR:\s*", "", first)
    first = re.sub(r"^\[[\w:]+\]\s*[\w-]*:?\s*", "", first)
    return f"Download failed: {first[:200]}", False


def _raise_unsafe(exc: UnsafeURL):
    if isinstance(exc, UnresolvableHost) and exc.transient:
        raise TransientImportError(str(exc)) from exc
    raise ImportFailed(str(exc)) from exc


def _raise_for(exc: Exception):
    cause = getattr(exc, "exc_info", None)
    if cause and isinstance(cause[1], UnsafeURL):
        _raise_unsafe(cause[1])
    message, transient = humanize_error(str(exc))
    raise (TransientImportError if transient else ImportFailed)(message) from exc


# --- yt-dlp ------------------------------------------------------------------

def _address_refused(exc: BaseException) -> AddressRefused | None:
    """The connect-time refusal inside yt-dlp's wrapped network error, if that is what it is."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, AddressRefused):
            return exc
        exc, seen = getattr(exc, "cause", None) or exc.__cause__, seen + 1
    return None


class SafeYoutubeDL(YoutubeDL):
    """YoutubeDL whose every HTTP request, and every redirect hop, passes the
    SSRF guard (guarded_http), and that downloads only with its own client."""

    def __init__(self, params=None, *, allow_private: bool = False):
        self._allow_private = allow_private
        super().__init__(params)

    def build_request_director(self, handlers, preferences=None):
        return guarded_request_director(super().build_request_director, self._allow_private)

    def dl(self, name, info, subtitle=False, test=False):
        refuse_external_downloader(get_suitable_downloader(info, self.params, to_stdout=(name == "-")))
        return super().dl(name, info, subtitle=subtitle, test=test)

    def urlopen(self, req):
        url = req if isinstance(req, str) else getattr(req, "url", None) or req.get_full_url()
        check_url(url, allow_private=self._allow_private)
        try:
            response = super().urlopen(req)
        except RedirectRefused as exc:
            raise exc.unsafe from None
        except RequestError as exc:
            refused = _address_refused(exc)
            if refused is None:
                raise
            raise refused.unsafe from None
        final = getattr(response, "url", None)
        if final and final != url:
            try:
                check_url(final, allow_private=self._allow_private)
            except UnsafeURL:
                response.close()
                raise
        return response


class _Logger:
    def debug(self, msg):
        if not msg.startswith("[debug] "):
            log.debug(msg)

    def info(self, msg):
        log.debug(msg)

    def warning(self, msg):
        if "Falling back on generic" not in msg:
            log.info("yt-dlp: %s", msg)

    def error(self, msg):
        log.info("yt-dlp: %s", msg)


def _format_for(max_height: int) -> str:
    h = int(max_height)
    # Best video up to h with the best audio; else a single file up to h;
    # `?` lets formats of unknown height (direct links) through; finally the
    # smallest available video (rather than nothing); then audio-only sources.
    return f"bv*[height<=?{h}]+ba/b[height<=?{h}]/wv*+ba/w/ba/b*"


def _params(options: SourceOptions, **extra) -> dict:
    params = {
        "quiet": True, "no_warnings": True, "noprogress": True, "logger": _Logger(),
        "socket_timeout": 30, "retries": 3, "fragment_retries": 3,
        "extract_flat": "in_playlist", "cachedir": False,
        # a watch URL that carries &list= means that video; playlist URLs still expand
        "noplaylist": True,
        "format": _format_for(options.max_height),
        "format_sort": [f"res:{int(options.max_height)}", "ext:mp4:m4a"],
        "merge_output_format": "mp4", "continuedl": False, "overwrites": True,
        "restrictfilenames": True, "windowsfilenames": True,
    }
    if options.max_filesize:
        params["max_filesize"] = int(options.max_filesize)
    params.update(extra)
    return params


def _ydl(options: SourceOptions, **extra) -> SafeYoutubeDL:
    return SafeYoutubeDL(_params(options, **extra), allow_private=options.allow_private)


def is_playlist(info: dict) -> bool:
    return info.get("_type") in ("playlist", "multi_video")


def _looks_like_playlist(entry: dict) -> bool:
    ie = entry.get("ie_key") or ""
    return is_playlist(entry) or ie.endswith(("Tab", "Playlist", "Channel", "User"))


def url_id(url: str) -> str:
    """Stable id for sources that have none of their own (direct links)."""
    return url if len(url) <= 255 else "sha1:" + hashlib.sha1(url.encode()).hexdigest()


def video_key(info: dict, url: str = "") -> tuple[str, str]:
    """(extractor, external_id) used to dedupe videos across imports."""
    extractor = (info.get("extractor_key") or info.get("ie_key") or info.get("extractor") or "generic").lower()
    if extractor == "generic" or not info.get("id"):
        return "generic", url_id(info.get("webpage_url") or info.get("original_url") or info.get("url") or url)
    return extractor, str(info["id"])[:255]


def entry_url(entry: dict) -> str:
    return entry.get("webpage_url") or entry.get("original_url") or entry.get("url") or ""


def entries_from_info(info: dict, max_videos: int | None = None,
                      fetch: Callable[[str], dict] | None = None, depth: int = 0) -> list[Entry]:
    """Videos of a playlist/channel info dict (as yt-dlp's extract_flat gives it),
    in order, at most max_videos; nested playlists (channel tabs) are expanded
    with `fetch(url) -> info` when given."""
    if not is_playlist(info):
        return [_entry(info)]
    found: list[Entry] = []
    for raw in info.get("entries") or []:
        if max_videos is not None and len(found) >= max_videos:
            break
        if not raw:
            continue  # yt-dlp yields None for unavailable entries
        if _looks_like_playlist(raw):
            if depth >= 2:
                continue
            nested = raw if raw.get("entries") is not None else (fetch(entry_url(raw)) if fetch else None)
            if nested:
                left = None if max_videos is None else max_videos - len(found)
                found += entries_from_info(nested, left, fetch, depth + 1)
            continue
        found.append(_entry(raw))
    return found


def _entry(raw: dict) -> Entry:
    url = entry_url(raw)
    extractor, external_id = video_key(raw, url)
    return Entry(url=url, extractor=extractor, external_id=external_id, title=raw.get("title") or "",
                 duration=raw.get("duration"), channel=raw.get("channel") or raw.get("uploader") or "")


def metadata_from_info(info: dict, url: str = "") -> dict:
    """The Video fields yt-dlp knows about."""
    extractor, external_id = video_key(info, url)
    return {
        "extractor": extractor,
        "external_id": external_id,
        "title": (info.get("title") or "")[:500],
        "channel": (info.get("channel") or info.get("uploader") or "")[:255],
        "upload_date": (info.get("upload_date") or "")[:8],
        "license": (info.get("license") or "")[:255],
        "webpage_url": (info.get("webpage_url") or url)[:2000],
        "duration": info.get("duration"),
        "language": (info.get("language") or "")[:16],
    }


def check_duration(duration: float | None, max_duration: float | None):
    if duration and max_duration and duration > max_duration:
        raise ImportFailed(f"Too long: {format_seconds(duration)} (the limit is {format_seconds(max_duration)}).")


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def expand(url: str, options: SourceOptions) -> Expansion:
    """Videos at a URL: one for a video page, several for a playlist or channel.

    Uses yt-dlp's flat extraction so a 5000-video channel costs a few pages,
    not 5000 requests; `max_videos` stops early.
    """
    extra = {"playlistend": options.max_videos} if options.max_videos else {}
    try:
        check_url(url, allow_private=options.allow_private)
        with _ydl(options, **extra) as ydl:
            info = ydl.extract_info(url, download=False, process=True)
            if info is None:
                raise ImportFailed("Nothing found at this address.")
            info = ydl.sanitize_info(info)
            entries = entries_from_info(
                info, options.max_videos,
                fetch=lambda u: ydl.sanitize_info(ydl.extract_info(u, download=False, process=True)))
            return Expansion(entries, is_playlist(info), info.get("title") or "")
    except DownloadError as exc:
        _raise_for(exc)
    except UnsafeURL as exc:
        _raise_unsafe(exc)


def download(url: str, dest_dir: Path, options: SourceOptions,
             on_info: Callable[[dict], None] | None = None,
             progress: Callable[[float], None] | None = None) -> Downloaded:
    """Download one video into dest_dir (yt-dlp writes .part files and renames
    them when complete). Metadata is read first so too-long videos are refused
    before a byte of media is fetched; `on_info(metadata)` lets the caller
    dedupe or refuse too."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)

    def hook(d):
        if progress and d.get("status") == "downloading":
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            if total:
                progress(min(1.0, d.get("downloaded_bytes", 0) / total))

    params = {"outtmpl": {"default": "media.%(ext)s"}, "progress_hooks": [hook],
              "paths": {"home": str(dest_dir), "temp": str(dest_dir)}}
    try:
        check_url(url, allow_private=options.allow_private)
        with _ydl(options, **params) as ydl:
            info = ydl.extract_info(url, download=False, process=False)
            for _ in range(3):  # follow plain "see this other URL" results
                if not info or info.get("_type") != "url":
                    break
                check_url(info["url"], allow_private=options.allow_private)
                info = ydl.extract_info(info["url"], download=False, process=False, ie_key=info.get("ie_key"))
            if not info:
                raise ImportFailed("Nothing found at this address.")
            if is_playlist(info):
                raise ImportFailed("This is a playlist, not a single video.")
            metadata = metadata_from_info(info, url)
            check_duration(metadata["duration"], options.max_duration)
            if on_info:
                on_info(metadata)
            result = ydl.process_ie_result(info, download=True)
    except DownloadError as exc:
        _raise_for(exc)
    except UnsafeURL as exc:
        _raise_unsafe(exc)
    path = _downloaded_path(result or {}, dest_dir)
    if path is None:
        if options.max_filesize:
            raise ImportFailed("The file is larger than the upload size limit.")
        raise ImportFailed("The download produced no file.")
    metadata.update({k: v for k, v in metadata_from_info(result, url).items()
                     if v and k not in ("extractor", "external_id")})
    return Downloaded(path=path, metadata=metadata)


def _downloaded_path(result: dict, dest_dir: Path) -> Path | None:
    for item in result.get("requested_downloads") or []:
        path = Path(item.get("filepath") or "")
        if path.is_file():
            return path
    done = [p for p in dest_dir.glob("media.*") if p.is_file() and not p.name.endswith((".part", ".ytdl"))
            and ".f" not in p.suffixes[:-1]]
    return max(done, key=lambda p: p.stat().st_size) if done else None
