"""Generated test media for segmentation (always available: ffmpeg, espeak-ng,
scikit-image). Every generator returns the path it wrote plus the ground truth
(speech times, scene cuts, face box) so tests can check against it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000


@dataclass(frozen=True)
class Truth:
    path: Path
    duration: float
    speech: tuple[float, float] | None = None      # (start, end) of the spoken words, s
    cuts: tuple[float, ...] = ()                    # scene boundaries, s
    face_box: tuple[int, int, int, int] | None = None  # top, right, bottom, left in video pixels


def speech_audio(text: str, lead: float, total: float, voice: str = "en") -> tuple[np.ndarray, tuple[float, float]]:
    """espeak-ng speech placed `lead` s into `total` s of silence (16 kHz float)."""
    from scipy.signal import resample_poly
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", text],
                         capture_output=True, check=True).stdout
    import io
    voice_data, rate = sf.read(io.BytesIO(wav), dtype="float32")
    voice_data = resample_poly(voice_data, RATE, rate).astype(np.float32)
    # Trim espeak's own silent margins so the truth is the words.
    loud = np.flatnonzero(np.abs(voice_data) > 0.02)
    voice_data = voice_data[loud[0]:loud[-1] + 1] * 0.7
    out = np.zeros(int(total * RATE), np.float32)
    start = int(lead * RATE)
    voice_data = voice_data[:len(out) - start]
    out[start:start + len(voice_data)] = voice_data
    return out, (lead, lead + len(voice_data) / RATE)


def envelope(audio: np.ndarray, times: np.ndarray, width: float = 0.06) -> np.ndarray:
    """0..1 loudness around each time (drives the synthetic mouth)."""
    half = int(width * RATE / 2)
    values = []
    for t in times:
        i = int(t * RATE)
        chunk = audio[max(0, i - half):i + half]
        values.append(float(np.sqrt(np.mean(chunk ** 2))) if len(chunk) else 0.0)
    values = np.array(values)
    return np.clip(values / max(values.max(), 1e-6), 0, 1)


def _encode(frames, size, fps, audio: np.ndarray | None, out: Path, tmp: Path):
    w, h = size
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
           "-i", "-"]
    if audio is not None:
        wav = tmp / (out.stem + "_speech.wav")
        sf.write(wav, audio, RATE, subtype="PCM_16")
        cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "96k"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for frame in frames:
        proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0, "ffmpeg failed to write the test video"


def talking_face(out: Path, duration: float = 5.0, lead: float = 1.0, text: str = "Hello there, how are you today?",
                 size=(480, 360), fps: int = 25, cut_at: float | None = None, animate: bool = True,
                 listener: bool = False, photo_px: int = 270) -> Truth:
    """scikit-image's astronaut, mouth opening with the espeak speech.

    With cut_at, the picture cuts to a plain colour card at that time (a scene
    boundary, and the face leaves the screen). animate=False keeps the mouth
    still (a voice-over on a photo). listener=True adds a second, silent copy
    of the face on the right (the speaker is the left one; needs size >= 560 px wide).
    """
    import cv2
    import face_recognition
    from skimage import data

    photo = data.astronaut()[:300, 100:400]                      # head and shoulders, 300 x 300
    photo = cv2.resize(photo, (photo_px, photo_px), interpolation=cv2.INTER_AREA if photo_px < 300 else cv2.INTER_CUBIC)
    points = face_recognition.face_landmarks(photo, model="large")[0]
    lips = np.array(points["top_lip"][7:] + points["bottom_lip"][7:], float)  # inner lip ring
    mouth_c = lips.mean(axis=0)
    mouth_w = np.ptp(lips[:, 0])
    w, h = size
    y0 = (h - photo.shape[0]) // 2
    x0 = 10 if listener else (w - photo.shape[1]) // 2
    x1 = w - photo.shape[1] - 10
    audio, speech = speech_audio(text, lead, duration)
    times = np.arange(int(duration * fps)) / fps
    env = envelope(audio, times)
    face = face_recognition.face_locations(photo)[0]
    face_box = (face[0] + y0, face[1] + x0, face[2] + y0, face[3] + x0)

    def frames():
        for t, e in zip(times, env):
            if cut_at is not None and t >= cut_at:
                yield np.full((h, w, 3), (40, 90, 160), np.uint8)
                continue
            canvas = np.full((h, w, 3), 128, np.uint8)
            if listener:
                canvas[y0:y0 + photo.shape[0], x1:x1 + photo.shape[1]] = photo
            img = photo.copy()
            if animate and e > 0.05:  # open mouth: a dark gap between the lips, as tall as the voice is loud
                cv2.ellipse(img, (int(mouth_c[0]), int(mouth_c[1] + 1)),
                            (int(mouth_w * 0.42), max(1, int(mouth_w * 0.22 * e))), 0, 0, 360, (60, 20, 25), -1)
            canvas[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
            yield canvas

    _encode(frames(), size, fps, audio, out, out.parent)
    first_card = float(np.ceil(cut_at * fps - 1e-9) / fps) if cut_at else None  # first frame of the card
    return Truth(out, duration, speech, (first_card,) if cut_at else (), face_box)


def colour_cuts(out: Path, durations=(2.0, 2.0, 2.0), size=(320, 240), fps: int = 25,
                speech_text: str | None = None, lead: float = 0.8) -> Truth:
    """Plain colour cards back to back: cuts at the running sums of `durations`;
    optional speech with no face anywhere (off-screen)."""
    colours = [(200, 40, 40), (40, 200, 60), (40, 60, 200), (220, 220, 40), (200, 40, 200)]
    total = float(sum(durations))
    audio, speech = (speech_audio(speech_text, lead, total) if speech_text else (None, None))

    def frames():
        for k, d in enumerate(durations):
            card = np.zeros((size[1], size[0], 3), np.uint8)
            card[:] = colours[k % len(colours)]
            # A little texture so the encoder and the detector see a real picture.
            card[::16] = (card[::16] * 0.8).astype(np.uint8)
            for _ in range(int(round(d * fps))):
                yield card

    _encode(frames(), size, fps, audio, out, out.parent)
    cuts = tuple(float(np.cumsum(durations)[i]) for i in range(len(durations) - 1))
    return Truth(out, total, speech, cuts, None)


def silent_video(out: Path, duration: float = 3.0, size=(320, 240)) -> Truth:
    """Test pattern with a silent audio track."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size[0]}x{size[1]}:r=25:d={duration}",
                    "-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono", "-t", str(duration),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
                   check=True)
    return Truth(out, duration)
