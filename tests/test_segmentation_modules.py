"""Pure segmentation modules on generated media (always run) and on the
shared GRID / Hamilton clips (skipped when ../shared is absent)."""

import random
import subprocess
import sys
import time

import numpy as np
import pytest

from clips.media import extract_audio as extract_wav
from clips.segmentation.crops import align_face
from clips.segmentation.faces import FaceTrack, _leader_clusters, cluster_identities, iou, track_faces
from clips.segmentation.params import SegmentParams
from clips.segmentation.people import encode_reference_photo, name_tracks
from clips.segmentation.scenes import Scene, detect_scenes
from clips.segmentation.segments import make_segments
from clips.segmentation.speakers import SpeechTurn, find_speech_turns
from tests.conftest import shared_media
from tests.media.talking_face import colour_cuts, talking_face

FRAME = 1 / 25


def segment_media(path, tmp_path):
    scenes = detect_scenes(path)
    tracks = track_faces(path, scenes)
    wav = extract_wav(path, tmp_path / "audio.wav")
    turns = find_speech_turns(wav, tracks, scenes=scenes, video_path=path)
    return scenes, tracks, turns, make_segments(turns, scenes)


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    return talking_face(tmp_path_factory.mktemp("gen") / "talking.mp4", duration=5.0, lead=1.0)


def test_scene_cuts_are_found_within_one_frame(tmp_path):
    truth = colour_cuts(tmp_path / "cuts.mp4", durations=(2.0, 1.4, 2.2))
    scenes = detect_scenes(truth.path)
    assert len(scenes) == 3
    for found, expected in zip([s.start for s in scenes[1:]], truth.cuts):
        assert abs(found - expected) <= FRAME + 1e-3
    assert scenes[0].start == 0.0 and abs(scenes[-1].end - truth.duration) < 0.05


def test_one_endless_shot_is_one_scene_covering_the_video(talking):
    scenes = detect_scenes(talking.path)
    assert [(s.start, round(s.end, 1)) for s in scenes] == [(0.0, 5.0)]


def test_audio_only_media_is_one_scene_and_has_no_faces(tmp_path):
    path = tmp_path / "voice.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=220:d=2.5", "-c:a", "aac", str(path)],
                   check=True)
    scenes = detect_scenes(path)
    assert len(scenes) == 1 and scenes[0].start == 0 and abs(scenes[0].end - 2.5) < 0.1
    assert track_faces(path, scenes) == []


def test_talking_face_gives_one_on_screen_segment_covering_the_speech(talking, tmp_path):
    scenes, tracks, turns, segments = segment_media(talking.path, tmp_path)
    assert len(tracks) == 1
    assert iou(tracks[0].median_box(), talking.face_box) > 0.6
    assert len(segments) == 1
    seg = segments[0]
    assert seg.track == tracks[0].index and seg.confidence >= 0.35
    speech_start, speech_end = talking.speech
    assert speech_start - 0.3 <= seg.start <= speech_start + 0.1
    assert speech_end - 0.1 <= seg.end <= speech_end + 0.3


def test_a_still_face_with_a_voice_over_is_off_screen_speech(tmp_path):
    truth = talking_face(tmp_path / "still.mp4", duration=4.0, animate=False)
    _, tracks, _, segments = segment_media(truth.path, tmp_path)
    assert len(tracks) == 1  # the face is seen ...
    assert segments and all(s.track is None for s in segments)  # ... but is not the one speaking


def test_the_moving_mouth_is_the_speaker_not_the_listener(tmp_path):
    truth = talking_face(tmp_path / "pair.mp4", duration=4.0, size=(640, 360), listener=True)
    _, tracks, _, segments = segment_media(truth.path, tmp_path)
    assert len(tracks) == 2
    assert len(segments) == 1 and segments[0].track is not None
    speaker = tracks[segments[0].track]
    assert iou(speaker.median_box(), truth.face_box) > 0.6  # the left (talking) copy


