"""An export of a fixture corpus, unzipped and checked against the database."""

import csv
import hashlib
import io
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
import soundfile
from django.conf import settings

from annotation.export.aggregate import aggregate_segment_labels
from annotation.export.build import build_export, new_export
from annotation.models import Export, Label
from clips.models import Segment
from tests.export_corpus import build_corpus

pytestmark = pytest.mark.django_db


def _export(params=None):
    export = build_export(new_export(params or {}).id)
    return export


def _open(export) -> zipfile.ZipFile:
    return zipfile.ZipFile(Path(settings.MEDIA_ROOT) / export.file.name)


def _manifest(archive) -> list[dict]:
    return [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]


def _export_files() -> list[str]:
    folder = Path(settings.MEDIA_ROOT) / "exports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def corpus(make_annotator):
    return build_corpus(make_annotator)


def test_manifest_equals_database_aggregates(corpus):
    export = _export()
    assert export.status == Export.Status.SUCCEEDED, export.error
    with _open(export) as archive:
        rows = _manifest(archive)
        names = set(archive.namelist())
        labelled = Segment.objects.filter(labels__isnull=False).distinct()
        assert {r["segment_id"] for r in rows} == set(labelled.values_list("id", flat=True))
        usernames = {u.username for u in corpus.raters}
        for row in rows:
            labels = list(Label.objects.filter(segment_id=row["segment_id"]))
            expected = aggregate_segment_labels(labels)
            assert (row["category"], len(row["labels"])) == (expected.category, expected.n)
            assert row["vote_share"] == pytest.approx(expected.vote_share, abs=1e-6)
            assert row["valence"] == pytest.approx(expected.valence, abs=1e-6)
            assert row["arousal"] == pytest.approx(expected.arousal, abs=1e-6)
            assert sorted((l["category"], l["valence"], l["arousal"]) for l in row["labels"]) == sorted(
                (l.category, l.valence, l.arousal) for l in labels)
            assert not {l["annotator"] for l in row["labels"]} & usernames  # pseudonyms only
            assert row["teacher"]["model"] == "fer@2"  # the active teacher, not the older one
            assert len(row["teacher"]["probs"]) == 7
            assert row["audio"] in names and all(face in names for face in row["faces"])
            assert row["split"] in {"train", "val", "test"}
    reviewed = next(r for r in rows if r["segment_id"] == corpus.segments[2].id)
    assert (reviewed["category"], reviewed["valence"], reviewed["arousal"]) == ("surprise", 0.5, 0.6)
    # the same rater has the same pseudonym across segments (and exports)
    per_rater = defaultdict(set)
    for row in rows:
        for label in row["labels"]:
            per_rater[label["annotator"]].add(row["segment_id"])
    assert len(per_rater) == 3
    assert export.counts["segments"] == len(rows) and export.counts["raters"] == 3


def test_zip_files_checksums_audio_and_card(corpus):
    export = _export({"seed": 3})
    assert export.status == Export.Status.SUCCEEDED, export.error
    with _open(export) as archive:
        names = archive.namelist()
        sums = {}
        for line in archive.read("SHA256SUMS").decode().splitlines():
            digest, name = line.split("  ", 1)
            sums[name] = digest
        assert set(sums) == set(names) - {"SHA256SUMS"}
        for name, digest in sums.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
        rows = _manifest(archive)
        for row in rows:
            info = soundfile.info(io.BytesIO(archive.read(row["audio"])))
            assert (info.samplerate, info.channels) == (16000, 1), row["segment_id"]
        converted = next(r for r in rows if r["segment_id"] == corpus.resampled.id)
        data, rate = soundfile.read(io.BytesIO(archive.read(converted["audio"])))
        assert rate == 16000 and abs(len(data) / rate - 0.25) < 0.01
        assert sum(len(r["faces"]) for r in rows) > 0
        assert all(archive.read(f)[:2] == b"\xff\xd8" for r in rows for f in r["faces"])  # JPEG
        with archive.open("manifest.csv") as fh:
            table = list(csv.DictReader(io.TextIOWrapper(fh, "utf-8")))
        assert [int(r["segment_id"]) for r in table] == [r["segment_id"] for r in rows]
        assert [r["split"] for r in table] == [r["split"] for r in rows]
        splits = json.loads(archive.read("splits.json"))
        assert splits["seed"] == 3
        assert sorted(sum(splits["splits"].values(), [])) == sorted(r["segment_id"] for r in rows)
        readme = archive.read("README.md").decode()
        for needle in ("Krippendorff", "## Counts per class and split", "## Sources and licences",
                       "## Known limitations", "Creative Commons", "(not recorded)", "fer@2",
                       "plots/class_distribution.png"):
            assert needle in readme, needle
        for plot in ("plots/class_distribution.png", "plots/valence_arousal.png", "plots/agreement.png"):
            assert archive.read(plot)[:8] == b"\x89PNG\r\n\x1a\n"
    whole = (Path(settings.MEDIA_ROOT) / export.file.name).read_bytes()
    assert hashlib.sha256(whole).hexdigest() == export.sha256 and len(whole) == export.size_bytes
    assert _export_files() == [Path(export.file.name).name]  # no temporary leftovers


