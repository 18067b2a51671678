"""Service: make an Export row and build its zip.

The zip is written member by member straight from storage file objects
(constant memory, whatever the corpus size) into a temporary file next to
its final place, and only moved into place once it is complete and hashed. A
failed build records why and leaves no file behind. Succeeded exports are
never rebuilt or edited.
"""

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Callable

import soundfile
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.export.card import agreement_figures, render_card
from annotation.export.plots import render_plots
from annotation.export.rows import ExportError, ExportParams, explain_empty, parse_params, select_items
from annotation.export.splits import DEFAULT_FRACTIONS, SPLITS, SplitItem, assign_splits, split_summary
from annotation.models import Export
from clips.importing.files import sha256_of
from labelstudio_emo.celery import task_by_name
from labelstudio_emo.progress_writer import ProgressWriter
from labelstudio_emo.safe_text import spreadsheet_cell

log = logging.getLogger(__name__)

Progress = Callable[[int, str], None]
MANIFEST_KEYS = ("segment_id", "video_id", "video_url", "video_title", "channel", "license", "start", "end",
                 "speaker", "speaker_hint", "audio", "faces", "labels", "category", "vote_share", "valence", "arousal",
                 "teacher", "split")
AUDIO_RATE = 16000
CHUNK = 1 << 20

__all__ = ["ExportError", "new_export", "build_export", "enqueue_export", "parse_params"]


def new_export(params: dict | None, user=None) -> Export:
    """Validate the parameters and create a queued Export (raises ExportError on bad parameters)."""
    parsed = parse_params(params)
    return Export.objects.create(params=parsed.as_dict(), created_by=user if user and user.is_authenticated else None)


BUILD_TASK = "io.build_export"


def enqueue_export(export: Export) -> Export:
    """Send the build to the `io` queue; a broker failure fails the export with the reason."""
    try:
        task_by_name(BUILD_TASK, export.id).delay()  # by name: annotation.tasks imports this module
    except Exception as exc:  # noqa: BLE001 - any broker error ends the same way
        log.exception("could not queue export %s", export.id)
        _fail(export.id, f"Could not queue the export (is the task broker running?): {exc}")
    export.refresh_from_db()
    return export


class _ProgressWriter:
    """Writes Export.progress at most once per percent, and forwards to a callback."""

    def __init__(self, export_id: int, callback: Progress | None):
        self.callback = callback
        self.writer = ProgressWriter(lambda value: Export.objects.filter(pk=export_id).update(progress=value))

    def __call__(self, percent: float, message: str = ""):
        if self.writer(percent) and self.callback:
            self.callback(self.writer.value, message)


def _fail(export_id: int, reason: str):
    Export.objects.filter(pk=export_id).exclude(status=Export.Status.SUCCEEDED).update(
        status=Export.Status.FAILED, error=reason, finished_at=timezone.now(), file="", size_bytes=0, sha256="")


def build_export(export_id: int, progress: Progress | None = None) -> Export | None:
    """Build the zip of a queued (or interrupted/failed) export in this process and
    return the row (None when it was deleted before its turn came)."""
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(pk=export_id).first()
        if export is None:
            log.warning("export %s was deleted before it was built: nothing to do", export_id)
            return None
        if export.status == Export.Status.SUCCEEDED:
            return export  # immutable: never rebuilt
        export.status, export.error, export.progress = Export.Status.RUNNING, "", 0
        export.save(update_fields=["status", "error", "progress"])
    report = _ProgressWriter(export_id, progress)
    tmp_path = stored = None
    try:
        params = parse_params(export.params)
        report(1, "selecting segments")
        selection = select_items(params, progress=lambda done, total: report(
            1 + 9 * done / max(total, 1), f"selecting segments {done}/{total}"))
        if not selection.items:
            raise ExportError(explain_empty(params, selection))
        name = default_storage.get_available_name(f"exports/export-{export.id:05d}-{timezone.now():%Y%m%d-%H%M%S}.zip")
        tmp_path = _temp_path(name, export.id)
        counts = _write_zip(tmp_path, export, params, selection, Path(name).name, report)
        report(98, "checksumming")
        sha256, size = sha256_of(Path(tmp_path)), os.path.getsize(tmp_path)
        report(99, "storing")
        stored = _move_into_storage(tmp_path, name)
        tmp_path = None
        Export.objects.filter(pk=export_id).update(
            status=Export.Status.SUCCEEDED, file=stored, size_bytes=size, sha256=sha256, counts=counts,
            progress=100, finished_at=timezone.now(), error="")
        stored = None  # recorded: from here on the file belongs to the export
        if progress:
            progress(100, "done")
    except Exception as exc:  # noqa: BLE001 - the row must say why, whatever broke
        if not isinstance(exc, ExportError):
            log.exception("export %s failed", export_id)
        _fail(export_id, str(exc) if isinstance(exc, ExportError) else f"Export failed: {type(exc).__name__}: {exc}")
        if stored:  # moved into storage but not recorded: a failed export keeps no file
            default_storage.delete(stored)
    finally:
        if tmp_path and os.path.exists(tmp_path):
            os.remove(tmp_path)
    return Export.objects.get(pk=export_id)