def test_speech_on_colour_bars_is_one_off_screen_segment(tmp_path):
    truth = colour_cuts(tmp_path / "bars.mp4", durations=(4.0,), speech_text="This is the voice of nobody on screen.")
    scenes, tracks, _, segments = segment_media(truth.path, tmp_path)
    assert tracks == []
    assert len(segments) == 1 and segments[0].track is None
    assert segments[0].start <= truth.speech[0] + 0.1 and segments[0].end >= truth.speech[1] - 0.1


def test_speech_across_a_scene_cut_is_split_at_the_cut(tmp_path):
    truth = talking_face(tmp_path / "cut.mp4", duration=6.0, lead=0.5, cut_at=2.5,
                         text="One two three four five six seven eight nine ten eleven twelve.")
    scenes, tracks, _, segments = segment_media(truth.path, tmp_path)
    assert len(scenes) == 2 and abs(scenes[1].start - 2.5) <= FRAME + 1e-3
    cut = scenes[1].start
    assert all(t.end <= cut for t in tracks)
    before = [s for s in segments if s.end <= cut + 1e-3]
    after = [s for s in segments if s.start >= cut - 1e-3]
    assert len(before) + len(after) == len(segments)  # nothing straddles the cut
    assert before and before[0].track is not None  # the face speaks before the cut
    assert after and all(s.track is None for s in after)  # a colour card after it


def test_segments_respect_min_and_max_length():
    params = SegmentParams(min_s=1.5, max_s=10.0)
    rng = random.Random(7)
    scenes, t = [], 0.0
    for i in range(30):
        d = rng.choice([0.8, 3.0, 12.0, 40.0])
        scenes.append(Scene(i, t, t + d))
        t += d
    turns, t = [], 0.0
    while t < scenes[-1].end:
        d = rng.uniform(0.2, 30.0)
        turns.append(SpeechTurn(t, min(t + d, scenes[-1].end), rng.choice([None, 1, 2]), rng.random()))
        t += d + rng.uniform(0.05, 2.0)
    segments = make_segments(turns, scenes, params)
    assert segments
    for seg in segments:
        assert params.min_s - 1e-6 <= seg.duration <= params.max_s + 1e-6
        scene = scenes[seg.scene_index]
        assert scene.start - 1e-6 <= seg.start and seg.end <= scene.end + 1e-6
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segments, segments[1:]))  # no overlaps


def test_long_turn_split_short_turn_widened_or_dropped():
    scenes = [Scene(0, 0.0, 30.0), Scene(1, 30.0, 31.0)]
    turns = [SpeechTurn(1.0, 26.0, 0, 0.9), SpeechTurn(28.0, 28.6, None, 1.0), SpeechTurn(30.2, 30.8, 1, 0.8)]
    segments = make_segments(turns, scenes)
    long_parts = [s for s in segments if s.track == 0]
    assert len(long_parts) == 3 and long_parts[0].start == 1.0 and long_parts[-1].end == 26.0
    short = [s for s in segments if s.track is None]
    assert len(short) == 1 and short[0].duration == pytest.approx(1.5) and short[0].start <= 28.0
    assert not [s for s in segments if s.track == 1]  # a 1 s scene has no room for 1.5 s


def test_crops_are_aligned_with_level_eyes(tmp_path):
    import face_recognition
    from scipy.ndimage import rotate
    from skimage import data

    photo = rotate(data.astronaut(), 12, reshape=False, mode="nearest")  # tilted head
    box = face_recognition.face_locations(photo)[0]
    crop = align_face(photo, box, 112)
    assert crop.shape == (112, 112, 3)
    marks = face_recognition.face_landmarks(crop, [(0, 111, 111, 0)])[0]
    left, right = np.mean(marks["left_eye"], axis=0), np.mean(marks["right_eye"], axis=0)
    assert abs(left[1] - right[1]) < 3  # level
    assert 30 < right[0] - left[0] < 45  # same scale for every face