def test_splits_are_speaker_disjoint_and_reproducible(corpus):
    first, second, other = _export({"seed": 5}), _export({"seed": 5}), _export({"seed": 6})
    with _open(first) as a, _open(second) as b, _open(other) as c:
        rows, again, reseeded = _manifest(a), _manifest(b), _manifest(c)
    assert [(r["segment_id"], r["split"]) for r in rows] == [(r["segment_id"], r["split"]) for r in again]
    assert len({r["split"] for r in rows}) == 3  # every split has something
    speaker_splits, video_splits = defaultdict(set), defaultdict(set)
    for r in rows:
        if r["speaker"]:
            speaker_splits[r["speaker"]].add(r["split"])
        video_splits[r["video_id"]].add(r["split"])
    assert all(len(s) == 1 for s in speaker_splits.values()), speaker_splits
    # a video with an unknown speaker is wholly in one split
    for r in rows:
        if r["speaker"] is None:
            assert len(video_splits[r["video_id"]]) == 1
    # Alice appears in video 2 only through a named person: one speaker key
    assert any(r["speaker"] == "person:Alice" for r in rows)
    assert {r["segment_id"] for r in reseeded} == {r["segment_id"] for r in rows}


def test_videos_imported_with_the_same_speaker_share_a_split(corpus):
    """Local files carry no faces: the import's speaker hint keeps one person's clips together."""
    from clips.models import Video

    Video.objects.filter(pk__in=[corpus.videos[1].pk, corpus.videos[3].pk]).update(speaker_hint="Bob")
    with _open(_export()) as archive:
        rows = _manifest(archive)
    hinted = [r for r in rows if r["video_id"] in (corpus.videos[1].pk, corpus.videos[3].pk)]
    assert {r["speaker_hint"] for r in hinted} == {"Bob"}
    assert len({r["split"] for r in hinted}) == 1
    assert {r["speaker_hint"] for r in rows if r not in hinted} == {None}


def test_the_speaker_hint_groups_faceless_videos_for_the_splits():
    from types import SimpleNamespace

    from annotation.export.build import split_items

    def items(hint_of):
        return [SimpleNamespace(row={"segment_id": 10 * v + s, "video_id": v, "speaker": None,
                                     "speaker_hint": hint_of(v)}, strat_category="happy")
                for v in range(12) for s in range(5)]

    def splits_of_hinted(hint_of):
        assigned = split_items(items(hint_of), seed=0)
        return {assigned[10 * v + s] for v in range(6) for s in range(5)}

    assert len(splits_of_hinted(lambda v: None)) > 1                # twelve one-clip speakers spread out
    assert len(splits_of_hinted(lambda v: "Ann" if v < 6 else None)) == 1   # Ann's six clips stay together
    from inference.student.data import item_from_row               # and the student's grouped CV sees one speaker
    assert item_from_row({"segment_id": 1, "video_id": 3, "speaker_hint": "Ann"}, None).group == "hint:Ann"
    assert item_from_row({"segment_id": 1, "video_id": 3, "speaker_hint": None}, None).group == "video:3"


