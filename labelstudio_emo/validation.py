"""Request input checked to what the database and the process can hold:
ids in the range of a 64-bit key, plain ASCII digits (str.isdigit accepts
"²"), bounded offsets and page sizes, JSON of bounded size and depth."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

DB_ID_MIN, DB_ID_MAX = 1, 2**63 - 1  # BigAutoField
MAX_OFFSET = 10**9
MAX_PAGE = 500
MAX_JSON_DEPTH = 32
_ASCII_INT = re.compile(r"[0-9]{1,19}")


def parse_id(text: str | None, field: str) -> int:
    """A database id from a query parameter, or ValidationError (400)."""
    text = (text or "").strip()
    if not _ASCII_INT.fullmatch(text) or not DB_ID_MIN <= int(text) <= DB_ID_MAX:
        raise ValidationError({field: f"an id: digits 0-9, between {DB_ID_MIN} and {DB_ID_MAX}"})
    return int(text)


def parse_ids(text: str | None, field: str, limit: int = MAX_PAGE) -> list[int] | None:
    """Comma-separated ids (None when absent); at most `limit` of them."""
    if not text:
        return None
    parts = [part for part in text.split(",") if part.strip()]
    if len(parts) > limit:
        raise ValidationError({field: f"at most {limit} ids"})
    return [parse_id(part, field) for part in parts]


def parse_count(text: str | None, field: str, default: int, maximum: int) -> int:
    """A non-negative integer query parameter up to `maximum` (offsets, limits)."""
    if text is None or text == "":
        return default
    if not _ASCII_INT.fullmatch(text.strip()) or int(text) > maximum:
        raise ValidationError({field: f"a whole number from 0 to {maximum}"})
    return int(text)


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """?limit= at most MAX_PAGE rows; a bad or huge ?offset= is a 400, not a 500."""

    max_limit = MAX_PAGE

    def get_limit(self, request):
        limit = parse_count(request.query_params.get(self.limit_query_param), "limit", self.default_limit,
                            10**9)
        return max(1, min(limit, self.max_limit))

    def get_offset(self, request):
        return parse_count(request.query_params.get(self.offset_query_param), "offset", 0, MAX_OFFSET)


def local_next(request, fallback: str) -> str:
    """The POSTed `next` if it stays on this site, else `fallback` (no open redirects)."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def json_depth_exceeds(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Iterative (no recursion of our own): True when containers nest deeper than `limit`."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size cap (API_MAX_JSON_BYTES) and a nesting
    cap: 100,000 nested brackets are a 400, not a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, "API_MAX_JSON_BYTES", 1024 * 1024)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"JSON body larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding)) if raw else None  # strict: no NaN
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(data):
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
