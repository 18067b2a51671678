"""The student's speech encoder (Whisper tiny.en: CTranslate2 for the final
output, PyTorch on the same weights for blocks 1-2, the default) and its
per-segment feature cache, on generated speech."""

import json
import shutil

import numpy as np
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command

from clips.models import Segment, Video
from inference.student import encoding
from inference.student.data import Item, encoder_featurizer, read_export
from inference.student.encoders import (DEFAULT_MODE, PACKAGED_WHISPER, EncoderError, WhisperEncoder,
                                        WhisperLayersEncoder, load_encoder, packaged_whisper_folder,
                                        padded_samples, trim_silence)
from inference.student.features import read_audio
from inference.student.head import predict_pooled
from inference.student.head_train import HeadTrainConfig, fit_heads, one_se_choice, pool_items
from inference.student.losses import LossConfig
from inference.student.train import evaluate_predictions
from tests.media.espeak_emotions import cached_clips, write_export_zip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return cached_clips(tmp_path_factory.mktemp)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("whisper-tiny.en", threads=1)


def test_frames_follow_the_audio_and_repeat_exactly(encoder, clips):
    assert (encoder.frame_rate, encoder.dim) == (50.0, 2 * 384)         # blocks 1 and 2, concatenated
    assert encoder.checksum == PACKAGED_WHISPER["whisper-tiny.en"][2]   # the pinned weights
    rng = np.random.default_rng(0)
    waves = [read_audio(clips[0].path), rng.standard_normal(8000).astype(np.float32) * 0.1,
             np.zeros(16000 * 31, np.float32)]                            # over one 30 s window
    frames = encoder.encode(waves)
    speech = [trim_silence(w).size for w in waves]                        # silent edges are not encoded
    assert speech[1:] == [w.size for w in waves[1:]] and speech[0] <= waves[0].size
    assert [f.shape for f in frames] == [(int(np.ceil(n / 320)), 768) for n in speech]
    assert all(np.isfinite(f).all() for f in frames)
    again = encoder.encode(waves[::-1])[::-1]                             # same input, any company
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    speech, noise = frames[0].mean(0), frames[1].mean(0)
    assert np.abs(speech - noise).mean() > 0.05                           # it hears a difference


def test_packing_slices_each_segment_back(clips):
    packed = load_encoder("whisper-tiny.en", threads=1, mode="pack")
    waves = [read_audio(c.path) for c in clips[:6]]
    frames = packed.encode(waves, [c.path.name for c in clips[:6]])
    assert [f.shape[0] for f in frames] == [int(np.ceil(trim_silence(w).size / 320)) for w in waves]


def test_short_segments_are_encoded_with_trailing_silence_and_batched_without_changing_them(encoder, clips):
    assert encoder.mode == DEFAULT_MODE == "pad4-L1-L2"                    # the default
    assert [padded_samples(n, 4, 480000) for n in (100, 64000, 64001, 479000, 480000)] == \
        [64000, 64000, 80000, 480000, 480000]
    waves = [trim_silence(read_audio(c.path)) for c in clips[:5]]
    together = encoder.encode(waves)                                      # equal padded lengths share calls
    alone = [encoder.encode([w])[0] for w in waves]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone))    # a batch never changes a segment
    trimmed = load_encoder("whisper-tiny.en", threads=1, mode="trim-L1-L2").encode(waves[:1])[0]
    assert trimmed.shape == together[0].shape                             # only the segment's own frames
    assert not np.allclose(trimmed, together[0], atol=1e-2)               # but they heard the silence after it
    with pytest.raises(EncoderError, match="unknown encoder mode"):
        load_encoder("whisper-tiny.en", threads=1, mode="pad0")


def test_silent_edges_do_not_change_the_features(encoder, clips):
    """A whole clip and its voice-activity-cut segment pool to nearly the same statistics."""
    speech = trim_silence(read_audio(clips[1].path))
    padded = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(12000, np.float32)])
    a, b = encoder.encode([speech, padded])
    assert abs(a.shape[0] - b.shape[0]) <= 2
    untrimmed = encoder._encode_trimmed(padded)                          # what silence would have done
    assert untrimmed.shape[0] > a.shape[0] + 80
    assert np.abs(a.mean(0) - b.mean(0)).mean() < 0.5 * np.abs(a.mean(0) - untrimmed.mean(0)).mean()


