"""Pre-segmentation: pure stages, files in and dataclasses out (no Django, no Celery).

    scenes = detect_scenes(video, SceneParams())
    found = find_faces(video, scenes, FaceParams())      # tracks + identity cuts
    scenes = split_scenes(scenes, found.cuts); assign_scenes(found.tracks, scenes)
    turns = find_speech_turns(wav_16k, found.tracks, SpeakerParams(), scenes=scenes, video_path=video)
    segments = make_segments(turns, scenes, SegmentParams())

clips.pipeline stores the results; clips.segmentation.tasks chains them on Celery.
"""

from .faces import FaceResult, FaceTrack, assign_scenes, find_faces, track_faces
from .params import FaceParams, SceneParams, SegmentationParams, SegmentParams, SpeakerParams
from .scenes import Scene, detect_scenes, split_scenes
from .segments import SegmentSpec, make_segments
from .speakers import ActiveSpeakerModel, MouthMotionSpeaker, SpeechTurn, find_speech_turns, make_speaker_model

__all__ = ["ActiveSpeakerModel", "FaceParams", "FaceResult", "FaceTrack", "MouthMotionSpeaker", "Scene",
           "SceneParams", "SegmentParams", "SegmentSpec", "SegmentationParams", "SpeakerParams", "SpeechTurn",
           "assign_scenes", "detect_scenes", "find_faces", "find_speech_turns", "make_segments",
           "make_speaker_model", "split_scenes", "track_faces"]
