"""yt-dlp's HTTP client with the SSRF guard on every hop.

yt-dlp follows redirects inside its request handlers, so checking the URL
before and after `urlopen` is too late: the GET to the redirect target has
already been sent. Here the only handler yt-dlp may use is its urllib one with
a redirect handler that runs `check_url` on each Location before following it,
and downloads run only through yt-dlp's native downloaders (which use that
client), never an external program such as ffmpeg or curl fetching URLs itself.
"""

from __future__ import annotations

from yt_dlp.downloader.external import ExternalFD
from yt_dlp.networking._urllib import RedirectHandler, UrllibRH
from yt_dlp.networking.exceptions import RequestError

from .safety import UnsafeURL, check_url


class RedirectRefused(RequestError):
    """A redirect pointed somewhere the guard refuses; `unsafe` says why."""

    def __init__(self, unsafe: UnsafeURL):
        super().__init__(str(unsafe))
        self.unsafe = unsafe


class CheckedRedirectHandler(RedirectHandler):
    handler_order = RedirectHandler.handler_order - 100  # asked before yt-dlp's own, which never runs

    def __init__(self, allow_private: bool):
        super().__init__()
        self.allow_private = allow_private

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            check_url(newurl, allow_private=self.allow_private)
        except UnsafeURL as exc:
            fp.close()
            raise RedirectRefused(exc) from exc
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class GuardedUrllibRH(UrllibRH):
    RH_KEY = "Urllib"  # yt-dlp looks the urllib handler up by this key
    RH_NAME = "urllib (redirects checked)"
    allow_private = False

    def _create_instance(self, proxies, cookiejar, legacy_ssl_support=None):
        opener = super()._create_instance(proxies, cookiejar, legacy_ssl_support)
        opener.add_handler(CheckedRedirectHandler(self.allow_private))
        return opener


def guarded_request_director(build, allow_private: bool):
    """`build(handlers, preferences)` is YoutubeDL.build_request_director."""
    director = build([GuardedUrllibRH], None)
    director.handlers[GuardedUrllibRH.RH_KEY].allow_private = allow_private
    return director


def refuse_external_downloader(fd_class) -> None:
    """ffmpeg, curl, aria2c... would fetch URLs (and follow redirects) unguarded."""
    if issubclass(fd_class, ExternalFD):
        raise UnsafeURL("This source needs an external downloader, which is not allowed here.")
