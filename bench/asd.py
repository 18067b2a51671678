"""Who speaks, speech and faces: the trained models against the earlier ones.

    .venv/bin/python bench/asd.py [--shared ../shared/media]

Builds, with ffmpeg, composites of the GRID clips in ../shared/media/clips
(tests/media/grid_composites.py: two talking people side by side with one
voice muted in turn; a montage of four similar shots with known cut times)
and reports, each on the same face tracks:
- who speaks, per 25 fps frame of speech: accuracy of the chosen face
  (argmax score, "nobody" below the model's threshold) and mAP of the
  per-face scores, for the mouth-motion heuristic (1 s windows, as the
  pipeline decides) and Light-ASD (its smoothed per-frame probability),
  plus the accuracy of the final speech turns each gives;
- cut recall on the montage (within 0.15 s): PySceneDetect alone, and with
  the identity cuts of face tracking;
- speech precision / recall (10 ms frames) of silero-vad and webrtcvad on
  the composites and on espeak-ng speech between music-like chords and noise;
- faces found per sampled frame (3 fps, 640x360) of short_hamilton_clip.mp4
  for dlib HOG and BlazeFace full-range, and ms per frame.
Last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CUT_TOLERANCE_S = 0.15


class AlreadyScored:
    """A prepared model, everything but `prepare`: find_speech_turns reuses its scores."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        if name == "prepare":
            raise AttributeError(name)
        return getattr(self._model, name)


def slot_of(track, comp, width) -> int:
    """Which face of the composite a track is (left/right half; the only one in a montage)."""
    if comp.faces == 1:
        return 0
    top, right, bottom, left = track.median_box()
    return 0 if (left + right) / 2 < width / 2 else 1


def frame_scores(model, tracks, audio, comp, width, window_s):
    """(n_frames, n_slots) score of each face slot per frame (nan where not visible)."""
    n = len(comp.speaker)
    scores = np.full((n, comp.faces), np.nan)
    for f in range(n):
        t = f / 25  # frame f's time; a 0.04 s window holds that frame alone
        visible = [tr for tr in tracks if tr.start - 0.2 <= t <= tr.end + 0.2]
        if not visible:
            continue
        values = model.speaking_scores(t - window_s / 2, t + window_s / 2, visible, audio)
        for tr, v in zip(visible, values):
            s = slot_of(tr, comp, width)
            scores[f, s] = np.nanmax([scores[f, s], v])
    return scores


def who_speaks_metrics(scores, comp, threshold):
    from sklearn.metrics import average_precision_score

    speech = comp.speaker >= 0
    filled = np.nan_to_num(scores, nan=0.0)
    chosen = np.where(filled.max(axis=1) >= threshold, filled.argmax(axis=1), -1)
    labels = np.stack([comp.speaker == s for s in range(comp.faces)], axis=1)
    seen = ~np.isnan(scores)
    return {"frames": int(speech.sum()), "correct": int((chosen[speech] == comp.speaker[speech]).sum()),
            "ap_labels": labels[seen].tolist(), "ap_scores": filled[seen].tolist(),
            "ap": float(average_precision_score(labels[seen], filled[seen])) if labels[seen].any() else float("nan")}


def turn_accuracy(turns, tracks, comp, width):
    speech = np.flatnonzero(comp.speaker >= 0)
    correct = 0
    for f in speech:
        t = (f + 0.5) / 25
        turn = next((u for u in turns if u.start <= t < u.end), None)
        if turn is not None and turn.track is not None and slot_of(tracks[turn.track], comp, width) == comp.speaker[f]:
            correct += 1
    return correct, len(speech)


def speech_pr(regions, truth_frames, duration):
    """Precision / recall of speech regions against per-25 fps-frame truth, on a 10 ms grid."""
    grid = np.arange(0, duration, 0.01)
    truth = truth_frames[np.minimum((grid * 25).astype(int), len(truth_frames) - 1)]
    found = np.zeros(len(grid), bool)
    for a, b in regions:
        found[(grid >= a) & (grid < b)] = True
    tp = int((found & truth).sum())
    return tp, int(found.sum()), int(truth.sum())