# ------------------------------------------------------------------ storage
def _temp_path(name: str, export_id: int) -> str:
    """A temporary file beside the final one when storage is local (so the move is a rename),
    else in the system temp folder. Dot-prefixed, so it is never mistaken for an export."""
    try:
        folder = Path(default_storage.path(name)).parent
        folder.mkdir(parents=True, exist_ok=True)
    except NotImplementedError:
        folder = Path(tempfile.gettempdir())
    for stale in folder.glob(f".export-{export_id}-*.zip.part"):  # left by a killed worker
        stale.unlink(missing_ok=True)
    fd, path = tempfile.mkstemp(prefix=f".export-{export_id}-", suffix=".zip.part", dir=folder)
    os.close(fd)
    return path


def _move_into_storage(tmp_path: str, name: str) -> str:
    try:
        final = default_storage.path(name)
    except NotImplementedError:
        with open(tmp_path, "rb") as fh:
            stored = default_storage.save(name, File(fh, name=Path(name).name))
        os.remove(tmp_path)
        return stored
    os.replace(tmp_path, final)
    return name


# ---------------------------------------------------------------------- zip
class _HashingZip:
    """A ZipFile that records the SHA-256 of every member it writes."""

    def __init__(self, path: str):
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.sums: list[tuple[str, str]] = []

    def write_stream(self, name: str, source, compress: bool = False):
        info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        with self.zip.open(info, "w", force_zip64=True) as member:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                member.write(chunk)
        self.sums.append((digest.hexdigest(), name))

    def write_bytes(self, name: str, data: bytes, compress: bool = True):
        self.write_stream(name, io.BytesIO(data), compress)

    def write_sums(self):
        self.write_bytes("SHA256SUMS", "".join(f"{h}  {n}\n" for h, n in self.sums).encode())

    def close(self):
        self.zip.close()


