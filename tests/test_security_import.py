"""Probe 2: no SSRF through redirects, no playlists that make ffmpeg open
other files or URLs."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clips import media
from clips.importing import safety
from clips.importing.safety import UnsafeURL
from clips.importing.sources import ImportFailed, SafeYoutubeDL, SourceOptions, download, expand
from tests.import_helpers import *  # noqa: F401,F403

pytestmark = pytest.mark.security


class _Servers:
    """"public" at 127.0.0.1 redirects; "internal" at 127.0.0.2 must never be asked."""

    def __init__(self):
        self.internal_hits = []
        hits = self.internal_hits

        class Internal(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"secret")

            def log_message(self, *args):
                pass

        self.internal = ThreadingHTTPServer(("127.0.0.2", 0), Internal)
        internal_url = f"http://127.0.0.2:{self.internal.server_address[1]}"

        class Public(BaseHTTPRequestHandler):
            def do_GET(self):
                hops = int(self.path.strip("/").split("/")[-1] or 0)
                target = f"/hop/{hops - 1}" if hops > 1 else f"{internal_url}/latest/meta-data"
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.public = ThreadingHTTPServer(("127.0.0.1", 0), Public)
        self.base = f"http://127.0.0.1:{self.public.server_address[1]}"
        for server in (self.internal, self.public):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self):
        for server in (self.internal, self.public):
            server.shutdown()


@pytest.fixture
def servers(monkeypatch):
    # 127.0.0.1 plays a public host; 127.0.0.2 stays loopback (internal)
    monkeypatch.setattr(safety, "is_public_address",
                        lambda address, real=safety.is_public_address: address == "127.0.0.1" or real(address))
    servers = _Servers()
    yield servers
    servers.close()


@pytest.mark.parametrize("hops", [1, 3])
def test_redirect_to_an_internal_address_is_refused_before_it_is_sent(servers, hops):
    with SafeYoutubeDL({"quiet": True}, allow_private=False) as ydl:
        with pytest.raises(UnsafeURL, match="private or local"):
            ydl.urlopen(f"{servers.base}/hop/{hops}")
    assert servers.internal_hits == []


@pytest.mark.parametrize("step", ["expand", "download"])
def test_import_through_a_redirect_fails_clearly_and_permanently(servers, tmp_path, step):
    url = f"{servers.base}/hop/2"
    with pytest.raises(ImportFailed, match="private or local") as err:
        expand(url, SourceOptions()) if step == "expand" else download(url, tmp_path, SourceOptions())
    assert type(err.value) is ImportFailed  # not retried as a network error
    assert servers.internal_hits == []


def test_allowed_redirects_are_still_followed(media_server, allow_private):
    with SafeYoutubeDL({"quiet": True}, allow_private=True) as ydl:
        assert ydl.urlopen(media_server.url("talk.mp4")).status == 200


@pytest.mark.parametrize("content", [
    "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n",
    "ffconcat version 1.0\nfile '{target}'\n",
    "\ufeff#EXTM3U\n#EXTINF:10,\n{target}\n",
])
def test_playlists_are_refused_before_ffmpeg_opens_what_they_name(tmp_path, import_media, content):
    target = import_media / "talk.mp4"
    upload = tmp_path / "innocent.mp4"
    upload.write_text(content.format(target=target))
    with pytest.raises(media.MediaError, match="playlist"):
        media.probe_media(upload)


def test_ffmpeg_and_ffprobe_may_open_only_local_files():
    assert media.INPUT_GUARD[:2] == ["-protocol_whitelist", "file,pipe"]


@pytest.mark.django_db
def test_uploaded_playlist_is_refused_over_http(staff_client, import_media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from clips.models import Video
    playlist = f"#EXTM3U\n#EXTINF:3,\n{import_media / 'talk.mp4'}\n#EXT-X-ENDLIST\n".encode()
    response = staff_client.post("/import/", {"files": SimpleUploadedFile("list.m3u8", playlist),
                                              "max_height": 720}, follow=True)
    assert response.status_code == 200
    assert "playlist or manifest" in response.content.decode()
    assert not Video.objects.exists()


@pytest.fixture
def rebinding_host(servers, monkeypatch):
    """rebind.test resolves to the "public" 127.0.0.1 for the check, then to the internal 127.0.0.2."""
    real = safety.socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        return real(next(answers, "127.0.0.2"), port, *args, **kwargs)

    monkeypatch.setattr(safety.socket, "getaddrinfo", getaddrinfo)
    return f"http://rebind.test:{servers.internal.server_address[1]}/latest/meta-data"


def test_a_host_that_rebinds_to_an_internal_address_is_refused_at_connect(servers, rebinding_host, tmp_path):
    with SafeYoutubeDL({"quiet": True}, allow_private=False) as ydl:
        with pytest.raises(UnsafeURL, match="private or local"):
            ydl.urlopen(rebinding_host)
    with pytest.raises(ImportFailed, match="private or local") as err:
        download(rebinding_host, tmp_path, SourceOptions())
    assert type(err.value) is ImportFailed
    assert servers.internal_hits == []
