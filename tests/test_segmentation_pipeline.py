"""Segmentation pipeline end to end: database rows, files, notes, commands,
Celery chain, reruns and failures."""

import json
import wave
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from clips import pipeline
from clips.models import FaceTrack, Person, ReferencePhoto, Scene, Segment, Video
from tests.conftest import shared_media
from tests.media.talking_face import colour_cuts, silent_video, talking_face

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("segmedia")


@pytest.fixture(scope="module")
def talking_cut(media_dir):
    """Astronaut talking, then a colour card from 3.5 s (two scenes)."""
    return talking_face(media_dir / "talking_cut.mp4", duration=5.5, lead=0.6, cut_at=3.5,
                        text="Good morning everybody, this is the news at nine. Thanks for watching.")


def make_video(path: Path, key: str = "v") -> Video:
    with open(path, "rb") as fh:
        name = default_storage.save(f"videos/{key}{path.suffix}", File(fh))
    return Video.objects.create(extractor="local", external_id=key, title=key, file=name, stage="downloaded",
                                status=Video.Status.SEGMENTING)


def report(video_id) -> dict:
    from io import StringIO
    out = StringIO()
    call_command("video_report", str(video_id), "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def wav_seconds(name: str) -> float:
    with default_storage.open(name, "rb") as fh, wave.open(fh) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        return w.getnframes() / w.getframerate()


def test_talking_video_is_segmented_prelabelled_and_reported(talking_cut):
    video = make_video(talking_cut.path)
    seen = []
    n = pipeline.process_video(video.pk, progress=lambda value, stage: seen.append((value, stage)))
    video.refresh_from_db()
    assert video.status == Video.Status.READY and video.stage == "prelabelled" and video.progress == 100
    assert video.error == ""
    values = [v for v, _ in seen]
    assert values == sorted(values) and {s for _, s in seen} >= {"scenes", "faces", "speakers", "segments"}

    data = report(video.pk)
    assert data["status"] == "ready"
    cut = talking_cut.cuts[0]
    assert len(data["scenes"]) == 2 and abs(data["scenes"][1][0] - cut) <= 0.041
    assert data["tracks"] == 1 and len(data["segments"]) == n >= 1
    on_screen = [s for s in data["segments"] if s["track"] is not None]
    assert on_screen, "the talking face must own a segment"
    seg = on_screen[0]
    top, right, bottom, left = seg["box"]
    t_top, t_right, t_bottom, t_left = talking_cut.face_box
    assert left < t_right and t_left < right and top < t_bottom and t_top < bottom  # the real face
    assert seg["start"] <= talking_cut.speech[0] + 0.1 and seg["end"] <= cut + 1e-3
    assert 1 <= seg["face_crops"] <= 8 and seg["speaking_confidence"] >= 0.35
    assert seg["prelabel"] and len(seg["prelabel"]["probs"]) == 7
    for s in data["segments"]:
        assert 1.5 - 1e-6 <= s["end"] - s["start"] <= 10 + 1e-6
        assert abs(wav_seconds(s["audio"]) - (s["end"] - s["start"])) < 0.002
    off = [s for s in data["segments"] if s["track"] is None]
    assert all(s["box"] is None and s["face_crops"] == 0 for s in off)

    row = Segment.objects.get(pk=seg["id"])
    for crop in row.face_crops:
        with default_storage.open(crop, "rb") as fh, Image.open(fh) as im:
            assert im.size == (112, 112) and im.format == "JPEG"


def test_rerun_is_idempotent_and_replaces_files(talking_cut, django_capture_on_commit_callbacks):
    video = make_video(talking_cut.path, "rerun")
    pipeline.process_video(video.pk)
    first = (Scene.objects.count(), FaceTrack.objects.count(), Segment.objects.count())
    files = sorted(p.name for p in Path(default_storage.path(f"segments/{video.pk}")).rglob("*") if p.is_file())

    assert pipeline.process_video(video.pk) == first[2]  # everything finished: nothing redone
    pipeline.rewind(video.pk, "faces")
    with django_capture_on_commit_callbacks(execute=True):  # old files go once the new rows commit
        assert pipeline.process_video(video.pk) == first[2]
    assert (Scene.objects.count(), FaceTrack.objects.count(), Segment.objects.count()) == first
    files_after = sorted(p.name for p in Path(default_storage.path(f"segments/{video.pk}")).rglob("*") if p.is_file())
    assert len(files_after) == len(files)  # old clips and crops removed, not piled up
    assert Video.objects.get(pk=video.pk).status == Video.Status.READY


def test_resumes_from_the_first_unfinished_stage(talking_cut):
    video = make_video(talking_cut.path, "resume")
    pipeline.run_stage(video.pk, "audio")
    pipeline.run_stage(video.pk, "scenes")
    scene_ids = list(Scene.objects.filter(video=video).values_list("pk", flat=True))
    call_command("segment_video", str(video.pk), "--sync")
    video.refresh_from_db()
    assert video.status == Video.Status.READY
    assert list(Scene.objects.filter(video=video).values_list("pk", flat=True)) == scene_ids  # not redone


def test_speech_over_colour_bars_is_off_screen(media_dir):
    truth = colour_cuts(media_dir / "bars.mp4", durations=(2.0, 3.0), speech_text="Hello from behind the camera.",
                        lead=0.5)
    video = make_video(truth.path, "bars")
    pipeline.process_video(video.pk)
    video.refresh_from_db()
    data = report(video.pk)
    assert data["tracks"] == 0 and data["segments"]
    assert all(s["track"] is None and s["box"] is None and s["face_crops"] == 0 for s in data["segments"])
    assert pipeline.NOTE_NO_FACES in video.notes and video.status == Video.Status.READY


def test_silent_video_has_no_segments_and_says_so(media_dir):
    video = make_video(silent_video(media_dir / "silent.mp4", duration=3.0).path, "silent")
    assert pipeline.process_video(video.pk) == 0
    video.refresh_from_db()
    assert video.status == Video.Status.READY and pipeline.NOTE_NO_SPEECH in video.notes
    assert report(video.pk)["segments"] == []


def test_audio_only_media_gives_off_screen_segments(media_dir):
    from tests.media.talking_face import RATE, speech_audio
    import soundfile as sf
    audio, _ = speech_audio("An interview on the radio, nothing to see here.", 0.5, 4.0)
    wav = media_dir / "radio.wav"
    sf.write(wav, audio, RATE)
    video = make_video(wav, "radio")
    pipeline.process_video(video.pk)
    video.refresh_from_db()
    data = report(video.pk)
    assert video.status == Video.Status.READY and len(data["scenes"]) == 1 and data["tracks"] == 0
    assert data["segments"] and all(s["track"] is None for s in data["segments"])
    assert pipeline.NOTE_AUDIO_ONLY in video.notes


def test_target_person_names_the_track(talking_cut, tmp_path):
    from skimage import data
    photo_path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo_path)
    person = Person.objects.create(name="Eileen Collins")
    with open(photo_path, "rb") as fh:
        ReferencePhoto.objects.create(person=person, image=File(fh, name="astronaut.png"))
    Person.objects.create(name="Nobody")  # no photos: never matches
    video = make_video(talking_cut.path, "named")
    pipeline.run_stage(video.pk, "audio")
    pipeline.run_stage(video.pk, "scenes")
    pipeline.run_stage(video.pk, "faces")
    assert [t.person.name for t in FaceTrack.objects.filter(video=video)] == ["Eileen Collins"]
    person.refresh_from_db()
    assert len(person.encodings) == 1 and len(person.encodings[0]) == 128


