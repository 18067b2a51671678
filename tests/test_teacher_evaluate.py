"""evaluate_teacher prints its contract line on labelled face folders."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from inference.models import ModelVersion
from tests.conftest import shared_media
from tests.teacher_helpers import astronaut, astronaut_face

pytestmark = pytest.mark.django_db
LINE = re.compile(r"^accuracy=(\d\.\d{3}) macro_f1=(\d\.\d{3}) n=(\d+) ms_per_face=(\d+\.\d)$")


@pytest.fixture
def faces_dir(tmp_path):
    happy = tmp_path / "happy"
    happy.mkdir()
    Image.fromarray(astronaut()).save(happy / "whole_photo.jpg")  # face found and cropped
    Image.fromarray(astronaut_face()).resize((48, 48)).convert("L").save(happy / "fer_style.png")  # used whole
    Image.fromarray(astronaut_face()[:, ::-1]).save(happy / "mirrored.jpg")
    (tmp_path / "notes").mkdir()  # not a class: ignored
    return tmp_path


def test_prints_contract_line_last(faces_dir):
    out = io.StringIO()
    call_command("evaluate_teacher", str(faces_dir), stdout=out)
    lines = out.getvalue().strip().splitlines()
    match = LINE.match(lines[-1])
    assert match, lines[-1]
    assert float(match.group(1)) == 1.0 and int(match.group(3)) == 3
    assert "happy" in lines[-2] or "neutral" in lines[-2]  # confusion matrix above it
    evaluation = ModelVersion.objects.get(is_active=True).metrics["evaluation"]
    assert evaluation["n"] == 3 and evaluation["faces_found"] >= 1


def test_json_last_line(faces_dir):
    out = io.StringIO()
    call_command("evaluate_teacher", str(faces_dir), "--json", "--teacher", "fer-mini-xception", stdout=out)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "n", "ms_per_face", "confusion"} <= set(result)
    assert result["teacher"] == "teacher:fer-mini-xception@1"
    assert result["n"] == 3 and len(result["confusion"]) == 7


def test_missing_dir_and_unknown_teacher_fail_clearly(tmp_path, faces_dir):
    with pytest.raises(CommandError, match="not a directory"):
        call_command("evaluate_teacher", str(tmp_path / "nope"))
    with pytest.raises(CommandError, match="no teacher called 'nobody'"):
        call_command("evaluate_teacher", str(faces_dir), "--teacher", "nobody")


@pytest.mark.shared_media
def test_accuracy_on_fer2013_test_faces():
    directory = shared_media("faces")
    out = io.StringIO()
    call_command("evaluate_teacher", str(directory), stdout=out)
    accuracy, macro_f1, n, _ = LINE.match(out.getvalue().strip().splitlines()[-1]).groups()
    assert int(n) == 140
    assert float(accuracy) >= 0.59  # chance is 0.14; a faithful port scores ~0.60