def test_min_labels_and_flag_filters(corpus):
    export = _export({"min_labels": 3, "exclude_flags": ["bad_audio"]})
    assert export.status == Export.Status.SUCCEEDED, export.error
    with _open(export) as archive:
        rows = _manifest(archive)
    ids = {r["segment_id"] for r in rows}
    assert all(len(r["labels"]) >= 3 for r in rows)
    assert not ids & {s.id for s in corpus.single_label}
    flagged = Segment.objects.get(video=corpus.videos[3], start=6.0)
    assert flagged.id not in ids
    assert export.counts["skipped"]["fewer_labels_than_min"] == len(corpus.single_label)
    assert export.counts["skipped"]["excluded_flags"] == 1


def test_prelabel_only_segments_on_request(corpus):
    export = _export({"include_prelabel_only": True})
    with _open(export) as archive:
        rows = _manifest(archive)
    weak = next(r for r in rows if r["segment_id"] == corpus.prelabel_only.id)
    assert weak["labels"] == [] and weak["category"] is None and weak["teacher"]["model"] == "fer@2"
    default = _export()
    with _open(default) as archive:
        assert corpus.prelabel_only.id not in {r["segment_id"] for r in _manifest(archive)}


def test_no_labelled_segments_fails_clearly_and_leaves_no_file(db):
    export = _export()
    assert export.status == Export.Status.FAILED
    assert "no segment has a human label" in export.error
    assert not export.file and export.sha256 == ""
    assert _export_files() == []


def test_filters_that_match_nothing_say_why(corpus):
    export = _export({"min_agreement": 1.0, "min_labels": 3, "exclude_flags": ["bad_audio"],
                      "date_to": "2000-01-01"})
    assert export.status == Export.Status.FAILED
    assert "none pass these filters" in export.error
    assert _export_files() == []


def test_broken_audio_fails_the_export_without_a_file(corpus):
    segment = corpus.segments[4]
    with open(segment.audio.path, "wb") as fh:
        fh.write(b"not a wav file")
    export = _export()
    assert export.status == Export.Status.FAILED
    assert "unreadable audio" in export.error
    assert _export_files() == []


def test_succeeded_export_is_never_rebuilt(corpus):
    export = _export()
    Label.objects.all().delete()
    again = build_export(export.id)
    assert (again.status, again.sha256, again.file.name) == (export.status, export.sha256, export.file.name)


def test_a_failure_after_the_move_removes_the_file(corpus, monkeypatch):
    """If recording the finished export fails, the zip already moved into storage goes too."""
    from django.db import OperationalError

    class FailingSuccess:
        def __init__(self, queryset):
            self.queryset = queryset

        def update(self, **fields):
            if fields.get("status") == Export.Status.SUCCEEDED:
                assert len(_export_files()) == 1  # the zip is in place at this point
                raise OperationalError("database is locked")
            return self.queryset.update(**fields)

        def __getattr__(self, name):
            return getattr(self.queryset, name)

    real_filter = Export.objects.filter
    monkeypatch.setattr(Export.objects, "filter", lambda *a, **k: FailingSuccess(real_filter(*a, **k)))
    export = _export()
    assert export.status == Export.Status.FAILED and "database is locked" in export.error
    assert _export_files() == []


@pytest.mark.django_db
def test_export_deleted_before_its_turn_is_a_quiet_no_op(staff_user):
    """Staff delete a queued export (admin) before a worker reaches it: the task
    ends cleanly and says so instead of failing with a traceback."""
    from annotation.tasks import build_export_task
    export = new_export({}, user=staff_user)
    export_id = export.id
    export.delete()
    assert build_export_task(export_id) == {"id": export_id, "status": "deleted",
                                            "error": "the export was deleted before it was built"}
    assert not Export.objects.exists()


def test_deleting_an_export_removes_its_zip(corpus, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage
    export = _export()
    name = export.file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        export.delete()  # what the admin's delete does
    assert not default_storage.exists(name)
