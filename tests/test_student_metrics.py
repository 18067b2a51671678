"""Student figures are computed from predictions (checked against sklearn),
and the loss parts behave as their definitions say."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn import metrics as skm

from inference.student import metrics as M
from inference.student.features import FeatureConfig, log_mel, read_audio
from inference.student.losses import LossConfig, ccc_loss, class_weights, kl_to_teacher, student_loss
from inference.student.model import ModelConfig, StudentNet

TRUE = np.array([0, 0, 0, 3, 3, 4, 4, 4, 4, 6, 6, 6])
PRED = np.array([0, 3, 0, 3, 6, 4, 4, 0, 4, 6, 6, 2])   # class 2 predicted but never true


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_classification_figures_match_sklearn():
    figures = M.classification_figures(TRUE, PRED)
    assert figures["uar"] == pytest.approx(skm.balanced_accuracy_score(TRUE, PRED))
    assert figures["wa"] == pytest.approx(skm.accuracy_score(TRUE, PRED))
    assert figures["macro_f1"] == pytest.approx(skm.f1_score(TRUE, PRED, average="macro"))
    assert figures["confusion"] == skm.confusion_matrix(TRUE, PRED, labels=range(7)).tolist()
    recall = skm.recall_score(TRUE, PRED, labels=[0, 3, 4, 6], average=None)
    assert [figures["per_class_recall"][c] for c in ("angry", "happy", "sad", "neutral")] == pytest.approx(recall)
    assert figures["per_class_recall"]["fear"] is None  # absent from the truth: no recall, not 0
    assert figures["n"] == len(TRUE)


def test_ccc_matches_its_definition():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(scale=0.3, size=50) + 0.2
    expected = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert M.ccc(x, y) == pytest.approx(expected)
    assert M.ccc(x, x) == pytest.approx(1.0)
    assert M.ccc(x, x + 1.0) < 1.0          # a bias costs concordance, not correlation
    assert M.ccc([0.3], [0.1]) is None
    # torch version used in the loss agrees
    loss = ccc_loss(torch.tensor(np.stack([x, x], 1)), torch.tensor(np.stack([y, y], 1)), torch.ones(50))
    assert float(loss) == pytest.approx(1 - expected, abs=1e-6)


def test_majority_baseline_predicts_the_training_majority():
    base = M.majority_baseline([6, 6, 6, 0, 3], TRUE)
    assert base["predicts"] == "neutral"
    assert base["wa"] == pytest.approx(3 / 12)
    assert base["uar"] == pytest.approx(0.25)   # 4 classes present, one of them always right
    va = M.majority_baseline([6, 0], TRUE, train_va=[[0.1, 0.2], [0.3, 0.4]],
                             target_va=np.random.default_rng(0).normal(size=(12, 2)))
    assert va["ccc_valence"] == pytest.approx(0.0)


def test_confusion_png_is_an_image():
    png = M.confusion_png(M.confusion_matrix(TRUE, PRED), title="t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([0, 0, 0, 0, 0, 0, 3, 3, -1]), 7)
    assert w[3] > w[0]
    assert w[np.array([0] * 6 + [3] * 2)].mean() == pytest.approx(1.0)


def test_kl_is_zero_when_the_student_agrees_with_the_teacher():
    teacher = torch.softmax(torch.randn(4, 7), -1)
    agree = kl_to_teacher(teacher.log(), teacher, torch.ones(4), torch.ones(4), temperature=2.0)
    disagree = kl_to_teacher(-teacher.log(), teacher, torch.ones(4), torch.ones(4), temperature=2.0)
    assert float(agree) == pytest.approx(0.0, abs=1e-5)
    assert float(disagree) > 0.1


def test_loss_parts_skip_rows_without_targets():
    out = {"logits": torch.randn(3, 7), "va": torch.zeros(3, 2)}
    batch = {"human": torch.tensor([-1, -1, -1]), "teacher_probs": torch.zeros(3, 7),
             "has_teacher": torch.zeros(3), "va": torch.zeros(3, 2), "has_va": torch.zeros(3)}
    parts = student_loss(out, batch, LossConfig(), torch.ones(7))
    assert float(parts["total"]) == 0.0  # nothing to learn from, and no NaN
    batch["human"] = torch.tensor([2, -1, 5])
    assert float(student_loss(out, batch, LossConfig(), torch.ones(7))["ce"]) > 0


def test_features_accept_any_rate_and_stereo():
    rate = 44100
    t = np.arange(rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 440 * t)], 1).astype(np.float32) * 0.3
    buffer = io.BytesIO()
    sf.write(buffer, stereo, rate, format="WAV")
    wave = read_audio(buffer.getvalue(), 16000)
    assert wave.ndim == 1 and abs(wave.size - 16000) <= 2
    feats = log_mel(wave, FeatureConfig())
    assert feats.shape == (64, 101)
    with pytest.raises(ValueError, match="cannot read audio"):
        read_audio(b"not audio at all", 16000)


def test_model_masks_batch_padding():
    """A clip padded in a batch gets (almost) the same answer as alone: only the
    conv edge frames see the padding; attention pooling never does."""
    torch.manual_seed(0)
    model = StudentNet(ModelConfig(channels=(4, 8), rnn_hidden=8)).eval()
    feats = torch.randn(1, 64, 120)
    padded = torch.cat([feats, torch.full((1, 64, 200), -13.8)], dim=2)
    with torch.no_grad():
        alone = torch.softmax(model(feats, torch.tensor([120]))["logits"], -1)
        masked = torch.softmax(model(padded, torch.tensor([120]))["logits"], -1)
        unmasked = torch.softmax(model(padded)["logits"], -1)
    assert (alone - masked).abs().max() < 0.2 * (alone - unmasked).abs().max()
    assert model(feats)["logits"].shape == (1, 7) and model(feats)["va"].shape == (1, 2)
