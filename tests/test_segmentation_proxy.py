"""The proxy (one decode of the source, downscaled copy read by the later stages)
gives what decoding the source gave; the identity check skips jump cuts of the
same person without missing other people."""

import numpy as np
import pytest

from clips.media import extract_audio
from clips.segmentation.av import iter_frames, probe
from clips.segmentation.crops import CropRequest, make_face_crops, pick_crop_times
from clips.segmentation.faces import find_faces
from clips.segmentation.light_asd_speaker import proxy_detailed_enough, score_tracks
from clips.segmentation.params import FaceParams, SceneParams
from clips.segmentation.scenes import Scene, detect_scenes
from tests.conftest import shared_media
from tests.media.talking_face import talking_face


@pytest.fixture(scope="module")
def hd(tmp_path_factory):
    """A 1280x720 talking head and its proxy, written by the scenes pass."""
    folder = tmp_path_factory.mktemp("proxy")
    truth = talking_face(folder / "hd.mp4", duration=3.0, lead=0.5, size=(1280, 720), photo_px=720,
                         text="Good evening and welcome to the news.")
    proxy = folder / "hd.proxy.mp4"
    scenes = detect_scenes(truth.path, SceneParams(), proxy=proxy)
    return truth, proxy, scenes


def same_frames(video, proxy, size) -> list[float]:
    """Mean grey difference of each 10 fps frame of the video and of its proxy."""
    a = [f for _, f in iter_frames(video, 10, size, gray=True)]
    b = [f for _, f in iter_frames(proxy, 10, size, gray=True)]
    assert len(a) == len(b)
    return [float(np.abs(x.astype(int) - y.astype(int)).mean()) for x, y in zip(a, b)]


def test_the_scenes_pass_writes_a_downscaled_proxy_on_the_same_timeline(hd):
    truth, proxy, scenes = hd
    assert scenes == detect_scenes(truth.path)  # writing it changes nothing
    info, small = probe(truth.path), probe(proxy)
    assert (small.width, small.height) == (640, 360) and abs(small.duration - info.duration) < 0.1
    diffs = same_frames(truth.path, proxy, (640, 360))
    assert len(diffs) >= 25 and max(diffs) < 2.0  # the same frames at the same times


def test_a_variable_frame_rate_video_keeps_every_frame_in_its_proxy(tmp_path):
    """Frames 1/30 s apart with jitter and a 0.5 s pause (a phone video): none lost or moved."""
    import subprocess
    clip, proxy = tmp_path / "vfr.mp4", tmp_path / "vfr.proxy.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=960x540:rate=30:duration=4",
                    "-f", "lavfi", "-i", "sine=f=300:duration=4", "-shortest", "-c:a", "aac",
                    "-vf", r"setpts='(N/30+0.011*mod(N\,3)+if(gt(N\,60)\,0.5\,0))/TB'", "-fps_mode", "passthrough",
                    "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    detect_scenes(clip, SceneParams(), proxy=proxy)
    assert np.mean(same_frames(clip, proxy, (320, 180))) < 1.0


@pytest.mark.shared_media
def test_the_proxy_keeps_a_late_video_start(tmp_path):
    """Hamilton's picture starts 0.85 s after its sound: frame i of the proxy is still frame i."""
    clip = shared_media("clips", "short_hamilton_clip.mp4")
    proxy = tmp_path / "h.mp4"
    assert detect_scenes(clip, SceneParams(), proxy=proxy) == detect_scenes(clip)
    diffs = same_frames(clip, proxy, (320, 180))
    assert np.mean(diffs) < 3.0  # one frame off would be ~9 (fast cuts and camera moves)


def test_scenes_do_not_depend_on_the_proxy_being_written(hd, tmp_path):
    truth, _, scenes = hd
    nowhere = tmp_path / "no-such-folder" / "proxy.mp4"
    assert detect_scenes(truth.path, SceneParams(), proxy=nowhere) == scenes and not nowhere.exists()