def test_reference_photos_name_the_right_person():
    obama = encode_reference_photo(shared_media("people", "obama.jpg"))
    biden = encode_reference_photo(shared_media("people", "biden.jpg"))
    import face_recognition
    pair = face_recognition.load_image_file(shared_media("people", "obama_and_biden.jpg"))
    encodings = [list(e) for e in face_recognition.face_encodings(pair)]
    names = name_tracks(encodings + [None], {"obama": [obama], "biden": [biden]})
    assert sorted(n for n in names if n) == ["biden", "obama"] and names[-1] is None


@pytest.mark.shared_media
def test_grid_speaker_is_on_screen_and_the_leading_silence_is_left_out(tmp_path):
    import face_recognition
    import soundfile as sf

    path = shared_media("clips", "grid_bbaf2n.mpg")
    scenes, tracks, _, segments = segment_media(path, tmp_path)
    assert len(scenes) == 1 and len(tracks) == 1
    on_screen = [s for s in segments if s.track is not None]
    assert on_screen
    # The face, found independently on a full-size frame in the middle.
    frame = subprocess.run(["ffmpeg", "-v", "error", "-ss", "1.5", "-i", str(path), "-frames:v", "1",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    face = face_recognition.face_locations(np.frombuffer(frame, np.uint8).reshape(288, 360, 3), 2)[0]
    assert iou(tracks[on_screen[0].track].median_box(on_screen[0].start, on_screen[0].end), face) > 0.5
    # Speech by loudness: 50 ms windows louder than a tenth of the loudest.
    audio, rate = sf.read(tmp_path / "audio.wav")
    win = rate // 20
    rms = np.sqrt([np.mean(audio[i:i + win] ** 2) for i in range(0, len(audio) - win, win)])
    loud = np.flatnonzero(rms > rms.max() / 10) * 0.05
    first, last = loud[0], loud[-1] + 0.05
    assert first > 0.3  # the clip really starts with silence
    assert first - 0.2 <= on_screen[0].start <= first + 0.1
    assert on_screen[-1].end >= last - 0.15


@pytest.mark.shared_media
def test_hamilton_clip_gives_several_tracks_and_clean_segments(tmp_path):
    path = shared_media("clips", "short_hamilton_clip.mp4")
    scenes, tracks, _, segments = segment_media(path, tmp_path)
    assert len(scenes) >= 2 and len(tracks) >= 2
    assert len({t.identity for t in tracks}) >= 2
    for seg in segments:
        assert 1.5 - 1e-6 <= seg.duration <= 10 + 1e-6
        if seg.track is not None:
            assert tracks[seg.track].scene_index == seg.scene_index


def test_identities_are_clustered_across_scenes():
    rng = np.random.default_rng(0)
    alice, bob = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    alice *= 0.6 / np.linalg.norm(alice - bob)  # keep them well apart, but not trivially
    people = [alice, bob, alice, alice, bob]
    tracks = [FaceTrack(index=i, scene_index=i, boxes=[(float(i), 0, 1, 1, 0)],
                        encoding=list(p + rng.normal(0, 0.01, 128))) for i, p in enumerate(people)]
    tracks.append(FaceTrack(index=5, scene_index=5, boxes=[(5.0, 0, 1, 1, 0)], encoding=None))
    cluster_identities(tracks, 0.3)
    assert [t.identity for t in tracks] == [0, 1, 0, 0, 1, -1]
    data = np.array([t.encoding for t in tracks[:5]])
    assert list(_leader_clusters(data, 0.3)) == [0, 1, 0, 0, 1]  # the long-video path agrees


def test_detector_choice_is_automatic_and_overridable():
    from face_recognition import api
    from skimage import data

    from clips.segmentation.faces import choose_detector, detect, dlib_has_cuda, face_finder
    from clips.segmentation.params import FaceParams

    assert choose_detector(FaceParams()) == "blazeface"
    assert choose_detector(FaceParams(detector="auto")) == ("cnn" if dlib_has_cuda() else "hog")
    assert choose_detector(FaceParams(detector="cnn")) == "cnn"
    with pytest.raises(ValueError, match="unknown face detector"):
        choose_detector(FaceParams(detector="yolo"))
    face = np.ascontiguousarray(data.astronaut()[:300, 100:400])
    for kind in ("hog", "cnn"):  # both dlib detectors find the same face
        rects = detect(api, face, kind, 0)
        assert len(rects) == 1 and 60 <= rects[0].width() <= 160
    find, close = face_finder(api, FaceParams(), face.shape[1])  # ... and so does BlazeFace
    try:
        rects = find(face)
    finally:
        close()
    assert len(rects) == 1 and 60 <= rects[0].width() <= 160


def test_lip_openings_between_detections_only_when_the_heuristic_reads_them(talking):
    from clips.segmentation.params import SegmentationParams

    light_asd = SegmentationParams().face_stage()
    heuristic = SegmentationParams.from_dict({"speakers": {"model": "mouth-motion"}}).face_stage()
    assert heuristic.lips_between_detections and not light_asd.lips_between_detections
    scenes = detect_scenes(talking.path)
    every = track_faces(talking.path, scenes, heuristic)[0]
    sampled = track_faces(talking.path, scenes, light_asd)[0]
    assert sampled.boxes == every.boxes  # the same tracks ...
    assert [m[0] for m in sampled.mouth] == [b[0] for b in sampled.boxes]  # ... lips at detections only
    assert len(every.mouth) > 1.8 * len(sampled.mouth)


def test_a_file_replaced_in_place_is_probed_again(tmp_path):
    """Probes are remembered per file version: a re-encoded file at the same path
    must not report the old one's size."""
    from clips.segmentation.av import probe

    clip = tmp_path / "clip.mp4"

    def encode(size):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=s={size}:d=1", "-pix_fmt",
                        "yuv420p", str(clip)], check=True)

    encode("320x240")
    assert (probe(clip).width, probe(clip).height) == (320, 240)
    encode("160x120")
    assert (probe(clip).width, probe(clip).height) == (160, 120)