def test_weights_that_are_not_the_pinned_ones_are_refused(tmp_path):
    folder = packaged_whisper_folder("whisper-tiny.en")
    with pytest.raises(EncoderError, match="not the pinned ones"):
        WhisperEncoder(folder, "whisper-tiny.en", expected_sha256="0" * 64)
    with pytest.raises(EncoderError, match="model.bin missing"):
        WhisperEncoder(tmp_path, "empty")
    checkpoint = tmp_path / "wav2vec2.pt"
    checkpoint.write_bytes(b"x")
    with pytest.raises(EncoderError, match="not yet"):
        load_encoder(str(checkpoint))
    with pytest.raises(EncoderError, match="unknown speech encoder"):
        load_encoder("whisper-huge-imaginary")


def test_intermediate_layers_come_from_the_same_network_as_ctranslate2(clips, tmp_path):
    """PyTorch on the pinned model.bin: its final output is CTranslate2's; blocks 1-2 differ from it."""
    waves = [read_audio(c.path) for c in clips[:3]] + [np.random.default_rng(1).standard_normal(20000)
                                                        .astype(np.float32) * 0.1]
    ct2 = load_encoder("whisper-tiny.en", threads=1, mode="pad4")
    final = load_encoder("whisper-tiny.en", threads=1, mode="pad4-L5")   # tiny has 4 blocks; 5 = final LayerNorm
    assert isinstance(final, WhisperLayersEncoder) and not isinstance(ct2, WhisperLayersEncoder)
    for a, b in zip(ct2.encode(waves), final.encode(waves)):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-2
    one, two = (load_encoder("whisper-tiny.en", threads=1, mode=m).encode(waves[:1])[0] for m in ("pad4-L1", "pad4-L2"))
    both = load_encoder("whisper-tiny.en", threads=1).encode(waves[:1])[0]
    assert np.allclose(both, np.concatenate([one, two], 1), atol=1e-4)  # -L1-L2: both blocks, in order
    assert np.abs(two - ct2.encode(waves[:1])[0]).mean() > 0.1          # not the final output again
    assert len({ct2.cache_key, final.cache_key, load_encoder("whisper-tiny.en", threads=1).cache_key}) == 3
    with pytest.raises(EncoderError, match="blocks 1-4"):
        load_encoder("whisper-tiny.en", threads=1, mode="pad4-L6")
    with pytest.raises(EncoderError, match="unknown encoder mode"):
        load_encoder("whisper-tiny.en", threads=1, mode="pad4-Lx")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    with pytest.raises(EncoderError, match="not a float CTranslate2 Whisper model"):
        WhisperLayersEncoder(broken, "broken", mode="pad4-L2")


def store_segments(clips, n=3) -> list[Segment]:
    video = Video.objects.create(extractor="local", external_id="enc")
    out = []
    for i, clip in enumerate(clips[:n]):
        with open(clip.path, "rb") as fh:
            name = default_storage.save(f"segments/{video.id}/{i}.wav", File(fh, name=f"{i}.wav"))
        out.append(Segment.objects.create(video=video, start=i * 3.0, end=i * 3.0 + 2.0, audio=name))
    return out


@pytest.mark.django_db
def test_cache_hit_miss_and_invalidation(clips, settings, tmp_path, capsys):
    segments = store_segments(clips)
    first = encoding.encode_segments()
    assert (first.encoded, first.cached) == (3, 0)
    again = encoding.encode_segments()
    assert (again.encoded, again.cached) == (0, 3)                      # hit: nothing re-encoded
    encoder = encoding.current_encoder()
    cached = encoding.read_cached(encoder, segments[0])
    assert cached.dtype == np.float16 and cached.shape[1] == encoder.dim
    assert np.allclose(cached, encoder.encode([read_audio(clips[0].path)])[0], atol=2e-2, rtol=2e-3)

    Segment.objects.filter(pk=segments[0].pk).update(end=2.5)            # re-cut: that segment misses
    assert encoding.encode_segments().encoded == 1
    forced = encoding.encode_segments(force=True)                        # --all re-encodes everything
    assert forced.encoded == 3

    other = tmp_path / "tiny-copy"                                       # another encoder: a new cache
    other.mkdir()
    for f in packaged_whisper_folder("whisper-tiny.en").iterdir():
        (other / f.name).symlink_to(f)
    settings.STUDENT_ENCODER = str(other)
    assert encoding.current_encoder().cache_key != encoder.cache_key
    call_command("encode_segments", "--json")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["encoded"] == 3 and out["cached"] == 0 and out["encoder"] == "whisper-ct2-tiny-copy"

    settings.STUDENT_ENCODER_MODE = "trim"                                # another way of feeding it: a new cache
    assert "-trim-" in encoding.current_encoder().cache_key
    assert encoding.encode_segments().encoded == 3

    settings.STUDENT_ENCODER = "log-mel"                                  # no encoder: nothing to cache
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="log-mel network"):
        call_command("encode_segments")


