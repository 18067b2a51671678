"""Every tunable of pre-segmentation, one dataclass per stage (pure Python).

Defaults suit 720p talking-head video on a CPU: BlazeFace full-range finds
faces (dlib HOG/CNN stay selectable), silero-vad finds speech (webrtcvad
selectable) and Light-ASD decides who speaks (the mouth-motion heuristic
selectable).
"""

from dataclasses import dataclass, field, fields, replace


@dataclass(frozen=True)
class SceneParams:
    detector: str = "adaptive"        # "adaptive" (camera-motion tolerant) or "content"
    adaptive_threshold: float = 3.0   # AdaptiveDetector: ratio of a frame's change to its neighbours'
    min_content_val: float = 15.0     # AdaptiveDetector: ignore changes below this absolute score
    content_threshold: float = 27.0   # ContentDetector: HSV-difference threshold
    min_scene_s: float = 0.6          # no cut closer than this to the previous one
    analysis_width: int = 256         # frames are downscaled to this width before comparing
    # The scenes pass also writes the video's proxy (every frame, no wider than this, cheap to
    # decode); the faces, speakers and crops stages read it instead of decoding the source
    # (decoding real 720p H.264 costs more than the analysis of a talking head). At least the
    # faces' detect_width; Light-ASD then crops from it; face crops too where the proxy has
    # at least as many pixels on the face as the crop. 0 = every stage decodes the source.
    proxy_width: int = 640


@dataclass(frozen=True)
class FaceParams:
    sample_fps: float = 5.0           # face detection rate
    mouth_fps: float = 10.0           # lip landmarks rate (multiple of sample_fps; speech is ~4-5 syllables/s)
    # Lip openings on the frames between detections (only the mouth-motion heuristic reads them;
    # SegmentationParams.face_stage() turns them off for Light-ASD, which reads the pixels).
    lips_between_detections: bool = True
    # Frames are downscaled to this width for detection (never upscaled). HOG finds faces
    # from ~80 px at this scale (~40 px with upsample=1, ~4x slower): at 640 on 1280x720
    # video that is faces from ~160 px; raise it (or upsample) for wide shots.
    detect_width: int = 640
    # "blazeface" (MediaPipe full-range: small faces too), "hog", "cnn" (dlib) or "auto"
    # (dlib's cnn if it has CUDA, else hog). dlib gives landmarks and encodings in every case.
    detector: str = "blazeface"
    min_detection_confidence: float = 0.5  # BlazeFace score below which a find is ignored
    upsample: int | None = None       # dlib upsampling; None = 1 for frames narrower than 400 px, else 0
    min_face_px: int = 32             # faces smaller than this in source pixels are dropped
    min_track_s: float = 0.6          # tracks shorter than this are dropped
    min_track_detections: int = 3
    max_gap_s: float = 1.0            # a face missing for up to this long continues its track
    min_iou: float = 0.3              # box overlap that continues a track from one sample to the next
    match_distance: float = 0.55      # face-encoding distance that continues a track (gaps, fast motion)
    full_detect_every_s: float = 1.0  # whole-frame detection this often; in between only around known faces
    encode_every_s: float = 10.0      # refresh a track's encoding at most this often
    identity_distance: float = 0.5    # tracks closer than this (mean encodings) are the same person
    person_distance: float = 0.55     # reference-photo match threshold for naming tracks
    # The only face on screen turning into someone else (encoding distance above this
    # between consecutive encodings) is a cut, even when the pixels barely change.
    identity_cut_distance: float = 0.6
    # A lone face's encoding is compared where the picture jumps (a frame
    # differs this many times more than the frames of the 2 s before did), with each refresh,
    # at the track's end, and at least this often.
    identity_jump_ratio: float = 2.0
    identity_check_every_s: float = 10.0
    # Below 1: no encoding at a jump where the lone face, aligned (40 px grey), still correlates this
    # well with itself at the last check, as a jump cut of the same person does (different people
    # measured <= 0.82 on GRID; 0.9 saved ~30 encodings a minute there). An encoding costs ~8 ms
    # since face_encoder.py, so by default (1) every jump is checked by identity, not by looks.
    identity_look_similarity: float = 1.0


