"""Small ffmpeg/soundfile helpers for segmentation (pure: files in, arrays out).

Frames are streamed from an ffmpeg pipe, one at a time, already sampled and
downscaled by ffmpeg, so memory stays bounded whatever the video's length.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from clips.media import FFMPEG, INPUT_GUARD, MediaError, ffprobe


@dataclass(frozen=True)
class StreamInfo:
    duration: float
    fps: float
    width: int
    height: int
    has_video: bool
    has_audio: bool
    audio_codec: str = ""


def probe(path: str | Path) -> StreamInfo:
    """What segmentation needs of a file, sizes as ffmpeg decodes it (rotation applied).

    Remembered per file version (path, size, modification time, inode): each stage,
    the proxy and the pure functions it calls ask about the same files, and every
    ffprobe costs a process start (~0.15 s)."""
    try:
        stat = os.stat(path)
    except OSError:
        return _probe(str(path))  # ffprobe says what is wrong
    return _probe_version(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=64)
def _probe_version(path: str, _size: int, _mtime_ns: int, _inode: int) -> StreamInfo:
    return _probe(path)


def _probe(path: str) -> StreamInfo:
    data = ffprobe(path)
    streams = data.get("streams", [])
    # Cover art (attached_pic) is not a video.
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(data.get("format", {}).get("duration") or 0.0)
    if not duration:
        duration = max((float(s.get("duration") or 0.0) for s in streams), default=0.0)
    width = height = 0
    fps = 0.0
    if video:
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
        if _rotation(video) in (90, 270):
            width, height = height, width  # ffmpeg auto-rotates the decoded frames
        num, _, den = (video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1").partition("/")
        fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    return StreamInfo(duration=duration, fps=fps, width=width, height=height,
                      has_video=bool(video and width and height), has_audio=audio is not None,
                      audio_codec=str((audio or {}).get("codec_name") or ""))


def _rotation(stream: dict) -> int:
    rotate = stream.get("tags", {}).get("rotate")
    if rotate is None:
        for side in stream.get("side_data_list", []):
            if "rotation" in side:
                rotate = side["rotation"]
    try:
        return abs(int(float(rotate or 0))) % 360
    except ValueError:
        return 0


def scaled_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Even-sized (ffmpeg-friendly) frame size no wider than max_width, never upscaled."""
    if not max_width or width <= max_width:
        w, h = width, height
    else:
        w, h = max_width, round(height * max_width / width)
    return max(2, w - w % 2), max(2, h - h % 2)


CHANNELS = {"rgb24": 3, "bgr24": 3, "gray": 1}


# The proxy: every frame of the video (same timestamps), downscaled, in a codec that is cheap
# to write and to decode (MPEG-4 part 2 at its finest quantiser: at 640x360 it costs ~0.4 ms a
# frame to read; x264 ultrafast, intra-only MPEG-4 and MJPEG cost as much to write and more to
# read). Without motion search (each block coded against the same place in the frame before)
# writing costs ~0.7 ms a frame less, and the file ~10 % more. The later stages read it
# instead of decoding the source again.
PROXY_VIDEO = ["-c:v", "mpeg4", "-q:v", "2", "-motion_est", "zero", "-pix_fmt", "yuv420p", "-fps_mode", "vfr",
               "-sn", "-dn", "-f", "mp4"]
# The first audio stream goes along so that the file starts where the source does: frame i / fps
# is then the same picture in both even when the video stream starts late (without it, Hamilton's
# proxy ran 0.83 s early). Copied where MP4 takes the codec, else a tiny AAC (32k AAC of a
# minute of audio costs ~1.7 s, 8 kHz mono a third of that, a copy nothing).
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac"}


def proxy_args(info: StreamInfo, size: tuple[int, int]) -> tuple[list[str], list[str]]:
    """(input options, output options) that write the proxy of a video at `size`."""
    audio = ["-map", "0:a:0?"] + (["-c:a", "copy"] if info.audio_codec in MP4_AUDIO else
                                  ["-c:a", "aac", "-ac", "1", "-ar", "8000", "-b:a", "16k"])
    # Deblocking costs H.264 decoding about a quarter of its time; at two thirds of the width or
    # less the downscale averages away most of the block edges it would smooth.
    fast = ["-skip_loop_filter", "all"] if info.width >= 1.5 * size[0] else []
    return fast, audio + PROXY_VIDEO


