from urllib.parse import urlsplit

from django import template

register = template.Library()


@register.filter
def http_link(url: str) -> str:
    """The URL if it is http(s), else "" (a pasted `javascript:` line must never become a link)."""
    try:
        return url if url and urlsplit(url).scheme.lower() in ("http", "https") else ""
    except ValueError:
        return ""
