"""A short student run on generated, learnable speech: it beats the majority
baseline on the held-out split, leaves a ModelVersion with its weights, and
the active student prelabels off-screen segments."""

import dataclasses
import re
import shutil
import zipfile

import numpy as np
import pytest
import soundfile as sf
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command

from annotation.models import Export
from clips.models import Segment, Video
from inference.models import ModelVersion, Prelabel, TrainingRun
from inference.student import services
from inference.student.data import ensure_splits, read_export
from inference.student.predict import checkpoint_bytes
from inference.checksums import sha256_hex
from inference.student.train import TrainConfig, evaluate_items, train_student
from inference.student.model import ModelConfig
from tests.media.espeak_emotions import cached_clips, write_export_zip

# Small and single-threaded: fast on a busy 2-core machine.
SMALL = {"model": {"channels": [8, 16, 32], "rnn_hidden": 32},
         "train": {"epochs": 12, "patience": 12, "lr": 0.002, "threads": 1}}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return cached_clips(tmp_path_factory.mktemp)


@pytest.fixture(scope="module")
def human_zip(clips, tmp_path_factory):
    return write_export_zip(tmp_path_factory.mktemp("zips") / "human.zip", clips, human=True, teacher=True)


def stored_export(zip_path) -> Export:
    with open(zip_path, "rb") as fh:
        name = default_storage.save("exports/test-export.zip", File(fh, name="test-export.zip"))
    return Export.objects.create(status=Export.Status.SUCCEEDED, file=name)


@pytest.mark.django_db
def test_short_run_beats_majority_baseline_and_keeps_a_model(human_zip, staff_client):
    export = stored_export(human_zip)
    run = services.start_run(export_id=export.id, config=SMALL, enqueue=False)
    run = services.run_training(run.id)
    assert run.status == "succeeded", run.error
    m = run.metrics
    assert m["split"] == "test" and m["truth"] == "human" and m["n"] == 16
    assert m["uar"] > m["baseline"]["uar"] + 0.2, m
    assert m["baseline"]["uar"] == pytest.approx(0.25)   # 4 balanced classes
    # the figures come from the predictions: UAR recomputed from the confusion matrix
    cm = np.array(m["confusion"])
    present = cm.sum(1) > 0
    assert m["uar"] == pytest.approx(np.mean(np.diag(cm)[present] / cm.sum(1)[present]))
    assert m["wa"] == pytest.approx(np.trace(cm) / cm.sum())
    assert m["ccc_arousal"] is not None and m["ccc_valence"] is not None
    assert set(m["per_class_recall"]) >= {"angry", "happy", "sad", "neutral"}
    assert default_storage.exists(m["confusion_png"]) and default_storage.exists(m["baseline"]["confusion_png"])
    assert len(run.history) >= 1 and {"train_loss", "val_loss", "val_uar"} <= set(run.history[0])
    # a ModelVersion whose weights are kept with their hash; the first student is activated
    mv = run.model_version
    assert mv.kind == "student" and mv.is_active and mv.weights.startswith("models/")
    with default_storage.open(mv.weights, "rb") as fh:
        assert sha256_hex(fh.read()) == mv.sha256

    assert m["release"]["activate"] and m["release"]["n_test"] == 16 and m["release"]["active"] is None
    assert m["chosen"] in m["candidates"] and set(m["candidates"]) == {"logreg", "head", "ensemble"}
    assert all(0 <= c["val_uar"] <= 1 and 0 <= c["test_uar"] <= 1 for c in m["candidates"].values())
    assert m["encoder"] == "whisper-tiny.en"
    # the guard passed: the released weights are the chosen head refit on every labelled segment
    assert m["refit_full"]["segments"] == sum(c["segments"] for c in m["counts"].values()) == 80
    assert m["refit_full"]["head"] == m["chosen"]
    run_page = staff_client.get(f"/models/runs/{run.id}/").content.decode()
    assert 'data-testid="refit-full"' in run_page and "test included (STUDENT_REFIT_FULL)" in run_page

    # the released student prelabels off-screen speech with the same encoder + head (features cached)
    from inference.student.prelabel import prelabel_offscreen
    video = Video.objects.create(extractor="local", external_id="off")
    with zipfile.ZipFile(human_zip).open("audio/1.wav") as fh:
        name = default_storage.save("segments/off/1.wav", File(fh, name="1.wav"))
    segment = Segment.objects.create(video=video, start=0, end=2, audio=name)
    assert prelabel_offscreen(video.id) == 1
    prelabel = Prelabel.objects.get(segment=segment, model_version=mv)
    assert sum(prelabel.probs) == pytest.approx(1.0, abs=1e-4) and not prelabel.va_derived
    from inference.student.encoding import current_encoder, read_cached
    assert read_cached(current_encoder(), segment) is not None