@pytest.mark.django_db(transaction=True)
def test_cutting_segment_audio_queues_their_encoding(clips, settings):
    """The clips pipeline sends gpu.encode_segments by name once the audio is cut (eager here)."""
    from clips import pipeline

    segments = store_segments(clips, n=2)
    video = segments[0].video
    shutil.copy(clips[0].path, settings.MEDIA_ROOT / "full.wav")
    Video.objects.filter(pk=video.pk).update(audio="full.wav")
    assert pipeline.cut_segment_audio(video.id) == 2
    encoder = encoding.current_encoder()
    assert all(encoding.read_cached(encoder, s) is not None for s in Segment.objects.filter(video=video))


def test_distillation_only_heads_learn_from_teacher_soft_labels(clips, tmp_path, encoder):
    zip_path = write_export_zip(tmp_path / "t.zip", clips, human=False, teacher=True)
    corpus = read_export(zip_path, featurize=encoder_featurizer(encoder))
    train, val, test = (corpus.splits[s] for s in ("train", "val", "test"))
    assert all(i.human < 0 and i.teacher_probs is not None and i.feats.shape[1] == encoder.dim for i in train)
    result = fit_heads(train, val, cfg=HeadTrainConfig(epochs=5, patience=5))
    assert set(result.candidates) == {"logreg", "head", "ensemble"} and result.chosen in result.candidates
    assert len(result.history) == 5
    assert result.history[-1]["train_ce"] == 0.0 and result.history[-1]["train_kl"] > 0
    probs, va = predict_pooled(result.model, pool_items(test))
    figures = evaluate_predictions(probs, va, test, train)
    assert figures["truth"] == "teacher" and figures["n"] == len(test)
    assert figures["uar"] > figures["baseline"]["uar"]   # the teacher leans to the true class: learnable


def _synthetic_items(n, rng, centres, split):
    items = []
    for k in range(n):
        c = k % len(centres)
        feats = (rng.standard_normal((20, centres.shape[1])) + centres[c]).astype(np.float16)
        items.append(Item(key=f"{split}{k}", split=split, feats=feats, human=c, group=f"{split}-speaker{k % 6}"))
    return items


def test_small_validation_keeps_the_simpler_head_and_the_release_sees_validation_too():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16)).astype(np.float32)
    train, val = _synthetic_items(60, rng, centres, "train"), _synthetic_items(12, rng, centres, "val")
    # A 12-segment validation cannot tell 0.75 from 0.83 UAR: the logistic regression is kept.
    assert one_se_choice({"logreg": 0.75, "head": 0.83, "ensemble": 0.80}, len(val)) == "logreg"
    assert one_se_choice({"logreg": 0.60, "head": 0.70, "ensemble": 0.65}, 2000) == "head"   # 2000 segments can

    refit = fit_heads(train, val, cfg=HeadTrainConfig(epochs=3, patience=3))
    held_out = fit_heads(train, val, cfg=HeadTrainConfig(epochs=3, patience=3), refit=False)
    assert refit.chosen == held_out.chosen
    # the released logistic regression was fitted on train + val (its scaler saw the val rows)
    pooled = pool_items(train + val)
    assert np.allclose(refit.candidates["logreg"].model.mean, pooled.mean(0), atol=1e-4)
    assert not np.allclose(held_out.candidates["logreg"].model.mean, pooled.mean(0), atol=1e-4)
    assert refit.candidates["head"].details["refit_on"] == "train+val (72 segments)"
    # 12 validation segments: the choice came from speaker-grouped folds of all 72
    assert all("cv_choice_uar" in c.details for c in refit.candidates.values())
    by_val = fit_heads(train, val, cfg=HeadTrainConfig(epochs=3, patience=3, cv_choice_below=0), refit=False)
    assert not any("cv_choice_uar" in c.details for c in by_val.candidates.values())


