"""`manage.py export_corpus`: --json contract, --out copy, clear failures; the io-queue task."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Export
from tests.conftest import wait_for
from tests.export_corpus import build_corpus

pytestmark = pytest.mark.django_db


def test_command_json_line_and_out_copy(make_annotator, tmp_path):
    build_corpus(make_annotator)
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "corpus.zip"
    call_command("export_corpus", "--out", str(target), "--min-labels", "3", "--seed", "2", "--json",
                 stdout=out, stderr=err)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(result) == {"id", "path", "segments", "sha256"}
    assert result["path"] == str(target.resolve())
    assert hashlib.sha256(target.read_bytes()).hexdigest() == result["sha256"]
    export = Export.objects.get(pk=result["id"])
    assert export.status == "succeeded" and export.params["min_labels"] == 3 and export.params["seed"] == 2
    with zipfile.ZipFile(target) as archive:
        rows = archive.read("manifest.jsonl").decode().splitlines()
    assert len(rows) == result["segments"] == export.counts["segments"]
    assert all(len(json.loads(r)["labels"]) >= 3 for r in rows)
    assert "100%" in err.getvalue()  # progress on stderr, not stdout


def test_command_fails_clearly_without_labelled_segments(db, tmp_path):
    with pytest.raises(CommandError, match="no segment has a human label"):
        call_command("export_corpus", "--out", str(tmp_path / "x.zip"), "--json",
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert not (tmp_path / "x.zip").exists()
    assert Export.objects.get().status == "failed"


def test_command_rejects_bad_parameters(db):
    with pytest.raises(CommandError, match="min_agreement must be between 0 and 1"):
        call_command("export_corpus", "--min-agreement", "1.5", stdout=io.StringIO(), stderr=io.StringIO())
    assert Export.objects.count() == 0


@pytest.mark.worker
def test_export_runs_on_the_io_queue_of_a_real_worker(live_worker):
    """Queued by name from another process, built by the worker: the row says why it failed
    (an empty database), proving the task is registered and routed to `io`."""
    enqueue = ("from annotation.export.build import new_export, enqueue_export;"
               "e = enqueue_export(new_export({'seed': 1})); print(e.id)")
    export_id = int(live_worker.manage("shell", "-c", enqueue).stdout.strip().splitlines()[-1])
    status = ("from annotation.models import Export;"
              f"e = Export.objects.get(pk={export_id}); print(e.status + '|' + e.error)")

    def finished():
        line = live_worker.manage("shell", "-c", status).stdout.strip().splitlines()[-1]
        return line if not line.startswith(("queued", "running")) else None

    line = wait_for(finished, timeout=120, interval=1.0)
    assert line.startswith("failed|Nothing to export"), live_worker.logs()[-3000:]
    assert "io.build_export" in live_worker.logs()