@pytest.mark.django_db
def test_a_refit_active_student_is_compared_with_the_weights_its_guard_tested():
    """Its refit head has seen its test split and would score itself there: the
    next run's guard scores the validated head kept beside it in the checkpoint."""
    from django.core.files.base import ContentFile

    from inference.student.data import Item
    from inference.student.head import ClassicalHead
    from inference.student.predict import Student, head_checkpoint_bytes

    dim, n = 4, 7
    def head(coef, intercept):
        return ClassicalHead(mean=np.zeros(2 * dim, np.float32), scale=np.ones(2 * dim, np.float32),
                             coef=coef.astype(np.float32), intercept=intercept.astype(np.float32))
    knows = np.zeros((n, 2 * dim)); knows[np.arange(dim), np.arange(dim)] = 1.0     # class c: feature c high
    always_first = head(np.zeros((n, 2 * dim)), np.eye(n)[0] * 10)                   # stands in for the refit
    info = {"name": "whisper-tiny.en", "checksum": "same-encoder"}
    blob = head_checkpoint_bytes(always_first, info, validated=head(knows, np.zeros(n)))
    mv = ModelVersion.objects.create(kind="student", name="ser-student", version=1, arch="encoder-head",
                                     weights=default_storage.save("models/student/refit.pt", ContentFile(blob)),
                                     sha256=sha256_hex(blob), is_active=True)
    test = [Item(key=str(c), split="test", feats=np.eye(dim, dtype=np.float16)[[c] * 3] * 5, human=c)
            for c in range(dim)]
    score = services._score_active(Student(None, None, None, {}, head=always_first, encoder_info=info), test)
    assert (score.label, score.error) == (mv.label, None) and score.uar == pytest.approx(1.0)  # refit head: 0.25


def _active_student_fitted_on(keys, head):
    from django.core.files.base import ContentFile

    from inference.student.predict import head_checkpoint_bytes
    blob = head_checkpoint_bytes(head, {"name": "whisper-tiny.en", "checksum": "same-encoder"}, validated_on=keys)
    return ModelVersion.objects.create(kind="student", name="ser-student", version=1, arch="encoder-head",
                                       weights=default_storage.save("models/student/active.pt", ContentFile(blob)),
                                       sha256=sha256_hex(blob), is_active=True)


@pytest.mark.django_db
def test_the_active_student_is_compared_only_on_test_segments_it_was_not_fitted_on(settings):
    """New labels can move a speaker from the active student's training side to the
    next run's test split, where it would score what it learnt by heart."""
    from inference.student.data import Item
    from inference.student.head import ClassicalHead
    from inference.student.predict import Student
    from inference.student.release import release_decision

    settings.STUDENT_MIN_EVAL_SEGMENTS = 3
    dim, n = 4, 7
    knows = np.zeros((n, 2 * dim)); knows[np.arange(dim), np.arange(dim)] = 1.0
    head = ClassicalHead(mean=np.zeros(2 * dim, np.float32), scale=np.ones(2 * dim, np.float32),
                         coef=knows.astype(np.float32), intercept=np.zeros(n, np.float32))
    # Classes 0 and 1 were in its training set and it knows them; on 2 and 3 it answers class 0.
    def item(c, k, looks_like):
        return Item(key=f"s{c}-{k}", split="test", feats=np.eye(dim, dtype=np.float16)[[looks_like] * 3] * 5, human=c)
    test = [item(c, k, c) for c in (0, 1) for k in range(2)] + [item(c, k, 0) for c in (2, 3) for k in range(2)]
    mv = _active_student_fitted_on([i.key for i in test[:4]], head)
    new = Student(None, None, None, {}, head=head, encoder_info={"checksum": "same-encoder"})

    score = services._score_active(new, test)
    assert score.label == mv.label and [i.key for i in score.unseen] == [i.key for i in test[4:]]
    assert score.uar == pytest.approx(0.0)        # on all 8 test segments it would have scored 0.5
    release = release_decision(0.9, 0.25, len(test), score.label, score.uar, score.error, compared=(0.9, 4))
    assert release.activate and "on the 4 test segments it was not trained on" in release.reason

    settings.STUDENT_MIN_EVAL_SEGMENTS = 5         # only 4 unseen: no fair comparison, the run waits
    score = services._score_active(new, test)
    assert score.uar is None and "trained on 4 of the 8 test segments" in score.error
    assert not release_decision(0.9, 0.25, len(test), score.label, score.uar, score.error).activate