def test_broken_media_fails_with_a_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video at all")
    video = make_video(bad, "broken")
    with pytest.raises(Exception):
        pipeline.process_video(video.pk)
    video.refresh_from_db()
    assert video.status == Video.Status.FAILED
    assert "Segmentation failed at stage 'audio'" in video.error
    assert Segment.objects.count() == 0


def test_labelled_segments_are_never_deleted_by_a_rerun(talking_cut, annotator):
    from annotation.models import Label
    video = make_video(talking_cut.path, "labelled")
    pipeline.process_video(video.pk)
    seg = Segment.objects.filter(video=video).first()
    Label.objects.create(segment=seg, annotator=annotator, category="happy", valence=0.5, arousal=0.2)
    with pytest.raises(pipeline.SegmentationError, match="human labels"):
        pipeline.rewind(video.pk, "speakers")
    with pytest.raises(CommandError, match="human labels"):
        call_command("segment_video", str(video.pk), "--sync", "--from", "faces")
    video.refresh_from_db()
    assert Segment.objects.filter(pk=seg.pk).exists() and Label.objects.count() == 1
    assert video.status == Video.Status.READY and video.stage == "prelabelled"  # untouched
    pipeline.rewind(video.pk, "segments")  # new crops and clips keep segments (and labels)
    pipeline.process_video(video.pk)
    assert Segment.objects.filter(pk=seg.pk).exists() and Label.objects.count() == 1


