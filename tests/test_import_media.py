"""ffprobe/ffmpeg helpers on generated media: probing judges content, the WAV
is 16 kHz mono PCM with the source's duration."""

import pytest
import soundfile as sf

from clips.media import MediaError, cut_audio, extract_audio, probe_media, trim_media
from tests.import_helpers import *  # noqa: F401,F403


def test_probe_reads_duration_fps_size_and_streams(import_media):
    info = probe_media(import_media / "talk.mp4")
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (320, 240)
    assert info.has_video and info.has_audio


def test_probe_tells_video_without_audio_and_audio_without_video(import_media):
    silent = probe_media(import_media / "silent.mp4")
    assert silent.has_video and not silent.has_audio
    tone = probe_media(import_media / "tone.wav")
    assert tone.has_audio and not tone.has_video and tone.width is None


def test_a_text_file_named_mp4_is_not_media(import_media, tmp_path):
    with pytest.raises(MediaError, match="Not a video or audio file"):
        probe_media(import_media / "notes.mp4")
    picture = tmp_path / "still.mp4"  # a PNG with a video name is not a video either
    import subprocess
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64",
                    "-frames:v", "1", "-f", "image2", "-c:v", "png", str(picture)], check=True)
    with pytest.raises(MediaError):
        probe_media(picture)


@pytest.mark.parametrize("name, seconds", [("talk.mp4", 3.0), ("tone.wav", 2.5)])
def test_extract_audio_gives_16k_mono_pcm_of_the_same_length(import_media, tmp_path, name, seconds):
    wav = extract_audio(import_media / name, tmp_path / "a.wav")
    meta = sf.info(str(wav))
    assert (meta.samplerate, meta.channels, meta.subtype) == (16000, 1, "PCM_16")
    assert meta.duration == pytest.approx(seconds, abs=0.1)


def test_cut_audio_and_trim_keep_the_requested_range(import_media, tmp_path):
    wav = extract_audio(import_media / "talk.mp4", tmp_path / "a.wav")
    part = cut_audio(wav, tmp_path / "part.wav", 0.5, 1.75)
    assert sf.info(str(part)).duration == pytest.approx(1.25, abs=0.01)
    with pytest.raises(MediaError):
        cut_audio(wav, tmp_path / "bad.wav", 2.0, 1.0)
    clip = trim_media(import_media / "talk.mp4", tmp_path / "clip.mp4", 1.0, 2.5)
    info = probe_media(clip)
    assert info.duration == pytest.approx(1.5, abs=0.1) and info.has_video and info.has_audio