@dataclass(frozen=True)
class SpeakerParams:
    model: str = "light-asd"          # who speaks: "light-asd" (trained) or "mouth-motion" (heuristic)
    vad: str = "silero"               # voice activity: "silero" (trained) or "webrtc"
    vad_threshold: float = 0.5        # silero: speech probability that starts speech ...
    vad_release: float = 0.35         # ... and the one below which it ends
    vad_aggressiveness: int = 2       # webrtcvad 0 (lenient) .. 3 (strict)
    vad_frame_ms: int = 30            # webrtcvad frame
    min_silence_s: float = 0.3        # pauses shorter than this do not end a speech region
    min_speech_s: float = 0.25        # speech blips shorter than this are ignored
    pad_s: float = 0.05               # context kept before/after each speech region
    window_s: float = 1.0             # heuristic: speaker decisions are taken per window of this length
    asd_window_s: float = 0.2         # Light-ASD: the same, on its smoothed per-frame probabilities
    min_turn_s: float = 0.5           # a shorter turn between two of the same speaker is theirs
    min_coverage: float = 0.5         # a face must be visible this much of a window to be a candidate
    min_speaking_score: float = 0.35  # heuristic: below this the speech is treated as off-screen
    asd_threshold: float = 0.5        # Light-ASD: mean speaking probability a face needs in a window
    asd_chunk_s: float = 10.0         # Light-ASD: longest stretch of a track sent in one pass
    asd_smooth_frames: int = 5        # Light-ASD: per-frame probabilities averaged over this many frames
    asd_frame_width: int = 960        # Light-ASD: frames are decoded no wider than this for cropping
    asd_weights: str = ""             # Light-ASD: another state dict (default: the shipped TalkSet file)
    # Light-ASD's visual encoder in "bfloat16" (~2.5x faster on CPUs with AMX / AVX-512 BF16;
    # probabilities within ~0.01 of float32), "float32", or "auto" (bfloat16 where native).
    asd_precision: str = "auto"
    # Light-ASD's torch threads; 0 = the cores other processes leave free while its inputs are
    # prepared (all of them for a lone video, one while another worker keeps the rest busy).
    asd_threads: int = 0
    mouth_ref: float = 0.02           # lip-opening std (/ eye distance) above jitter that counts as moving
    min_energy_db: float = -50.0      # regions quieter than this (dBFS RMS) are not speech
    trim_db: float = 12.0             # speech edges: at least this far above the file's background level
    dynamic_db: float = 35.0          # ... and within this of the region's loudest moment


@dataclass(frozen=True)
class SegmentParams:
    min_s: float = 1.5
    max_s: float = 10.0
    merge_gap_s: float = 0.6          # same speaker, same scene, pause shorter than this: one segment
    crops_per_segment: int = 8
    crop_size: int = 112
    jpeg_quality: int = 92


@dataclass(frozen=True)
class SegmentationParams:
    scenes: SceneParams = field(default_factory=SceneParams)
    faces: FaceParams = field(default_factory=FaceParams)
    speakers: SpeakerParams = field(default_factory=SpeakerParams)
    segments: SegmentParams = field(default_factory=SegmentParams)

    def face_stage(self) -> FaceParams:
        """The faces stage's params for this run: lip openings between detections only
        when the mouth-motion heuristic will read them."""
        if self.speakers.model == "mouth-motion":
            return self.faces
        return replace(self.faces, lips_between_detections=False)

    def proxy_width(self) -> int:
        """Width the proxy is made no wider than (0 = no proxy): never narrower than
        the frames faces are detected on."""
        width = self.scenes.proxy_width
        return max(width, self.faces.detect_width) if width else 0

    @classmethod
    def from_dict(cls, overrides: dict | None) -> "SegmentationParams":
        """Defaults with overrides such as {"faces": {"detector": "cnn"}}; unknown keys are errors."""
        params = cls()
        for stage, values in (overrides or {}).items():
            if stage not in {f.name for f in fields(cls)}:
                raise ValueError(f"unknown segmentation stage {stage!r} in settings")
            current = getattr(params, stage)
            known = {f.name for f in fields(current)}
            bad = set(values) - known
            if bad:
                raise ValueError(f"unknown {stage} setting(s): {', '.join(sorted(bad))}")
            params = replace(params, **{stage: replace(current, **values)})
        return params
