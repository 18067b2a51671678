"""SSRF guard: only http(s) to public hosts reaches yt-dlp, unless the lab
explicitly allows private networks."""

import socket

import pytest

from clips.importing.safety import UnsafeURL, check_url
from tests.import_helpers import *  # noqa: F401,F403


def _resolve_to(monkeypatch, mapping):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):  # DNS is the edge of the world here
        if host in mapping:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (mapping[host], port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr("clips.importing.safety.socket.getaddrinfo", fake)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.mp4", "javascript:alert(1)",
                                 "gopher://example.com/", "example.com/video", "http:///nohost"])
def test_only_http_and_https_links_are_accepted(url):
    with pytest.raises(UnsafeURL) as err:
        check_url(url, allow_private=False)
    assert "http" in str(err.value) or "host" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x.mp4", "http://localhost/x.mp4", "http://[::1]/x.mp4",
                                 "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/",
                                 "http://192.168.1.10/v.mp4"])
def test_loopback_link_local_and_private_hosts_are_refused(url):
    with pytest.raises(UnsafeURL, match="private or local"):
        check_url(url, allow_private=False)


def test_hostname_resolving_to_a_private_address_is_refused(monkeypatch):
    _resolve_to(monkeypatch, {"intranet.example.org": "10.1.2.3", "cdn.example.org": "93.184.216.34"})
    with pytest.raises(UnsafeURL, match=r"intranet.example.org .*10\.1\.2\.3"):
        check_url("https://intranet.example.org/talk.mp4", allow_private=False)
    assert check_url(" https://cdn.example.org/talk.mp4 ", allow_private=False) == "https://cdn.example.org/talk.mp4"


def test_the_setting_allows_private_networks(settings):
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(UnsafeURL):
        check_url("http://127.0.0.1/x.mp4")
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    assert check_url("http://127.0.0.1/x.mp4")
    with pytest.raises(UnsafeURL):  # schemes stay restricted even then
        check_url("file:///etc/passwd")


@pytest.mark.django_db
def test_refused_url_becomes_a_failed_video_and_nothing_is_downloaded(settings, media_server, handoffs):
    from clips.importing.inputs import ImportOptions, SourceRequest
    from clips.importing.services import submit_url
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = False
    video = submit_url(SourceRequest(media_server.url("talk.mp4")), ImportOptions())
    video.refresh_from_db()
    assert video.status == "failed"
    assert "private or local network" in video.error
    assert not video.file and handoffs == []
    assert not (settings.MEDIA_ROOT / "videos").exists()


def test_every_request_yt_dlp_makes_is_checked(media_server):
    """Extractors fetch further URLs (APIs, media, redirects): each one passes
    the guard again, not only the URL the user typed."""
    from clips.importing.sources import SafeYoutubeDL
    with SafeYoutubeDL({"quiet": True}, allow_private=False) as ydl:
        with pytest.raises(UnsafeURL, match="private or local"):
            ydl.urlopen(media_server.url("talk.mp4"))
        with pytest.raises(UnsafeURL):
            ydl.extract_info(media_server.url("talk.mp4"), download=False)
    with SafeYoutubeDL({"quiet": True}, allow_private=True) as ydl:
        assert ydl.urlopen(media_server.url("talk.mp4")).status == 200


def test_unknown_hosts_fail_and_dns_outages_are_retried(monkeypatch):
    from clips.importing.safety import UnresolvableHost
    from clips.importing.sources import ImportFailed, SourceOptions, TransientImportError, expand
    failure = {}

    def resolver(host, port, *args, **kwargs):
        raise socket.gaierror(failure["errno"], "resolver says no")
    monkeypatch.setattr("clips.importing.safety.socket.getaddrinfo", resolver)
    failure["errno"] = socket.EAI_AGAIN  # resolver down for a moment
    with pytest.raises(UnresolvableHost) as err:
        check_url("https://www.youtube.com/watch?v=x", allow_private=False)
    assert err.value.transient
    with pytest.raises(TransientImportError):
        expand("https://www.youtube.com/watch?v=x", SourceOptions())
    failure["errno"] = socket.EAI_NONAME  # no such host: a permanent, clear failure
    with pytest.raises(ImportFailed, match="cannot be resolved") as err:
        expand("https://no-such-host.example/x.mp4", SourceOptions())
    assert not isinstance(err.value, TransientImportError)