def iter_frames(path: str | Path, fps: float, size: tuple[int, int], gray: bool = False,
                pix_fmt: str = "rgb24", crop: tuple[int, int, int, int] | None = None,
                proxy: tuple[Path, tuple[int, int], StreamInfo] | None = None
                ) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time, RGB frame) at `fps`, scaled to `size` = (width, height);
    with gray=True, (height, width) grey-level frames (a third of the bytes);
    pix_fmt="bgr24" for OpenCV's channel order; crop = (x, y, w, h), even, the
    part of the frame (source pixels) that is scaled to `size`.
    proxy = (file, (width, height), probe(path)): the same decode also writes
    the proxy there (complete only once every frame has been read).

    Frame i is at i / fps seconds: ffmpeg's fps filter picks the source frame
    nearest each tick, so timestamps line up across passes over the same file
    (and its proxy, which keeps every frame's timestamp).
    """
    w, h = size
    pix_fmt = "gray" if gray else pix_fmt
    channels = CHANNELS[pix_fmt]
    region = f"crop={crop[2]}:{crop[3]}:{crop[0]}:{crop[1]}," if crop else ""
    frames = f"fps={fps},{region}scale={w}:{h}:flags=area"
    before = []
    if proxy:
        (pw, ph) = proxy[1]
        before, write = proxy_args(proxy[2], proxy[1])
        # Scaled once to the proxy's size; the analysis frames are made from that.
        graph = f"[0:v]scale={pw}:{ph}:flags=area,split=2[p][a];[a]{frames}[f]"
        outputs = ["-filter_complex", graph, "-map", "[f]", "-pix_fmt", pix_fmt, "-f", "rawvideo", "-",
                   "-map", "[p]", *write, "-y", str(proxy[0])]
    else:
        outputs = ["-an", "-sn", "-dn", "-vf", frames, "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]
    cmd = [FFMPEG, "-v", "error", "-nostdin", *INPUT_GUARD, *before, "-i", str(path), *outputs]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=w * h * channels * 2)
    frame_bytes = w * h * channels
    shape = (h, w) if channels == 1 else (h, w, channels)
    index, complete = 0, False
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                complete = True
                break
            yield index / fps, np.frombuffer(buf, np.uint8).reshape(shape)
            index += 1
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = proc.wait()
        if proxy and (code or not complete):
            Path(proxy[0]).unlink(missing_ok=True)  # never a partial proxy
        if code not in (0, -13, 255) and index == 0:  # -13/255: we stopped reading early
            raise MediaError(f"ffmpeg cannot decode {Path(path).name}: {stderr.strip()[-300:]}")


def write_proxy(src: str | Path, dst: str | Path, size: tuple[int, int]) -> Path:
    """The proxy of `src` at `size`, alone (when the scenes pass's copy is missing);
    written beside `dst` and renamed, so a killed run leaves no partial file there."""
    dst = Path(dst)
    part = dst.with_name(dst.name + ".part")
    before, write = proxy_args(probe(src), size)
    cmd = [FFMPEG, "-v", "error", "-nostdin", *INPUT_GUARD, *before, "-i", str(src),
           "-filter_complex", f"[0:v]scale={size[0]}:{size[1]}:flags=area[p]", "-map", "[p]", *write,
           "-y", str(part)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        part.unlink(missing_ok=True)
        raise MediaError(f"ffmpeg cannot decode {Path(src).name}: {done.stderr.strip()[-300:]}")
    part.replace(dst)
    return dst


def proxy_scale(video: StreamInfo, proxy: str | Path | None) -> float:
    """Proxy pixels per source pixel (1.0 without a proxy)."""
    return probe(proxy).width / video.width if proxy else 1.0


def proxy_region(region: tuple[int, int, int, int], scale: float, width: int, height: int
                 ) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the source-pixel `region` in a proxy `scale` times the size of a
    width x height video: even (4:2:0 crops), covering it, inside the proxy."""
    pw, ph = scaled_size(width, height, round(width * scale)) if scale < 1 else (width, height)
    x, y, w, h = region
    return even_region(x * scale, y * scale, (x + w) * scale, (y + h) * scale, pw, ph)


def even_region(x0: float, y0: float, x1: float, y1: float, width: int, height: int
                ) -> tuple[int, int, int, int]:
    """(x, y, w, h) covering [x0, x1] x [y0, y1] inside a width x height frame, with
    even corners and sides (ffmpeg crops 4:2:0 pictures on even pixels)."""
    x, y = max(0, int(np.floor(x0)) & ~1), max(0, int(np.floor(y0)) & ~1)
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    w, h = max(2, (right - x) & ~1), max(2, (bottom - y) & ~1)
    return x, y, min(w, width - x), min(h, height - y)


def wav_info(path: str | Path) -> tuple[int, int]:
    """(sample rate, number of samples)."""
    info = sf.info(str(path))
    return info.samplerate, info.frames


def read_wav(path: str | Path, start: float = 0.0, end: float | None = None) -> tuple[np.ndarray, int]:
    """int16 mono samples between start and end (s), read without loading the rest."""
    rate, frames = wav_info(path)
    first = max(0, int(round(start * rate)))
    last = frames if end is None else min(frames, int(round(end * rate)))
    data, rate = sf.read(str(path), start=first, stop=max(first, last), dtype="int16", always_2d=True)
    return data.mean(axis=1).astype(np.int16) if data.shape[1] > 1 else data[:, 0], rate


def cut_wav(src: str | Path, start: float, end: float) -> bytes:
    """WAV bytes of src between start and end, sample-exact (same rate, PCM16)."""
    import io
    samples, rate = read_wav(src, start, end)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()
