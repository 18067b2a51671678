"""Text from outside (yt-dlp titles, channels, licences, names) made inert
where we write it into files other programs interpret: spreadsheets (CSV
formula injection) and Markdown/HTML (the export's dataset card)."""

import html
import re
from urllib.parse import quote, urlsplit

# A spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters with a meaning in CommonMark (and GitHub's tables) outside code.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def spreadsheet_cell(value):
    """A CSV cell that opens as text: strings starting like a formula get a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def markdown_text(value) -> str:
    """Metadata shown as literal text in Markdown: no HTML, links, emphasis or
    table breaks; one line."""
    text = " ".join(str(value or "").split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def http_url(value) -> str:
    """The URL if it is http(s) with a host, percent-encoded so it cannot end a
    Markdown link early; else ""."""
    url = str(value or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url, safe=":/?#@!$&*+,;=%~-._")


def markdown_link(text, url) -> str:
    """[text](url) for http(s) URLs, plain escaped text otherwise."""
    label, target = markdown_text(text), http_url(url)
    return f"[{label}]({target})" if target else label
