"""Probe 3: hostile metadata from yt-dlp (titles, channels, licences) stays
inert in the export: no spreadsheet formulas in manifest.csv, no HTML, links
or Markdown from metadata in the dataset card."""

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from annotation.export import build_export, new_export
from clips.models import Video
from labelstudio_emo.safe_text import markdown_link, spreadsheet_cell
from tests.export_corpus import build_corpus

pytestmark = [pytest.mark.security, pytest.mark.django_db]

HOSTILE = {
    "title": "=cmd|' /C calc'!A0 <script>alert(1)</script>",
    "channel": "@SUM(1+1)*cmd|' /C calc'!A0 <img src=x onerror=alert(1)>",
    "license": "+1 | ](javascript:alert(1)) [x](javascript:alert(2))",
    "webpage_url": "javascript:alert(document.cookie)",
}


@pytest.fixture
def hostile_export(make_annotator):
    build_corpus(make_annotator)
    Video.objects.filter(pk=Video.objects.order_by("pk")[0].pk).update(**HOSTILE)
    Video.objects.filter(pk=Video.objects.order_by("pk")[1].pk).update(
        title="\tTab", channel="-2+3", license="\rCR", webpage_url="https://example.org/a_(b) c")
    export = build_export(new_export({}).id)
    return zipfile.ZipFile(Path(settings.MEDIA_ROOT) / export.file.name)


def test_manifest_csv_cells_never_start_like_a_formula(hostile_export):
    rows = list(csv.DictReader(io.StringIO(hostile_export.read("manifest.csv").decode())))
    cells = [row[k] for row in rows for k in ("video_title", "channel", "license", "video_url")]
    assert "'" + HOSTILE["title"] in cells and "'-2+3" in cells and "'\tTab" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    numbers = [float(row["valence"]) for row in rows if row["valence"]]
    assert any(v < 0 for v in numbers), "negative numbers stay numbers"


def test_dataset_card_has_no_html_or_script_links_from_metadata(hostile_export):
    card = hostile_export.read("README.md").decode()
    for raw in ("<script", "<img", "onerror=alert(1)>"):
        assert raw not in card, raw
    targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", card)  # every Markdown link or image
    assert targets and all(t.startswith(("https://", "http://", "plots/")) for t in targets), targets
    assert "&lt;script&gt;" in card
    assert "(https://example.org/a_%28b%29%20c)" in card


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), (-0.5, -0.5), (3, 3),
])
def test_spreadsheet_cell(value, expected):
    assert spreadsheet_cell(value) == expected


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//evil", ""])
def test_only_http_links(url):
    assert "](" not in markdown_link("t", url)
