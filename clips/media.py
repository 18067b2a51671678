"""ffmpeg / ffprobe helpers: paths in, dataclasses out.

Pure functions (no Django, no Celery) so segmentation, benchmarks and tests
can use them alone. Every failure raises MediaError with a short message a
person can act on; ENOSPC surfaces as OSError so callers can say "disk full".
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

FFMPEG = os.environ.get("FFMPEG_BINARY", "ffmpeg")
FFPROBE = os.environ.get("FFPROBE_BINARY", "ffprobe")


# Before every input: ffmpeg/ffprobe may read local files and pipes, never a
# URL (http, ftp, rtmp, ...) that a playlist or container names.
INPUT_GUARD = ["-protocol_whitelist", "file,pipe"]
# Text formats that make ffmpeg open the other files or URLs they list:
# HLS and ffconcat playlists, DASH manifests, SMIL/PLS/ASX lists.
_PLAYLIST_STARTS = (b"#EXTM3U", b"#EXT-X-", b"ffconcat", b"<?xml", b"<MPD", b"<smil", b"[playlist]", b"<asx")
_PLAYLIST_FORMATS = {"hls", "applehttp", "concat", "dash", "webm_dash_manifest", "smil"}


class MediaError(Exception):
    """The file is not usable media (or ffmpeg could not process it)."""


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format_name: str = ""


# Container formats ffprobe reports for things that are not audio/video but
# still "decode" (a single picture, subtitles, plain text).
_NON_MEDIA_FORMATS = {"tty", "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif", "srt", "webvtt", "ass"}
_IMAGE_CODECS = {"png", "mjpeg", "bmp", "gif", "webp", "tiff"}


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:  # the binary itself is missing
        raise MediaError(f"{cmd[0]} is not installed") from exc
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] or ["unknown error"]
        if "No space left on device" in result.stderr:
            raise OSError(errno.ENOSPC, "No space left on device")
        raise MediaError(f"{what} failed: {tail[0][:200]}")
    return result


def _fps(rate: str | None) -> float | None:
    if not rate or rate in ("0/0", "0"):
        return None
    num, _, den = rate.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 3) if value > 0 else None


def ffprobe(path: str | os.PathLike, unreadable: str | None = None) -> dict:
    """ffprobe's JSON (format and streams) of a file: the one place ffprobe
    runs. MediaError when it is missing or cannot read the file (`unreadable`
    replaces the default message, which quotes ffprobe)."""
    try:
        result = subprocess.run([FFPROBE, "-v", "error", *INPUT_GUARD, "-print_format", "json", "-show_format",
                                 "-show_streams", str(path)], capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise MediaError("ffprobe is not installed") from exc
    if result.returncode != 0:
        raise MediaError(unreadable or f"ffprobe cannot read {Path(path).name}: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout or "{}")


def refuse_playlists(path: Path) -> None:
    """MediaError for playlists and manifests, judged by their first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.lower().startswith(tuple(start.lower() for start in _PLAYLIST_STARTS)):
        raise MediaError("A playlist or manifest, not a media file: upload the video itself")


def probe_media(path: str | os.PathLike) -> MediaInfo:
    """Streams and duration of a file, judged by its content (never its name).

    Raises MediaError("not a media file ...") for text, images, playlists and
    anything without a decodable audio or video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"File not found: {path.name}")
    refuse_playlists(path)
    data = ffprobe(path, unreadable="Not a video or audio file (ffprobe cannot read it)")
    fmt = data.get("format", {})
    format_name = fmt.get("format_name", "")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and s.get("codec_name") not in _IMAGE_CODECS
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if set(format_name.split(",")) & _PLAYLIST_FORMATS:
        raise MediaError("A playlist or manifest, not a media file: upload the video itself")
    if format_name in _NON_MEDIA_FORMATS or (video is None and audio is None):
        raise MediaError("Not a video or audio file (no audio or video stream)")
    duration = _duration(fmt, video, audio)
    if duration <= 0:
        raise MediaError("Not a video or audio file (zero duration)")
    return MediaInfo(
        duration=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        fps=_fps(video.get("avg_frame_rate") or video.get("r_frame_rate")) if video else None,
        width=int(video["width"]) if video and video.get("width") else None,
        height=int(video["height"]) if video and video.get("height") else None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        format_name=format_name,
    )


def _duration(fmt: dict, *streams) -> float:
    for value in (fmt.get("duration"), *[s.get("duration") for s in streams if s]):
        try:
            if value is not None and float(value) > 0:
                return round(float(value), 3)
        except ValueError:
            continue
    return 0.0


def extract_audio(src: str | os.PathLike, dst_wav: str | os.PathLike, rate: int = 16000,
                  start: float | None = None, end: float | None = None) -> Path:
    """First audio stream -> mono PCM16 WAV at `rate` Hz (optionally a time range)."""
    dst_wav = Path(dst_wav)
    dst_wav.parent.mkdir(parents=True, exist_ok=True)
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += [*INPUT_GUARD, "-i", str(src)]
    if end is not None:
        cmd += ["-t", f"{end - (start or 0.0):.3f}"]
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(rate),
            "-c:a", "pcm_s16le", "-f", "wav", str(dst_wav)]
    _run(cmd, "audio extraction")
    return dst_wav


def cut_audio(src_wav: str | os.PathLike, dst_wav: str | os.PathLike, start: float, end: float) -> Path:
    """Sample-accurate slice [start, end) of a WAV, kept at its rate, mono PCM16."""
    if end <= start:
        raise MediaError(f"empty range {start:.3f}-{end:.3f}")
    dst_wav = Path(dst_wav)
    dst_wav.parent.mkdir(parents=True, exist_ok=True)
    _run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *INPUT_GUARD, "-i", str(src_wav),
          "-af", f"atrim=start={start:.4f}:end={end:.4f},asetpts=PTS-STARTPTS",
          "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", str(dst_wav)], "audio cut")
    return dst_wav


def trim_media(src: str | os.PathLike, dst: str | os.PathLike, start: float | None, end: float | None,
               info: MediaInfo | None = None) -> Path:
    """Keep only [start, end] of a video or audio file, re-encoded so the cut is
    frame-accurate (a stream copy would snap to keyframes)."""
    info = info or probe_media(src)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if start:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += [*INPUT_GUARD, "-i", str(src)]
    if end is not None:
        cmd += ["-t", f"{end - (start or 0.0):.3f}"]
    if info.has_video:
        cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
    if info.has_audio:
        cmd += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "160k"]
    cmd += [str(dst)]
    _run(cmd, "trimming")
    return dst


# What Chromium/Firefox play natively in <video>: annotators loop segments of
# the stored file, so anything else is re-encoded once at import.
BROWSER_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
BROWSER_VIDEO_CODECS = {"h264", "vp8", "vp9", "av1"}
BROWSER_AUDIO_CODECS = {"aac", "mp3", "opus", "vorbis", "flac"}


def is_browser_playable(info: MediaInfo) -> bool:
    """True when a browser's <video> can play the file as it is (audio-only
    files are played from their 16 kHz WAV, so they always pass)."""
    if not info.has_video:
        return True
    return (info.format_name in BROWSER_CONTAINERS
            and info.video_codec in BROWSER_VIDEO_CODECS
            and (not info.has_audio or info.audio_codec in BROWSER_AUDIO_CODECS))


def is_wav_16k_mono(path: str | os.PathLike) -> bool:
    info = probe_media(path)
    return info.format_name == "wav" and info.sample_rate == 16000 and info.channels == 1