def test_celery_chain_runs_every_stage_and_hands_to_prelabel(talking_cut):
    video = make_video(talking_cut.path, "chain")
    call_command("segment_video", str(video.pk))  # enqueues (eager in tests)
    video.refresh_from_db()
    assert video.status == Video.Status.READY and video.stage == "prelabelled"
    assert Segment.objects.filter(video=video).exclude(audio="").count() == Segment.objects.filter(video=video).count()


@pytest.mark.shared_media
def test_grid_clip_end_to_end():
    video = make_video(shared_media("clips", "grid_lbbc2a.mpg"), "grid")
    pipeline.process_video(video.pk)
    data = report(video.pk)
    assert data["status"] == "ready" and data["tracks"] == 1
    seg = next(s for s in data["segments"] if s["track"] is not None)
    top, right, bottom, left = seg["box"]
    assert 0 <= left < right <= 360 and 0 <= top < bottom <= 288 and right - left >= 48
    assert seg["face_crops"] >= 4


class SaysNobodySpeaks:
    """A stand-in trained active-speaker model (the plug-in point of issue 5)."""

    name = "nobody"

    def __init__(self, params):
        self.params = params

    def speaking_scores(self, start, end, candidates, audio):
        return [0.0 for _ in candidates]


def test_settings_override_parameters_and_plug_in_a_speaker_model(talking_cut, settings):
    settings.SEGMENTATION = {"segments": {"max_s": 2.0}}
    settings.SEGMENTATION_SPEAKER_MODEL = "tests.test_segmentation_pipeline.SaysNobodySpeaks"
    video = make_video(talking_cut.path, "plugged")
    pipeline.process_video(video.pk)
    segments = report(video.pk)["segments"]
    assert len(segments) >= 2 and all(s["end"] - s["start"] <= 2.0 + 1e-6 for s in segments)
    assert all(s["track"] is None for s in segments)
    assert report(video.pk)["speaker_model"] == "nobody, silero-vad"  # a plug-in names itself
    settings.SEGMENTATION_SPEAKER_MODEL = ""
    settings.SEGMENTATION = {"speakers": {"model": "mouth-motion", "vad": "webrtc"}}
    pipeline.run_stage(video.pk, "speakers")
    assert report(video.pk)["speaker_model"] == "mouth-motion-heuristic, webrtcvad"
    settings.SEGMENTATION = {"faces": {"detectorr": "cnn"}}
    with pytest.raises(ValueError, match="detectorr"):
        pipeline.default_params()


def test_commands_refuse_unknown_or_unimported_videos():
    with pytest.raises(CommandError, match="no video with id 999"):
        call_command("video_report", "999", "--json")
    with pytest.raises(CommandError, match="no video with id 999"):
        call_command("segment_video", "999", "--sync")
    pending = Video.objects.create(extractor="url", external_id="x", status=Video.Status.DOWNLOADING)
    with pytest.raises(CommandError, match="no media file yet"):
        call_command("segment_video", str(pending.pk), "--sync")
    pending.refresh_from_db()
    assert pending.status == Video.Status.DOWNLOADING  # a download in progress is left alone


def test_the_proxy_is_rebuilt_when_cut_off_or_missing_and_removed_at_the_end(talking_cut,
                                                                          django_capture_on_commit_callbacks):
    """The scenes stage stores the proxy; a stage that finds it cut off or gone builds
    it again; once the crops are made it is deleted."""
    from clips import proxies

    video = make_video(talking_cut.path, "proxy")
    pipeline.run_stage(video.pk, "audio")
    pipeline.run_stage(video.pk, "scenes")
    stored = lambda: [Path(default_storage.path(n)) for n in proxies.stored_proxies(video.pk)]  # noqa: E731
    path, = stored()
    whole = path.read_bytes()
    path.write_bytes(whole[:4096])  # cut off (still readable as far as it goes)
    pipeline.run_stage(video.pk, "faces")
    path, = stored()
    assert abs(path.stat().st_size - len(whole)) < 0.05 * len(whole)  # built again, whole
    assert FaceTrack.objects.filter(video=video).count() == 1
    path.unlink()
    (path.parent / f"{video.pk}-killed-123.part").write_bytes(b"half a proxy")  # a writer killed on the way
    pipeline.run_stage(video.pk, "speakers")
    assert len(stored()) == 1 and Segment.objects.filter(video=video, face_track__isnull=False).exists()
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.run_stage(video.pk, "segments")
    assert stored() == [] and not list(path.parent.glob(f"{video.pk}-*"))
    assert all(s.face_crops for s in Segment.objects.filter(video=video, face_track__isnull=False))