def test_light_asd_takes_the_idle_cores_and_only_those(monkeypatch, tmp_path):
    """A lone video gets every core for its costliest network; busy cores (another
    video in the other worker) keep it at one thread, and torch's count comes back."""
    import torch

    from clips.segmentation import cpu

    cores = cpu.usable_cores()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.3)
        assert cpu.threads_for_model() == 1  # every core busy
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    assert cpu.threads_for_model(wanted=64) == cores  # a setting, never more than the cores
    meter = cpu.CoreMeter()
    sum(i * i for i in range(3_000_000))  # this process's own work counts as free
    assert meter.free_cores() >= 0.8
    monkeypatch.setattr(cpu, "usable_cores", lambda: 4)
    monkeypatch.setattr(cpu.CoreMeter, "free_cores", lambda self, min_s=0.25: 1.9)
    assert cpu.threads_for_model() == 2
    monkeypatch.setattr(cpu.CoreMeter, "free_cores", lambda self, min_s=0.25: None)  # not Linux
    assert cpu.threads_for_model() == 1
    # a container allowed 2 cores of a bigger host (cgroup v2, then v1; "max": no limit)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("200000 100000\n")
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu.cpu_quota(tmp_path / "v2") == 2.0 and cpu.cpu_quota(tmp_path / "v1") == 1.5
    (tmp_path / "v2" / "cpu.max").write_text("max 100000\n")
    assert cpu.cpu_quota(tmp_path / "v2") is None and cpu.cpu_quota(tmp_path / "none") is None
    before = torch.get_num_threads()
    with cpu.torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
