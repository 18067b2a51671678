"""Who speaks when (pure: a 16 kHz WAV + face tracks in, [SpeechTurn] out).

Voice activity comes from silero-vad (or webrtcvad, see vad.py); the speaker
among the visible faces comes from an `ActiveSpeakerModel`. The default is
Light-ASD (light_asd_speaker.py), a trained audio-visual network;
`MouthMotionSpeaker`, the earlier heuristic, scores each face by how much its
lips move during the speech and how well the lip opening follows the
loudness. Speech with no face that scores high enough is off-screen (track None).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .faces import FaceTrack
from .params import SpeakerParams
from .scenes import Scene


@dataclass(frozen=True)
class SpeechTurn:
    start: float
    end: float
    track: int | None      # FaceTrack.index of the speaking face, None = off-screen
    confidence: float      # on-screen: speaking score of that face; off-screen: 1 - best face's score

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class AudioActivity:
    """Per-frame voice activity and loudness of a WAV (a few bytes per 30 ms)."""
    wav_path: str
    frame_s: float
    speech: np.ndarray      # bool per frame
    energy_db: np.ndarray   # RMS dBFS per frame
    video_path: str | None = None  # for audio-visual models that want pixels
    proxy_path: str | None = None  # the video downscaled (detect_scenes), read instead when given

    def energy_at(self, times: np.ndarray, smooth_s: float = 0.1) -> np.ndarray:
        """Loudness (dB) around each time, smoothed over ~smooth_s."""
        if not len(self.energy_db):
            return np.full(len(times), -100.0)
        k = max(1, int(round(smooth_s / self.frame_s)))
        smooth = np.convolve(self.energy_db, np.ones(k) / k, mode="same")
        idx = np.clip((np.asarray(times) / self.frame_s).astype(int), 0, len(smooth) - 1)
        return smooth[idx]


def voice_activity(wav_path: str | Path, params: SpeakerParams = SpeakerParams(),
                   video_path: str | Path | None = None, proxy: str | Path | None = None) -> AudioActivity:
    """Speech per short frame with silero-vad (default) or webrtcvad (params.vad)."""
    from .vad import silero_activity, webrtc_activity

    if params.vad == "silero":
        frames = silero_activity(wav_path, params.vad_threshold, params.vad_release)
    elif params.vad == "webrtc":
        frames = webrtc_activity(wav_path, params.vad_aggressiveness, params.vad_frame_ms)
    else:
        raise ValueError(f"unknown voice activity detector {params.vad!r} (silero or webrtc)")
    return AudioActivity(str(wav_path), frames.frame_s, frames.speech, frames.energy_db,
                         str(video_path) if video_path else None, str(proxy) if proxy else None)


def speech_regions(audio: AudioActivity, params: SpeakerParams = SpeakerParams()) -> list[tuple[float, float]]:
    """Stretches of speech: VAD frames with short pauses bridged and blips dropped,
    edges trimmed to where the voice rises above the background (webrtcvad
    also fires on breaths and room noise just before and after words)."""
    regions: list[list[int]] = []
    gap = int(round(params.min_silence_s / audio.frame_s))
    for i in np.flatnonzero(audio.speech):
        if regions and i - regions[-1][1] <= gap:
            regions[-1][1] = i + 1
        else:
            regions.append([i, i + 1])
    if not regions:
        return []
    # Loudness smoothed over ~90 ms; background = the quietest tenth of the file.
    energy = np.convolve(audio.energy_db, np.ones(3) / 3, mode="same")
    floor = float(np.percentile(audio.energy_db, 10))
    total = len(audio.speech) * audio.frame_s
    out = []
    for a, b in regions:
        peak = float(energy[a:b].max())
        if peak < max(params.min_energy_db, floor + params.trim_db):
            continue  # the VAD fired on hiss
        voiced = np.flatnonzero(energy[a:b] >= max(floor + params.trim_db, peak - params.dynamic_db))
        a, b = int(a + voiced[0]), int(a + voiced[-1] + 1)
        if (b - a) * audio.frame_s < params.min_speech_s:
            continue
        out.append((max(0.0, round(a * audio.frame_s - params.pad_s, 3)),
                    min(total, round(b * audio.frame_s + params.pad_s, 3))))
    return out


class ActiveSpeakerModel(ABC):
    """Scores how likely each visible face is the one speaking in [start, end]."""

    name = "abstract"
    threshold = 0.5  # a face scoring below this in a window is not the one speaking
    reads_pixels = False  # whether it decodes the video (then it reads the proxy, see clips/proxies.py)

    def prepare(self, tracks: list[FaceTrack], audio: AudioActivity, regions: list[tuple[float, float]]) -> None:
        """Called once before any decision with every track and the speech regions
        (models that score whole tracks at once do their work here)."""

    @abstractmethod
    def speaking_scores(self, start: float, end: float, candidates: list[FaceTrack],
                        audio: AudioActivity) -> list[float]:
        """One score in [0, 1] per candidate track, same order."""


class MouthMotionSpeaker(ActiveSpeakerModel):
    """Lips that move while the audio is loud, and in step with it, are speaking."""

    name = "mouth-motion-heuristic"

    def __init__(self, params: SpeakerParams = SpeakerParams()):
        self.params = params
        self.threshold = params.min_speaking_score

    def speaking_scores(self, start, end, candidates, audio):
        scores = []
        for track in candidates:
            samples = track.mouth_between(start, end)
            if len(samples) < 3:
                scores.append(0.0)
                continue
            opening = samples[:, 1]
            # Landmark jitter on a still face is ~0.005 of the eye distance.
            activity = float(np.clip((opening.std() - 0.005) / self.params.mouth_ref, 0.0, 1.0))
            loudness = audio.energy_at(samples[:, 0])
            sync = 0.0
            if opening.std() > 1e-6 and loudness.std() > 1e-6 and len(samples) >= 5:
                sync = max(0.0, float(np.corrcoef(opening, loudness)[0, 1]))
            scores.append(round(0.7 * activity + 0.3 * sync, 4))
        return scores


def _coverage(track: FaceTrack, start: float, end: float, slack: float = 0.2) -> float:
    a, b = max(start, track.start - slack), min(end, track.end + slack)
    return max(0.0, b - a) / max(end - start, 1e-6)


def find_speech_turns(wav_path: str | Path, tracks: list[FaceTrack], params: SpeakerParams = SpeakerParams(),
                      scenes: list[Scene] | None = None, model: ActiveSpeakerModel | None = None,
                      video_path: str | Path | None = None, audio: AudioActivity | None = None) -> list[SpeechTurn]:
    """Speech turns in time order, each with its speaking face (or None) and a confidence.

    Speech is cut at scene boundaries, decided per ~`window_s` window, and
    consecutive windows with the same speaker are joined into one turn.
    """
    model = model or make_speaker_model(params)
    audio = audio or voice_activity(wav_path, params, video_path)
    regions = speech_regions(audio, params)
    if hasattr(model, "prepare"):  # plug-in models may score window by window only
        model.prepare(tracks, audio, regions)
    cuts = sorted({s.start for s in scenes or []} | {s.end for s in scenes or []})
    starts = [s.start for s in scenes or []]
    by_scene: dict[int, list[FaceTrack]] = {}
    for tr in tracks:
        by_scene.setdefault(tr.scene_index, []).append(tr)
    turns: list[SpeechTurn] = []
    for a, b in regions:
        inner = cuts[bisect_right(cuts, a):bisect_left(cuts, b)]
        for s, e in zip([a, *inner], [*inner, b]):
            if e - s < 0.05:
                continue
            # Only this scene's faces can be speaking (keeps hours of video fast, too).
            if scenes:
                local = by_scene.get(scenes[max(0, bisect_right(starts, (s + e) / 2) - 1)].index, [])
            else:
                local = tracks
            local = [tr for tr in local if _coverage(tr, s, e) > 0]
            # One face visible throughout: longer windows, more lip samples per decision.
            whole = [tr for tr in local if _coverage(tr, s, e) >= params.min_coverage]
            single = len(whole) == 1 and all(_coverage(tr, s, e) < 0.05 for tr in local if tr is not whole[0])
            # With several faces, models with per-frame scores decide on short windows
            # (turn edges to ~0.2 s); one face alone is only on- or off-screen: long windows.
            window = params.window_s * 3 if single else getattr(model, "window_s", params.window_s)
            n = max(1, int(round((e - s) / window)))
            edges = np.linspace(s, e, n + 1)
            for ws, we in zip(edges, edges[1:]):
                turns.append(_decide(float(ws), float(we), local, audio, model, params))
    return _join(_absorb_blips(_join(turns), params.min_turn_s))


def make_speaker_model(params: SpeakerParams = SpeakerParams()) -> ActiveSpeakerModel:
    """The model params.model names: "light-asd" (default) or "mouth-motion"."""
    if params.model == "light-asd":
        # Here, not at the top: the plug-in imports this module's base class (and torch).
        from .light_asd_speaker import LightASDSpeaker
        return LightASDSpeaker(params)
    if params.model == "mouth-motion":
        return MouthMotionSpeaker(params)
    raise ValueError(f"unknown active-speaker model {params.model!r} (light-asd or mouth-motion)")


def _decide(start, end, tracks, audio, model, params) -> SpeechTurn:
    candidates = [tr for tr in tracks if _coverage(tr, start, end) >= params.min_coverage]
    if not candidates:
        return SpeechTurn(round(start, 3), round(end, 3), None, 1.0)
    scores = model.speaking_scores(start, end, candidates, audio)
    best = int(np.argmax(scores))
    if scores[best] >= getattr(model, "threshold", params.min_speaking_score):
        return SpeechTurn(round(start, 3), round(end, 3), candidates[best].index, float(scores[best]))
    return SpeechTurn(round(start, 3), round(end, 3), None, round(1.0 - float(scores[best]), 4))


def _absorb_blips(turns: list[SpeechTurn], min_s: float) -> list[SpeechTurn]:
    """A turn shorter than min_s between two turns of one and the same speaker (and
    touching both) is taken as theirs: a flicker of the decision, not a reply."""
    out = list(turns)
    for i in range(1, len(out) - 1):
        prev, cur, nxt = out[i - 1], out[i], out[i + 1]
        if (cur.duration < min_s and prev.track == nxt.track != cur.track
                and abs(prev.end - cur.start) < 1e-3 and abs(cur.end - nxt.start) < 1e-3):
            out[i] = SpeechTurn(cur.start, cur.end, prev.track, min(prev.confidence, nxt.confidence))
    return out


def _join(windows: list[SpeechTurn]) -> list[SpeechTurn]:
    """Adjacent windows of the same speaker -> one turn (confidence = duration-weighted mean)."""
    out: list[SpeechTurn] = []
    for w in windows:
        prev = out[-1] if out else None
        if prev and prev.track == w.track and abs(prev.end - w.start) < 1e-3:
            conf = (prev.confidence * prev.duration + w.confidence * w.duration) / (prev.duration + w.duration)
            out[-1] = SpeechTurn(prev.start, w.end, w.track, round(conf, 4))
        else:
            out.append(w)
    return out
