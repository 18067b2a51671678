"""Prelabelling segments from their face crops, idempotently, per version."""

import io

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clips.models import FaceTrack, Scene, Segment, Video
from inference.models import ModelVersion, Prelabel
from inference.teachers.prelabel import prelabel_all, prelabel_video
from inference.registry import active_model, activate, ensure_default_teacher, register_model
from inference.teachers.tasks import prelabel_video_task
from tests.teacher_helpers import astronaut_face, jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def video():
    """A segmented video: one segment with 3 face-crop JPEGs, one off-screen."""
    video = Video.objects.create(extractor="test", external_id="teacher-1", title="t",
                                 status=Video.Status.PRELABELLING, stage="segments", progress=90)
    scene = Scene.objects.create(video=video, index=0, start=0.0, end=10.0)
    track = FaceTrack.objects.create(video=video, scene=scene, identity=0, start=0.0, end=4.0)
    face = astronaut_face()
    crops = [default_storage.save(f"segments/{video.pk}/0/{i}.jpg",
                                  ContentFile(jpeg_bytes(face[:, ::-1] if i % 2 else face, size=112)))
             for i in range(3)]
    Segment.objects.create(video=video, scene=scene, face_track=track, start=0.5, end=3.5,
                           face_crops=crops, box=[76, 265, 166, 175])
    Segment.objects.create(video=video, scene=scene, face_track=None, start=5.0, end=8.0)
    return video


def test_prelabel_video_writes_one_prelabel_per_segment_with_faces(video):
    assert prelabel_video(video.pk) == 1
    [prelabel] = Prelabel.objects.all()
    assert prelabel.segment.face_crops and prelabel.model_version == active_model(ModelVersion.Kind.TEACHER)
    assert len(prelabel.probs) == 7 and sum(prelabel.probs) == pytest.approx(1.0)
    assert prelabel.category == "happy" and prelabel.confidence > 0.9
    assert -1 <= prelabel.valence <= 1 and -1 <= prelabel.arousal <= 1 and prelabel.va_derived
    assert prelabel.entropy >= 0
    video.refresh_from_db()
    assert (video.status, video.stage, video.progress) == (Video.Status.READY, "prelabelled", 100)


def test_second_run_updates_instead_of_duplicating(video):
    prelabel_video_task.delay(video.pk)  # the Celery task, eager in tests
    first = Prelabel.objects.get()
    assert prelabel_video(video.pk) == 1
    assert Prelabel.objects.count() == 1 and Prelabel.objects.get().pk == first.pk


def test_switching_teacher_keeps_old_prelabels(video, tmp_path):
    prelabel_video(video.pk)
    old = ensure_default_teacher()
    state = torch.load(io.BytesIO(default_storage.open(old.weights).read()), weights_only=True)
    state["classifier.bias"][0] += 0.5  # a different (worse) teacher
    torch.save(state, tmp_path / "other.pt")
    new = register_model("teacher", "other", "mini_xception", tmp_path / "other.pt")
    activate(new)
    assert prelabel_all()["segments"] == 1
    assert set(Prelabel.objects.values_list("model_version__name", flat=True)) == {old.name, "other"}
    assert Prelabel.objects.count() == 2


def test_unreadable_crops_are_skipped(video):
    segment = video.segments.exclude(face_crops=[]).get()
    segment.face_crops = ["segments/missing.jpg"]
    segment.save()
    assert prelabel_video(video.pk) == 0
    video.refresh_from_db()
    assert video.status == Video.Status.READY and not Prelabel.objects.exists()
    assert any("no segment had face crops" in n for n in video.notes)


def test_active_student_prelabels_offscreen_speech(video, tmp_path):
    """The hand-off of the contract: teacher for faces, student for the rest."""
    import numpy as np
    import soundfile

    from inference.student.features import FeatureConfig
    from inference.student.model import ARCH, ModelConfig, StudentNet
    from inference.student.predict import checkpoint_bytes
    torch.manual_seed(0)
    (tmp_path / "student.pt").write_bytes(checkpoint_bytes(StudentNet(ModelConfig()).eval(), FeatureConfig()))
    student = register_model("student", "ser", ARCH, tmp_path / "student.pt")
    assert student.is_active  # first student
    wav = io.BytesIO()
    t = np.arange(16000 * 2) / 16000
    soundfile.write(wav, 0.3 * np.sin(2 * np.pi * 220 * t), 16000, format="WAV", subtype="PCM_16")
    offscreen = video.segments.get(face_crops=[])
    offscreen.audio.save("offscreen.wav", ContentFile(wav.getvalue()))
    prelabel_video(video.pk)
    by_kind = dict(Prelabel.objects.values_list("model_version__kind", "segment_id"))
    assert by_kind["student"] == offscreen.pk
    assert by_kind["teacher"] != offscreen.pk