@pytest.mark.django_db
def test_run_on_shuffled_labels_waits_with_its_reason(human_zip, clips, tmp_path, staff_client, settings):
    settings.STUDENT_REFIT_FULL = False                                   # released as validated
    good = services.run_training(services.start_run(export_id=stored_export(human_zip).id, enqueue=False).id)
    assert good.status == "succeeded" and good.model_version.is_active, good.error
    assert good.metrics["refit_full"] is None
    rng = np.random.default_rng(5)
    shuffled = [dataclasses.replace(c, category=str(k)) for c, k in
                zip(clips, rng.permutation([c.category for c in clips]))]
    zip_path = write_export_zip(tmp_path / "shuffled.zip", shuffled, human=True, teacher=False)
    run = services.run_training(services.start_run(export_id=stored_export(zip_path).id, enqueue=False).id)
    assert run.status == "succeeded", run.error
    release = run.metrics["release"]
    assert not release["activate"] and not run.model_version.is_active
    assert release["active"] == good.model_version.label and release["n_test"] == 16
    assert "does not beat" in release["reason"] and "16 test segments" in release["reason"]
    good.model_version.refresh_from_db()
    assert good.model_version.is_active                                   # the good one stays
    page = staff_client.get("/models/").content.decode()
    assert "not activated:" in page and release["reason"] in page
    run_page = staff_client.get(f"/models/runs/{run.id}/").content.decode()
    assert "Not activated" in run_page and 'data-testid="candidates"' in run_page
    assert run.metrics["refit_full"] is None and 'data-testid="refit-full"' not in run_page   # never without the guard


@pytest.mark.django_db
def test_failed_and_cancelled_runs_change_nothing(tmp_path, human_zip):
    active = ModelVersion.objects.create(kind="student", name="ser-student", version=1, arch="crnn-attn",
                                         weights="models/x.pt", sha256="0" * 64, is_active=True)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(services.RunError, match="not a readable export zip"):  # refused before it starts
        services.start_run(export_id=stored_export(bad).id, enqueue=False)
    assert not TrainingRun.objects.exists()
    # cancelled while running: stops at the next batch, no model is made
    run = services.start_run(export_id=stored_export(human_zip).id, config=SMALL, enqueue=False)
    TrainingRun.objects.filter(pk=run.id).update(cancel_requested=True)
    run = services.run_training(run.id)
    assert run.status == "cancelled" and run.model_version is None
    assert list(ModelVersion.objects.filter(kind="student")) == [active] and ModelVersion.objects.get().is_active


def test_distillation_only_runs_on_teacher_soft_labels(clips, tmp_path):
    corpus = ensure_splits(read_export(write_export_zip(tmp_path / "t.zip", clips, human=False, teacher=True)))
    assert all(i.human < 0 and i.teacher_probs is not None for i in corpus.splits["train"])
    result = train_student(corpus.splits["train"], corpus.splits["val"],
                           model_cfg=ModelConfig(channels=(8, 16, 32), rnn_hidden=32),
                           train_cfg=TrainConfig(epochs=3, threads=1))
    figures = evaluate_items(result.model, corpus.splits["test"], corpus.splits["train"])
    assert figures["truth"] == "teacher" and figures["n"] == 16
    assert 0.0 <= figures["uar"] <= 1.0 and len(result.history) == 3
    assert result.history[-1]["train_ce"] == 0.0 and result.history[-1]["train_kl"] > 0


@pytest.fixture(scope="module")
def checkpoint(clips, human_zip):
    corpus = ensure_splits(read_export(human_zip))
    result = train_student(corpus.splits["train"], corpus.splits["val"],
                           model_cfg=ModelConfig(channels=(8, 16, 32), rnn_hidden=32),
                           train_cfg=TrainConfig(epochs=12, patience=12, threads=1))
    from inference.student.features import FeatureConfig
    return checkpoint_bytes(result.model, FeatureConfig())


def register(blob: bytes, active=True) -> ModelVersion:
    from django.core.files.base import ContentFile
    name = default_storage.save("models/student/test.pt", ContentFile(blob))
    return ModelVersion.objects.create(kind="student", name="ser-student", version=1, arch="crnn-attn",
                                       weights=name, sha256=sha256_hex(blob), is_active=active)


