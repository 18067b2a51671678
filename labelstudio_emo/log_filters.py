"""Logging filters (settings.LOGGING)."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404


class PlainRefusal(logging.Filter):
    """A 403 or 404 raised on purpose is an answer, not a crash: keep the one
    log line ("Forbidden (Permission denied): /path") without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], (PermissionDenied, Http404)):
            record.exc_info = None
            record.exc_text = None
        return True