def distractor_audio(out: Path) -> tuple[Path, tuple[float, float]]:
    """2 s of chords, an espeak-ng sentence, 2 s of breath-like noise bursts (truth: the sentence)."""
    import soundfile as sf
    from scipy.signal import butter, lfilter

    from tests.media.talking_face import RATE, speech_audio

    rng = np.random.default_rng(3)
    t = np.arange(2 * RATE) / RATE
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330, 440)) * 0.05 * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    voice, (a, b) = speech_audio("Please put the red box on the table by the window.", 0.0, 4.0)
    voice = voice[:int(b * RATE) + 1]
    bl, al = butter(2, [300 / (RATE / 2), 2000 / (RATE / 2)], "band")
    noise = lfilter(bl, al, rng.normal(0, 0.05, 2 * RATE)) * np.repeat(np.tile([1.0, 0.0], 4), RATE // 4)
    audio = np.concatenate([chords, np.zeros(RATE // 2), voice, np.zeros(RATE // 2), noise]).astype(np.float32)
    sf.write(out, audio, RATE, subtype="PCM_16")
    start = 2.5 + a
    return out, (start, start + (b - a))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "media"))
    parser.add_argument("--no-proxy", action="store_true", help="stages decode the composites, not their proxy")
    parser.add_argument("--also-weights", action="append", default=[], metavar="PATH",
                        help="also score with these Light-ASD state dicts (e.g. the AVA-pretrained file)")
    parser.add_argument("--also-precision", action="append", default=[], choices=["float32", "bfloat16"],
                        help="also score with Light-ASD's visual encoder in this precision (default: auto)")
    parser.add_argument("--skip-vad", action="store_true", help="leave out the speech figures")
    args = parser.parse_args()
    shared = Path(args.shared)
    clips = sorted((shared / "clips").glob("grid_*.mpg"))
    if len(clips) < 4:
        sys.exit(f"needs the four GRID clips in {shared / 'clips'}")

    from clips.media import extract_audio
    from clips.segmentation.av import probe
    from clips.segmentation.faces import find_faces
    from clips.segmentation.light_asd_speaker import LightASDSpeaker
    from clips.segmentation.params import FaceParams, SceneParams, SpeakerParams
    from clips.segmentation.scenes import detect_scenes, split_scenes
    from clips.segmentation.speakers import MouthMotionSpeaker, find_speech_turns, speech_regions, voice_activity
    from tests.media.grid_composites import montage, pair

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        comps = {"pair_a": pair(clips[0], clips[1], tmp / "pair_a.mp4"),
                 "pair_b": pair(clips[2], clips[3], tmp / "pair_b.mp4"),
                 "montage": montage(clips, [2.52, 2.84, 2.68, 2.96], tmp / "montage.mp4")}
        models = {"heuristic": lambda: (MouthMotionSpeaker(SpeakerParams()), SpeakerParams().window_s),
                  "light-asd": lambda: (LightASDSpeaker(SpeakerParams()), 0.04)}
        for w in args.also_weights:
            models[f"light-asd:{Path(w).stem}"] = lambda w=w: (LightASDSpeaker(SpeakerParams(asd_weights=w)), 0.04)
        for p in args.also_precision:
            models[f"light-asd:{p}"] = lambda p=p: (LightASDSpeaker(SpeakerParams(asd_precision=p)), 0.04)
        totals = {m: {"frames": 0, "correct": 0, "labels": [], "scores": [], "turns": [0, 0]} for m in models}
        vad = {v: [0, 0, 0] for v in ("silero", "webrtc")}
        cuts = {"truth": 0, "pixels": 0, "with_identity": 0}
        for name, comp in comps.items():
            info = probe(comp.path)
            wav = extract_audio(comp.path, tmp / f"{name}.wav")
            # As the pipeline runs: the scenes pass writes the proxy that the later stages read.
            proxy = None if args.no_proxy else tmp / f"{name}.proxy.mp4"
            scenes = detect_scenes(comp.path, SceneParams(), proxy=proxy)
            found = find_faces(comp.path, scenes, FaceParams(), proxy=proxy)
            scenes_all = split_scenes(scenes, found.cuts)
            if comp.cuts:
                near = lambda cs, c: any(abs(x - c) <= CUT_TOLERANCE_S for x in cs)  # noqa: E731
                cuts["truth"] += len(comp.cuts)
                cuts["pixels"] += sum(near([s.start for s in scenes[1:]], c) for c in comp.cuts)
                cuts["with_identity"] += sum(near([s.start for s in scenes_all[1:]], c) for c in comp.cuts)
            truth_speech = comp.speaker >= 0
            for v in ([] if args.skip_vad else vad):
                activity = voice_activity(wav, SpeakerParams(vad=v), video_path=comp.path)
                tp, found_n, true_n = speech_pr(speech_regions(activity, SpeakerParams(vad=v)), truth_speech,
                                                comp.duration)
                vad[v] = [vad[v][0] + tp, vad[v][1] + found_n, vad[v][2] + true_n]
            audio = voice_activity(wav, SpeakerParams(), video_path=comp.path, proxy=proxy)
            regions = speech_regions(audio, SpeakerParams())
            for key, make in models.items():
                model, window = make()
                started = time.perf_counter()
                model.prepare(found.tracks, audio, regions)
                scores = frame_scores(model, found.tracks, audio, comp, info.width, window)
                m = who_speaks_metrics(scores, comp, model.threshold)
                turns = find_speech_turns(wav, found.tracks, SpeakerParams(), scenes=scenes_all,
                                          model=AlreadyScored(model), audio=audio)
                ok, n = turn_accuracy(turns, found.tracks, comp, info.width)
                tot = totals[key]
                tot["frames"] += m["frames"]
                tot["correct"] += m["correct"]
                tot["labels"] += m["ap_labels"]
                tot["scores"] += m["ap_scores"]
                tot["turns"] = [tot["turns"][0] + ok, tot["turns"][1] + n]
                print(f"{name:8s} {key:10s} frame accuracy {m['correct'] / max(m['frames'], 1):.3f} "
                      f"({m['correct']}/{m['frames']}), AP {m['ap']:.3f}, turn accuracy {ok / max(n, 1):.3f}, "
                      f"{len(found.tracks)} tracks, {time.perf_counter() - started:.1f} s", file=sys.stderr)

        # Speech between chords and noise (espeak-ng), no video.
        dis_wav, (a, b) = distractor_audio(tmp / "distractors.wav")
        dur = 2.5 + (b - a) + 0.5 + 2.0 + 0.1
        truth = np.zeros(int(dur * 25) + 1, bool)
        truth[int(a * 25):int(np.ceil(b * 25))] = True
        for v in ([] if args.skip_vad else vad):
            tp, found_n, true_n = speech_pr(speech_regions(voice_activity(dis_wav, SpeakerParams(vad=v)),
                                                           SpeakerParams(vad=v)), truth, dur)
            out[f"distractors_{v}"] = {"precision": round(tp / max(found_n, 1), 3), "recall": round(tp / max(true_n, 1), 3)}
            vad[v] = [vad[v][0] + tp, vad[v][1] + found_n, vad[v][2] + true_n]

    from sklearn.metrics import average_precision_score
    for key, tot in totals.items():
        out[key] = {"frame_accuracy": round(tot["correct"] / max(tot["frames"], 1), 3),
                    "mAP": round(float(average_precision_score(tot["labels"], tot["scores"])), 3),
                    "turn_accuracy": round(tot["turns"][0] / max(tot["turns"][1], 1), 3)}
    out["cut_recall"] = {"pyscenedetect": round(cuts["pixels"] / max(cuts["truth"], 1), 3),
                         "with_identity_cuts": round(cuts["with_identity"] / max(cuts["truth"], 1), 3),
                         "cuts": cuts["truth"]}
    out["speech"] = {v: {"precision": round(x[0] / max(x[1], 1), 3), "recall": round(x[0] / max(x[2], 1), 3)}
                     for v, x in vad.items()}
    out["hamilton_faces"] = hamilton_faces(shared / "clips" / "short_hamilton_clip.mp4")
    from clips.segmentation.light_asd import use_bfloat16
    out["light_asd_precision"] = "bfloat16" if use_bfloat16(SpeakerParams().asd_precision) else "float32"

    print(f"light-asd runs in {out['light_asd_precision']} here (asd_precision auto)", file=sys.stderr)
    for key in models:
        print(f"{key:10s} frame accuracy {out[key]['frame_accuracy']:.3f}  mAP {out[key]['mAP']:.3f}  "
              f"turn accuracy {out[key]['turn_accuracy']:.3f}", file=sys.stderr)
    print(f"cut recall: PySceneDetect {out['cut_recall']['pyscenedetect']:.2f}, with identity cuts "
          f"{out['cut_recall']['with_identity_cuts']:.2f} ({cuts['truth']} cuts)", file=sys.stderr)
    for v, x in out["speech"].items():
        print(f"speech {v:7s} precision {x['precision']:.3f} recall {x['recall']:.3f}", file=sys.stderr)
    for k, x in out["hamilton_faces"].items():
        print(f"hamilton {k:9s} frames with a face {x['frames_with_face']}/{x['frames']}, "
              f"{x['faces_per_frame']:.2f} faces/frame, {x['ms_per_frame']:.1f} ms/frame", file=sys.stderr)
    print(json.dumps(out))


def hamilton_faces(path: Path) -> dict:
    """Faces per sampled frame (3 fps at 640x360) for dlib HOG and BlazeFace full-range."""
    from face_recognition import api

    from clips.segmentation.av import iter_frames, probe, scaled_size
    from clips.segmentation.faces import face_finder
    from clips.segmentation.params import FaceParams

    if not path.exists():
        return {}
    info = probe(path)
    size = scaled_size(info.width, info.height, 640)
    frames = [f for _, f in iter_frames(path, 3, size)]
    out = {}
    for kind in ("hog", "blazeface"):
        find, close = face_finder(api, FaceParams(detector=kind), size[0])
        try:
            find(frames[0])  # warm-up
            started = time.perf_counter()
            counts = [len(find(f)) for f in frames]
            ms = (time.perf_counter() - started) * 1000 / len(frames)
        finally:
            close()
        out[kind] = {"frames": len(frames), "frames_with_face": sum(c > 0 for c in counts),
                     "faces_per_frame": round(float(np.mean(counts)), 2), "ms_per_frame": round(ms, 1)}
    return out


if __name__ == "__main__":
    main()