@pytest.mark.django_db
def test_evaluate_student_prints_uar_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "eval"
    for clip in cached_clips(lambda n: tmp_path / n, per_class=5, seed=7):
        (folder / clip.category).mkdir(parents=True, exist_ok=True)
        wave, rate = sf.read(clip.path)
        if clip.index % 2:  # any rate, mono or stereo
            sf.write(folder / clip.category / f"{clip.index}.wav", np.stack([wave, wave], 1), rate)
        else:
            shutil.copy(clip.path, folder / clip.category / f"{clip.index}.wav")
    mv = register(checkpoint)
    call_command("evaluate_student", str(folder))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"uar=(\d\.\d{3}) accuracy=(\d\.\d{3}) n=(\d+)", last)
    assert match, last
    assert int(match[3]) == 20 and float(match[1]) > 0.5   # 4 classes: chance is 0.25
    call_command("evaluate_student", str(folder), "--model", f"{mv.name}@{mv.version}", "--json")
    import json
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 20
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="folders must be named"):
        call_command("evaluate_student", str(tmp_path))


@pytest.mark.django_db
def test_active_student_prelabels_offscreen_segments(checkpoint, clips):
    from inference.student.prelabel import prelabel_offscreen
    video = Video.objects.create(extractor="local", external_id="v1")
    assert prelabel_offscreen(video.id) == 0  # no active student yet: nothing happens
    mv = register(checkpoint)
    segs = []
    for i, clip in enumerate(clips[:3]):
        with open(clip.path, "rb") as fh:
            name = default_storage.save(f"segments/{i}.wav", File(fh, name=f"{i}.wav"))
        segs.append(Segment.objects.create(video=video, start=i, end=i + 1, audio=name,
                                           face_crops=["crops/a.jpg"] if i == 0 else []))
    assert prelabel_offscreen(video.id) == 2
    rows = Prelabel.objects.filter(model_version=mv)
    assert {p.segment_id for p in rows} == {segs[1].id, segs[2].id}
    p = rows.first()
    assert sum(p.probs) == pytest.approx(1.0, abs=1e-4) and not p.va_derived and -1 <= p.valence <= 1
    assert prelabel_offscreen(video.id) == 2 and rows.count() == 2  # re-run refreshes, no duplicates


@pytest.mark.django_db
def test_student_covers_every_segment_for_the_disagreement_queue(checkpoint, clips, settings):
    from inference.student.prelabel import prelabel_missing, prelabel_offscreen
    video = Video.objects.create(extractor="local", external_id="v2")
    for i, clip in enumerate(clips[:3]):
        with open(clip.path, "rb") as fh:
            name = default_storage.save(f"segments/{i}.wav", File(fh, name=f"{i}.wav"))
        Segment.objects.create(video=video, start=i, end=i + 1, audio=name, face_crops=["c.jpg"] if i else [])
    mv = register(checkpoint)
    assert prelabel_missing() == 1            # existing off-screen segment, once the student is active
    assert prelabel_missing() == 0
    settings.ANNOTATION_QUEUE_ORDER = "disagreement"
    assert prelabel_missing() == 2            # now the on-screen ones too
    assert prelabel_offscreen(video.id) == 3
    assert Prelabel.objects.filter(model_version=mv).count() == 3


@pytest.mark.shared_media
@pytest.mark.django_db
def test_evaluate_student_reads_real_labelled_speech(checkpoint, capsys):
    """RAVDESS clips (7 class folders): the command reads them all and prints
    its line. A student trained on synthetic voices is near chance there, so
    only the format and the count are asserted."""
    from tests.conftest import shared_media
    folder = shared_media("speech")
    register(checkpoint)
    call_command("evaluate_student", str(folder))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    n = sum(1 for _ in folder.glob("*/*.wav"))
    assert re.fullmatch(rf"uar=\d\.\d{{3}} accuracy=\d\.\d{{3}} n={n}", last), last


@pytest.mark.django_db
def test_activating_a_student_on_the_models_page_prelabels_offscreen_segments(
        checkpoint, clips, staff_client, django_capture_on_commit_callbacks):
    video = Video.objects.create(extractor="local", external_id="v2", status=Video.Status.READY)
    with open(clips[0].path, "rb") as fh:
        name = default_storage.save("segments/off.wav", File(fh, name="off.wav"))
    seg = Segment.objects.create(video=video, start=0, end=1, audio=name)
    mv = register(checkpoint, active=False)
    assert not Prelabel.objects.filter(segment=seg).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/models/{mv.pk}/activate/")
    assert response.status_code in (302, 200)
    mv.refresh_from_db()
    assert mv.is_active
    assert Prelabel.objects.filter(segment=seg, model_version=mv).count() == 1