def test_the_regularisation_is_chosen_leaving_one_speaker_out_on_small_data():
    """A few hundred segments of a few speakers: C is scored with one fold per
    speaker (the run page says how many); many speakers or rows: 4 folds."""
    from inference.student.head_train import c_folds, logreg_head
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((3, 16)).astype(np.float32)
    items = _synthetic_items(60, rng, centres, "train")                   # 6 speakers
    head, details = logreg_head(pool_items(items), items, HeadTrainConfig())
    assert details["cv_folds"] == 6 and set(details["cv_uar"]) == {str(c) for c in HeadTrainConfig().c_grid}
    assert details["C"] in HeadTrainConfig().c_grid
    assert (c_folds(14, 177, HeadTrainConfig()), c_folds(400, 8000, HeadTrainConfig()),
            c_folds(12, 5000, HeadTrainConfig())) == (14, 4, 4)


def test_refit_full_fits_the_chosen_head_on_every_labelled_segment():
    """After the guard: the chosen head again, its standardisation (and fit) now
    from train + val + test, with what the run chose (head kind, epochs)."""
    from inference.student.head import ClassicalHead, EnsembleHead
    from inference.student.head_train import refit_chosen
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 16)).astype(np.float32)
    train, val, test = (_synthetic_items(n, rng, centres, split) for n, split in ((60, "train"), (12, "val"),
                                                                                 (12, "test")))
    result = fit_heads(train, val, cfg=HeadTrainConfig(epochs=3, patience=3))
    model, details = refit_chosen(result, train + val + test, cfg=HeadTrainConfig(epochs=3, patience=3))
    assert details["segments"] == 84 and details["head"] == result.chosen
    members = model.members if isinstance(model, EnsembleHead) else [model]
    everything = pool_items(train + val + test).mean(0)
    for member in members:
        mean = member.mean if isinstance(member, ClassicalHead) else member.feat_mean.numpy()
        assert np.allclose(mean, everything, atol=1e-4)                  # the test rows were seen
        assert not np.allclose(mean, pool_items(train + val).mean(0), atol=1e-4)


def test_the_grouped_choice_scores_each_candidate_out_of_fold():
    """A head that only memorises cannot look good out of fold: on features that
    carry no class, every candidate's grouped-CV UAR stays near chance."""
    from inference.student.head_train import grouped_cv_scores
    rng = np.random.default_rng(1)
    items = [Item(key=f"n{k}", split="train", feats=rng.standard_normal((10, 8)).astype(np.float16),
                  human=k % 3, group=f"s{k % 8}") for k in range(96)]
    noise = grouped_cv_scores(pool_items(items), items, 1.0, 30, LossConfig(), HeadTrainConfig())
    assert set(noise) == {"logreg", "head", "ensemble"} and max(noise.values()) < 0.55
    centres = rng.standard_normal((3, 8)).astype(np.float32) * 3
    for item in items:
        item.feats = (item.feats.astype(np.float32) + centres[item.human]).astype(np.float16)
    signal = grouped_cv_scores(pool_items(items), items, 1.0, 30, LossConfig(), HeadTrainConfig())
    assert min(signal.values()) > 0.9


def test_a_win_by_one_lucky_segment_is_not_a_release():
    """On 16 test segments one more right answer than the active student (0.312 vs
    0.25, as a run on shuffled labels can get by luck) does not replace it; a
    clear win does, and so does a first student well above the baseline."""
    from inference.student.release import release_decision
    lucky = release_decision(0.3125, 0.125, 16, active="ser-student@1", active_uar=0.25)
    assert not lucky.activate and "does not beat the active student" in lucky.reason
    assert "needs more than 0.358" in lucky.reason
    clear = release_decision(0.6, 0.125, 16, active="ser-student@1", active_uar=0.25)
    assert clear.activate and "beats the baseline (0.125) and ser-student@1" in clear.reason
    assert release_decision(0.56, 1 / 7, 79).activate
    assert not release_decision(0.17, 1 / 7, 79).activate     # above the baseline, but within its error (0.039)
