"""What a user asked to import: options and source lines (textarea or CSV).

Plain data and parsing only; services.py turns these into Video rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field

CSV_COLUMNS = ("url", "title", "speaker", "start", "end")


@dataclass
class ImportOptions:
    max_videos: int | None = None  # per playlist / channel
    max_duration: float | None = None  # seconds; None -> settings.IMPORT_MAX_DURATION_S
    max_height: int | None = None  # None -> settings.IMPORT_MAX_HEIGHT
    language: str = ""

    def resolved(self) -> "ImportOptions":
        from django.conf import settings
        return ImportOptions(
            max_videos=self.max_videos,
            max_duration=self.max_duration if self.max_duration else settings.IMPORT_MAX_DURATION_S,
            max_height=self.max_height or settings.IMPORT_MAX_HEIGHT,
            language=self.language or "",
        )

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}

    @classmethod
    def from_dict(cls, data: dict | None) -> "ImportOptions":
        data = data or {}
        return cls(**{k: data.get(k) for k in ("max_videos", "max_duration", "max_height")},
                   language=data.get("language") or "")


@dataclass
class SourceRequest:
    url: str
    title: str = ""
    speaker: str = ""
    start: float | None = None
    end: float | None = None
    line: int | None = field(default=None, compare=False)


def parse_time(text: str) -> float | None:
    """'', '12.5', '1:02', '1:02:03.5' -> seconds (None when blank)."""
    text = (text or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d+(\.\d+)?|(\d+:){1,2}\d{1,2}(\.\d+)?", text):
        raise ValueError(f"{text!r} is not a time (use seconds or h:mm:ss)")
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_url_lines(text: str) -> list[SourceRequest]:
    """One URL per line; blank lines and # comments skipped."""
    out = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(SourceRequest(url=line, line=number))
    return out


def parse_csv(text: str) -> tuple[list[SourceRequest], list[str]]:
    """CSV with a `url` column (optional title, speaker, start, end).

    A file without a header row is read in that column order. Returns the
    good rows and one message per bad row (bad rows are skipped, not fatal).
    """
    text = (text or "").lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return [], ["The CSV file is empty."]
    header = [c.strip().lower() for c in rows[0]]
    if "url" in header:
        columns, body, first_line = header, rows[1:], 2
    elif rows[0] and re.match(r"https?://", rows[0][0].strip(), re.I):
        columns, body, first_line = list(CSV_COLUMNS), rows, 1
    else:
        return [], ["The CSV file needs a 'url' column (header row: url,title,speaker,start,end)."]
    requests, errors = [], []
    for offset, row in enumerate(body):
        line = first_line + offset
        cells = {columns[i]: cell.strip() for i, cell in enumerate(row) if i < len(columns)}
        url = cells.get("url", "")
        if not url:
            errors.append(f"CSV row {line}: no url.")
            continue
        try:
            start, end = parse_time(cells.get("start", "")), parse_time(cells.get("end", ""))
        except ValueError as exc:
            errors.append(f"CSV row {line}: {exc}.")
            continue
        if start is not None and end is not None and end <= start:
            errors.append(f"CSV row {line}: end ({end:g}s) must be after start ({start:g}s).")
            continue
        requests.append(SourceRequest(url=url, title=cells.get("title", ""), speaker=cells.get("speaker", ""),
                                      start=start, end=end, line=line))
    return requests, errors
