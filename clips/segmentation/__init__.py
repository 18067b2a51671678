"""Pre-segmentation: pure stages, files in and dataclasses out (no Django, no Celery).

    scenes = detect_scenes(video, SceneParams())
    tracks = track_faces(video, scenes, FaceParams())
    turns = find_speech_turns(wav_16k, tracks, SpeakerParams(), scenes=scenes)
    segments = make_segments(turns, scenes, SegmentParams())

clips.pipeline stores the results; clips.segmentation.tasks chains them on Celery.
"""

from .faces import FaceTrack, track_faces
from .params import FaceParams, SceneParams, SegmentationParams, SegmentParams, SpeakerParams
from .scenes import Scene, detect_scenes
from .segments import SegmentSpec, make_segments
from .speakers import ActiveSpeakerModel, MouthMotionSpeaker, SpeechTurn, find_speech_turns

__all__ = ["ActiveSpeakerModel", "FaceParams", "FaceTrack", "MouthMotionSpeaker", "Scene", "SceneParams",
           "SegmentParams", "SegmentSpec", "SegmentationParams", "SpeakerParams", "SpeechTurn",
           "detect_scenes", "find_speech_turns", "make_segments", "track_faces"]
