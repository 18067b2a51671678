"""yt-dlp's HTTP client with the SSRF guard on every hop.

yt-dlp follows redirects inside its request handlers, so checking the URL
before and after `urlopen` is too late: the GET to the redirect target has
already been sent. Here the only handler yt-dlp may use is its urllib one with
a redirect handler that runs `check_url` on each Location before following it,
and downloads run only through yt-dlp's native downloaders (which use that
client), never an external program such as ffmpeg or curl fetching URLs itself.

Checking names before the request is not enough either: a host can resolve to
a public address for the check and to 127.0.0.1 a moment later, when the
connection resolves it again (DNS rebinding). So the socket itself refuses a
private address, at connect time, on every hop.
"""

from __future__ import annotations

import functools
import http.client
import socket
import urllib.request

from yt_dlp.downloader.external import ExternalFD
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH
from yt_dlp.networking.exceptions import RequestError

from . import safety
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


class AddressRefused(OSError):
    """The connection resolved to a private address; `unsafe` says why, for the user."""

    def __init__(self, unsafe: UnsafeURL):
        super().__init__(str(unsafe))
        self.unsafe = unsafe


def _connect_public_only(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection that refuses private addresses (http.client's hook signature)."""
    host, port = address
    error = None
    for family, kind, proto, _name, target in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if not safety.is_public_address(target[0]):  # looked up at call time: tests stand a loopback in for a public host
            raise AddressRefused(UnsafeURL(f"Refused: {host} resolved to a private or local network address "
                                           f"({target[0]}) when connecting."))
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(target)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host} has no address")


class PublicOnlyConnections(urllib.request.AbstractHTTPHandler):
    """Opens http/https connections whose sockets refuse private addresses.

    Asked before yt-dlp's HTTPHandler (lower handler_order), which still adds
    headers and decodes responses. Requests through a configured proxy are
    left to yt-dlp: the proxy, not this process, resolves and connects."""

    handler_order = HTTPHandler.handler_order - 1

    def __init__(self, context, source_address):
        super().__init__()
        self._context = context
        self._source_address = source_address

    def _connection(self, http_class, *args, **kwargs):
        connection = http_class(*args, **kwargs)
        connection._create_connection = _connect_public_only
        if self._source_address is not None:
            connection.source_address = (self._source_address, 0)
        return connection

    @staticmethod
    def _through_proxy(req) -> bool:
        return bool(req.headers.get("Ytdl-socks-proxy") or req.has_proxy() or getattr(req, "_tunnel_host", None))

    def http_open(self, req):
        if self._through_proxy(req):
            return None
        return self.do_open(functools.partial(self._connection, http.client.HTTPConnection), req)

    def https_open(self, req):
        if self._through_proxy(req):
            return None
        return self.do_open(functools.partial(self._connection, http.client.HTTPSConnection), req,
                            context=self._context)


class GuardedUrllibRH(UrllibRH):
    RH_KEY = "Urllib"  # yt-dlp looks the urllib handler up by this key
    RH_NAME = "urllib (redirects checked)"
    allow_private = False

    def _create_instance(self, proxies, cookiejar, legacy_ssl_support=None):
        opener = super()._create_instance(proxies, cookiejar, legacy_ssl_support)
        opener.add_handler(CheckedRedirectHandler(self.allow_private))
        if not self.allow_private:
            yt_dlp_http = next(h for h in opener.handlers if isinstance(h, HTTPHandler))
            opener.add_handler(PublicOnlyConnections(yt_dlp_http._context, yt_dlp_http._source_address))
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
