"""Fixtures for the import tests: generated media served over local HTTP.

YouTube is unreachable here, so yt-dlp's generic extractor downloads direct
media links (and RSS feeds as playlists) from a server on 127.0.0.1.
Import these fixtures into a test module with
`from tests.import_helpers import *  # noqa: F401,F403`.
"""

import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

__all__ = ["import_media", "media_server", "allow_private", "handoffs", "make_video", "make_silent_video",
           "make_tone"]


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_video(path: Path, seconds: float = 3.0, audio: bool = True, size="320x240") -> Path:
    """testsrc2 picture (+ 440 Hz tone), H.264/AAC MP4."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
                 "-c:a", "aac", "-ac", "2"]
    _ffmpeg(*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path))
    return path


def make_silent_video(path: Path, seconds: float = 2.0) -> Path:
    return make_video(path, seconds, audio=False)


def make_tone(path: Path, seconds: float = 2.5) -> Path:
    """Audio-only source (stereo 44.1 kHz, so the WAV really is converted)."""
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=44100:duration={seconds}", "-ac", "2", str(path))
    return path


RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Test channel</title><link>{base}/</link>
{items}
</channel></rss>"""
ITEM = "<item><title>{title}</title><link>{base}/{name}</link><enclosure url=\"{base}/{name}\" type=\"video/mp4\"/></item>"


@pytest.fixture(scope="session")
def import_media(tmp_path_factory):
    root = tmp_path_factory.mktemp("import_media")
    make_video(root / "talk.mp4", 3.0)
    make_video(root / "talk2.mp4", 2.0)
    make_video(root / "talk3.mp4", 2.4)
    make_silent_video(root / "silent.mp4", 2.0)
    make_tone(root / "tone.wav", 2.5)
    (root / "notes.mp4").write_text("this is a text file with a video name\n" * 20)
    return root


class _QuietHandler(SimpleHTTPRequestHandler):
    # /flaky/<name>: HTTP 503 the first time, the file afterwards (transient error)
    # /slow/<name>: the file, trickled out (to kill a worker mid-download)
    flaky_seen: set = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/flaky/"):
            if self.path not in self.flaky_seen:
                self.flaky_seen.add(self.path)
                self.send_error(503, "try again")
                return
            self.path = self.path[len("/flaky"):]
        if self.path.startswith("/slow/"):
            return self._slow(self.path[len("/slow"):])
        return super().do_GET()

    def _slow(self, path):
        file = Path(self.directory) / path.lstrip("/")
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = max(1, len(data) // 20)
        try:
            for i in range(0, len(data), step):  # about 6 s in all
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass


class MediaServer:
    def __init__(self, root: Path):
        self.root = root
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def feed(self, name: str, videos: list[str]) -> str:
        """An RSS feed listing `videos`: yt-dlp reads it as a playlist."""
        items = "\n".join(ITEM.format(base=self.base, name=v, title=Path(v).stem) for v in videos)
        (self.root / name).write_text(RSS.format(base=self.base, items=items))
        return self.url(name)


@pytest.fixture(scope="session")
def media_server(import_media):
    server = MediaServer(import_media)
    yield server
    server.httpd.shutdown()


@pytest.fixture
def allow_private(settings):
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def handoffs(monkeypatch):
    """Record hand-offs to segmentation instead of running it (it is another
    issue's work and slow); import tests assert exactly what import does."""
    calls = []
    monkeypatch.setattr("clips.importing.services.hand_off_to_segmentation", calls.append)
    return calls