def _audio_source(storage_file):
    """The segment's WAV as-is when it is already 16 kHz mono, else a converted copy (one short clip)."""
    try:
        info = soundfile.info(storage_file)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"unreadable audio file {storage_file.name}: {exc}") from exc
    storage_file.seek(0)
    if info.samplerate == AUDIO_RATE and info.channels == 1 and info.format == "WAV":
        return storage_file
    import librosa

    data, rate = soundfile.read(storage_file, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != AUDIO_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=AUDIO_RATE)
    buffer = io.BytesIO()
    soundfile.write(buffer, mono, AUDIO_RATE, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    return buffer


def split_items(items, seed: int) -> dict[int, str]:
    """segment id -> split of selected export items (speaker-disjoint, see splits.py)."""
    return assign_splits([SplitItem(i.row["segment_id"], split_video_key(i.row), i.row["speaker"],
                                    i.strat_category) for i in items], seed=seed)


def split_video_key(row: dict) -> str:
    """The video's key for the splits: videos imported with the same speaker
    hint count as one video, so one person's clips never straddle splits."""
    return f"hint:{row['speaker_hint']}" if row.get("speaker_hint") else str(row["video_id"])


def planned_split_sizes(raw_params: dict | None) -> dict[str, int]:
    """Segments per split an export with these parameters would have now (no files written)."""
    params = parse_params(raw_params)
    selection = select_items(params, check_files=False)
    sizes = Counter(split_items(selection.items, params.seed).values())
    return {name: sizes.get(name, 0) for name in SPLITS}


def _write_zip(path: str, export: Export, params: ExportParams, selection, zip_name: str, report) -> dict:
    items = selection.items
    splits = split_items(items, params.seed)
    for item in items:
        item.row["split"] = splits[item.row["segment_id"]]
    rows = [item.row for item in items]
    archive = _HashingZip(path)
    try:
        total = len(items)
        for done, item in enumerate(items, 1):
            segment_id = item.row["segment_id"]
            with default_storage.open(item.audio_src, "rb") as src:
                archive.write_stream(item.row["audio"], _audio_source(src))
            for target, face in zip(item.row["faces"], item.face_srcs):
                with default_storage.open(face, "rb") as src:
                    archive.write_stream(target, src)
            if done % 50 == 0 or done == total:
                report(10 + 80 * done / total, f"media {done}/{total} (segment {segment_id})")

        report(91, "manifest")
        archive.write_bytes("manifest.jsonl", "".join(
            json.dumps({k: row[k] for k in MANIFEST_KEYS}, ensure_ascii=False) + "\n" for row in rows).encode())
        archive.write_bytes("manifest.csv", _manifest_csv(rows))
        categories = {i.row["segment_id"]: i.row["category"] for i in items}
        fractions = dict(zip(SPLITS, DEFAULT_FRACTIONS))
        splits_info = {
            "seed": params.seed,
            "fractions": fractions,
            "method": ("Speaker-disjoint: all segments of one speaker are in one split; a segment with an "
                       "unknown speaker puts its whole video (with every speaker in it) in one split. Groups "
                       "are placed largest first into the split furthest below its per-class targets, so "
                       "classes are stratified as far as the groups allow."),
        }
        summary = split_summary(splits, categories)
        archive.write_bytes("splits.json", json.dumps({
            **splits_info, "counts": summary,
            "splits": {s: sorted(sid for sid, name in splits.items() if name == s) for s in SPLITS},
        }, indent=1).encode())

        report(93, "dataset card and plots")
        agreement = agreement_figures(rows)
        plots = render_plots(rows, agreement)
        for name, data in plots.items():
            archive.write_bytes(name, data, compress=False)
        created = export.created_at.strftime("%Y-%m-%d %H:%M")
        card = render_card(
            rows, export_id=export.id, created_at=created, params=params.as_dict(), zip_name=zip_name,
            agreement=agreement, skipped=dict(selection.skipped), teacher_models=dict(selection.teacher_models),
            splits_info=splits_info, reviewed=selection.reviewed)
        archive.write_bytes("README.md", card.encode())
        archive.write_sums()
    finally:
        archive.close()

    classes = Counter(row["category"] or "none" for row in rows)
    return {
        "segments": len(rows),
        "labels": agreement.labels,
        "raters": agreement.raters,
        "videos": len({row["video_id"] for row in rows}),
        "speakers": len({row["speaker"] for row in rows if row["speaker"]}),
        "faces": sum(len(row["faces"]) for row in rows),
        "prelabel_only": sum(1 for row in rows if not row["labels"]),
        "reviewed": selection.reviewed,
        "classes": dict(sorted(classes.items())),
        "splits": {s: summary[s]["n"] for s in SPLITS},
        "alpha_category": agreement.alpha_category,
        "skipped": dict(selection.skipped),
        "files": len(archive.sums) + 1,
    }


def _manifest_csv(rows: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(MANIFEST_KEYS)
    nested = {"faces", "labels", "teacher"}
    for row in rows:
        writer.writerow([json.dumps(row[k], ensure_ascii=False) if k in nested
                         else ("" if row[k] is None else spreadsheet_cell(row[k])) for k in MANIFEST_KEYS])
    return text.getvalue().encode()


def copy_export_file(export: Export, destination: str | Path) -> Path:
    """Stream a finished export's zip out of storage to a path (the command's --out)."""
    destination = Path(destination)
    if destination.is_dir():
        destination = destination / Path(export.file.name).name
    destination.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(export.file.name, "rb") as src, open(destination, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return destination
