"""The retrain command goes through a real export (new_export + build_export)
of labelled segments and teacher prelabels, then trains and reports JSON."""

import json

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Export, Label
from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel, TrainingRun
from tests.media.espeak_emotions import CIRCUMPLEX, cached_clips, teacher_probs

SMALL = json.dumps({"model": {"channels": [8, 16, 32], "rnn_hidden": 32}, "train": {"threads": 1}})


@pytest.fixture
def labelled_corpus(clips, make_annotator):
    """20 videos x 4 segments (one per class); 3 of 4 segments labelled by two
    people, every segment prelabelled by a face teacher."""
    import numpy as np
    rng = np.random.default_rng(3)
    raters = [make_annotator("r1"), make_annotator("r2")]
    teacher = ModelVersion.objects.create(kind="teacher", name="fer", version=1, arch="mini-xception",
                                          weights="/dev/null", sha256="0" * 64, is_active=True)
    by_class = {}
    for clip in clips:
        by_class.setdefault(clip.category, []).append(clip)
    for v in range(20):
        video = Video.objects.create(extractor="local", external_id=f"gen{v}", title=f"generated {v}")
        for k, (category, group) in enumerate(sorted(by_class.items())):
            clip = group[v]
            with open(clip.path, "rb") as fh:
                name = default_storage.save(f"segments/{v}-{k}.wav", File(fh, name="a.wav"))
            seg = Segment.objects.create(video=video, start=k * 3.0, end=k * 3.0 + 2.5, audio=name)
            probs = teacher_probs(category, rng)
            valence, arousal = CIRCUMPLEX[category]
            Prelabel.objects.create(segment=seg, model_version=teacher, probs=probs,
                                    category=category,
                                    confidence=max(probs), valence=valence, arousal=arousal, entropy=1.0)
            if (v + k) % 4:
                for rater in raters:
                    Label.objects.create(segment=seg, annotator=rater, category=category,
                                         valence=valence, arousal=arousal)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return cached_clips(tmp_path_factory.mktemp)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.django_db
def test_retrain_command_builds_an_export_and_trains(labelled_corpus, capsys):
    call_command("retrain_student", "--sync", "--json", "--epochs", "4", "--config", SMALL)
    out = last_json(capsys)
    assert set(out) >= {"id", "status", "model_version", "metrics"}
    assert out["status"] == "succeeded", out
    assert out["model_version"] == "ser-student@1"
    run = TrainingRun.objects.get(pk=out["id"])
    export = run.export
    assert export.status == Export.Status.SUCCEEDED and export.counts["segments"] == 80
    m = out["metrics"]
    assert m["export"] == export.id and m["truth"] == "human" and m["n"] > 0
    assert m["counts"]["train"]["teacher"] == m["counts"]["train"]["segments"]
    assert 0 < m["counts"]["train"]["human"] < m["counts"]["train"]["segments"]  # teacher-only rows too
    assert "uar" in m["baseline"] and len(run.history) == 4

    # the same export again, by id; a second run leaves the first model active
    call_command("retrain_student", "--sync", "--json", "--epochs", "1", "--export", str(export.id),
                 "--config", SMALL)
    again = last_json(capsys)
    assert again["status"] == "succeeded" and again["model_version"] == "ser-student@2"
    assert again["metrics"]["export"] == export.id and not again["active"]
    assert Export.objects.count() == 1


@pytest.mark.django_db
def test_retrain_command_explains_why_it_cannot_run(capsys):
    with pytest.raises(CommandError, match="export 42 does not exist"):
        call_command("retrain_student", "--sync", "--export", "42")
    with pytest.raises(CommandError, match="bad training config"):
        call_command("retrain_student", "--sync", "--config", '{"model": {"rnn_hidden": -3}}')
    with pytest.raises(CommandError, match="--config is not valid JSON"):
        call_command("retrain_student", "--sync", "--config", "{nope")
    assert not TrainingRun.objects.exists()
    # nothing labelled: refused before a run exists, saying what is missing
    with pytest.raises(CommandError, match=r"Not enough labelled data .* train 0 \(needs 20\)"):
        call_command("retrain_student", "--sync", "--json")
    assert not TrainingRun.objects.exists()
    TrainingRun.objects.create(status="running")
    with pytest.raises(CommandError, match="a training run is already running"):
        call_command("retrain_student", "--sync")
