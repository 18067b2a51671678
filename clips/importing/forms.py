"""The Import page form (options + sources) and the upload size guard."""

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from .inputs import ImportOptions, parse_url_lines

HEIGHTS = [(240, "240p"), (360, "360p"), (480, "480p"), (720, "720p"), (1080, "1080p")]
MAX_CSV_BYTES = 2 * 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class ImportForm(forms.Form):
    urls = forms.CharField(
        required=False, label="Links (one per line)",
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "https://www.youtube.com/watch?v=...\n"
                                     "https://www.youtube.com/playlist?list=...\nhttps://www.youtube.com/@channel"}))
    csv_file = forms.FileField(required=False, label="CSV list (url, title, speaker, start, end)")
    files = MultipleFileField(required=False, label="Upload video or audio files")
    max_videos = forms.IntegerField(required=False, min_value=1, max_value=5000,
                                    label="Max videos per playlist / channel")
    max_duration_minutes = forms.FloatField(required=False, min_value=0.1, label="Max duration (minutes)")
    max_height = forms.TypedChoiceField(choices=HEIGHTS, coerce=int, label="Max height")
    language = forms.CharField(required=False, max_length=16, label="Language tag (e.g. en, de-AT)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["max_height"].initial = settings.IMPORT_MAX_HEIGHT
        self.fields["max_duration_minutes"].widget.attrs["placeholder"] = f"{settings.IMPORT_MAX_DURATION_S / 60:g}"

    def clean_language(self):
        value = self.cleaned_data["language"].strip()
        if value and not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", value):
            raise forms.ValidationError("Use a language tag such as en, de or pt-BR.")
        return value

    def clean_urls(self):
        """Refuse lines that are not links at all here, not later in the worker."""
        text = self.cleaned_data["urls"]
        bad = [f"line {req.line}: {req.url[:80]}" for req in parse_url_lines(text) if not looks_like_link(req.url)]
        if bad:
            raise forms.ValidationError(
                "Not a link (use http:// or https:// addresses, one per line): " + "; ".join(bad[:5])
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
        return text

    def clean_csv_file(self):
        f = self.cleaned_data.get("csv_file")
        if f and f.size > MAX_CSV_BYTES:
            raise forms.ValidationError("The CSV file is larger than 2 MB.")
        return f

    def clean(self):
        data = super().clean()
        if not (data.get("urls", "").strip() or data.get("csv_file") or data.get("files")) \
                and not getattr(self, "too_large", None):
            raise forms.ValidationError("Paste at least one link, choose a CSV file or upload a file.")
        return data

    def options(self) -> ImportOptions:
        data = self.cleaned_data
        minutes = data.get("max_duration_minutes")
        return ImportOptions(max_videos=data.get("max_videos"), max_duration=minutes * 60 if minutes else None,
                             max_height=data.get("max_height"), language=data.get("language", ""))


def looks_like_link(text: str) -> bool:
    """An http(s) address with a host and no blanks (the full safety check,
    DNS included, runs when the import is queued)."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", text.strip())


class MaxSizeUploadHandler(FileUploadHandler):
    """Drops any uploaded file larger than IMPORT_MAX_UPLOAD_BYTES while it
    streams in (before it fills the disk) and remembers its name."""

    def __init__(self, request=None, limit=None):
        super().__init__(request)
        self.limit = limit or settings.IMPORT_MAX_UPLOAD_BYTES
        self.received = 0
        request.too_large_uploads = []

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.too_large_uploads.append(self.file_name)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None