def test_faces_speakers_and_crops_from_the_proxy_match_the_source(hd, tmp_path):
    truth, proxy, scenes = hd
    direct, via = find_faces(truth.path, scenes), find_faces(truth.path, scenes, proxy=proxy)
    assert len(direct.tracks) == len(via.tracks) == 1
    a, b = direct.tracks[0], via.tracks[0]
    assert [r[0] for r in a.boxes] == [r[0] for r in b.boxes]
    assert np.abs(np.array(a.boxes)[:, 1:] - np.array(b.boxes)[:, 1:]).max() <= 8  # source pixels

    wav = extract_audio(truth.path, tmp_path / "a.wav")
    regions = [(0.5, truth.duration)]
    halves = [np.maximum(np.array(a.boxes)[:, 2] - np.array(a.boxes)[:, 4], 0) / 2]
    assert proxy_detailed_enough(halves, 0.5, 0.75)  # so Light-ASD does read the proxy here
    t1, p1 = score_tracks(truth.path, wav, [a], regions)[a.index]
    t2, p2 = score_tracks(truth.path, wav, [a], regions, proxy=proxy)[a.index]
    assert np.array_equal(t1, t2) and np.abs(p1 - p2).max() < 0.1

    requests = [CropRequest(0, t, box) for t, box in pick_crop_times(a, 0.0, truth.duration, 4)]
    crops = {}
    for name, kw in (("source", {}), ("proxy", {"proxy": proxy})):
        got = []
        make_face_crops(truth.path, requests, FaceParams().sample_fps, lambda k, n, jpeg: got.append(jpeg), **kw)
        crops[name] = got
    assert len(crops["source"]) == len(crops["proxy"]) == 4 and crops["source"] != crops["proxy"]  # two paths
    import cv2
    for x, y in zip(crops["source"], crops["proxy"]):
        img = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_GRAYSCALE).astype(int) for j in (x, y)]
        assert np.abs(img[0] - img[1]).mean() < 6  # the same aligned face


def test_light_asd_reads_the_source_where_faces_are_small_in_the_proxy():
    """A 1080p wide shot (a 90 px face, 30 px in a 640 px proxy) keeps the detail the model
    had; a 720p talking head (a 300 px face) reads the proxy."""
    wide, head = [np.full(50, 45.0), np.full(50, 250.0)], [np.full(50, 150.0)]
    assert not proxy_detailed_enough(wide, 640 / 1920, 960 / 1920)
    assert proxy_detailed_enough(head, 640 / 1280, 960 / 1280)
    assert proxy_detailed_enough(wide, 1.0, 1.0)  # a proxy as fine as the source


def test_a_face_too_small_in_the_proxy_is_cropped_from_the_source(hd):
    truth, proxy, _ = hd
    request = CropRequest("k", 1.0, (300, 660, 380, 580))  # 80 px wide: 40 px in the proxy, less than the crop
    crops = {}
    for name, kw in (("source", {}), ("proxy", {"proxy": proxy})):
        got = []
        assert make_face_crops(truth.path, [request], 5.0, lambda k, n, j: got.append(j), **kw) == 1
        crops[name] = got
    assert crops["source"] == crops["proxy"]  # the very same pixels


@pytest.mark.shared_media
def test_jump_cuts_of_the_same_person_need_no_identity_encoding(tmp_path, monkeypatch):
    """A looped clip (the head jumps back every 2 s) is one person: no cut, and the
    jumps cost no encoding unless looks are ignored (identity_look_similarity=1)."""
    from clips.segmentation import faces
    from tests.media.grid_composites import montage

    a = shared_media("clips", "grid_bbaf2n.mpg")
    comp = montage([a, a, a], [2.0, 2.0, 2.0], tmp_path / "aaa.mp4")
    calls = []
    real = faces.face_encoder(faces._models())

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(faces, "face_encoder", lambda api: counting)
    counts = {}
    for similarity in (0.9, 1.0):
        calls.clear()
        found = find_faces(comp.path, [Scene(0, 0.0, comp.duration)], FaceParams(identity_look_similarity=similarity))
        assert found.cuts == [] and len(found.tracks) == 1
        counts[similarity] = len(calls)
    assert counts[0.9] < counts[1.0]
