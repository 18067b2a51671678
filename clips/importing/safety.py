"""SSRF guard: decide whether the server may fetch a URL, before any tool does.

Only http/https, and only hosts whose every resolved address is public
(no private, loopback, link-local, multicast or reserved ranges such as the
cloud metadata address 169.254.169.254). Tests and single-machine labs can
allow private networks with settings.IMPORT_ALLOW_PRIVATE_NETWORKS.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL must not be fetched; the message says why, for the user."""


class UnresolvableHost(UnsafeURL):
    """DNS gave no address; `transient` when the resolver itself failed (EAI_AGAIN)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


ALLOWED_SCHEMES = ("http", "https")


def _allow_private_default() -> bool:
    from django.conf import settings
    return bool(getattr(settings, "IMPORT_ALLOW_PRIVATE_NETWORKS", False))


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        raise UnresolvableHost(f"Host {host!r} cannot be resolved" + (" (DNS failure)." if transient else "."),
                               transient=transient) from exc
    except UnicodeError as exc:
        raise UnresolvableHost(f"Host {host!r} is not a valid host name.") from exc
    return sorted({info[4][0] for info in infos})


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def check_url(url: str, allow_private: bool | None = None, resolve: bool = True) -> str:
    """Return the URL stripped of blanks if it is safe to fetch, else raise UnsafeURL.

    resolve=False is the cheap check for a web request (scheme, host, literal
    addresses, no DNS); the import task checks again in full before fetching."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"Not a valid URL: {url[:100]}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"Only http and https links can be imported (got {scheme + ':' if scheme else 'no scheme'}).")
    host = parts.hostname
    if not host:
        raise UnsafeURL("The link has no host name.")
    if allow_private is None:
        allow_private = _allow_private_default()
    if allow_private or (not resolve and not _is_ip_literal(host)):
        return url
    addresses = [host] if _is_ip_literal(host) else resolve_host(host, port or (443 if scheme == "https" else 80))
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked:
        raise UnsafeURL(f"Refused: {host} points to a private or local network address ({blocked[0]}).")
    return url
