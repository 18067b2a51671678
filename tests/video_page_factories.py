"""Segments with a speaking face (scene + face track) for the video page tests."""

from clips.models import FaceTrack, Scene, Segment


def on_screen_segment(video, start, end, box=(40, 200, 140, 120), identity=0, index=None):
    """A segment whose speaker is on screen: its own scene and face track."""
    index = video.scenes.count() if index is None else index
    scene = Scene.objects.create(video=video, index=index, start=start, end=end)
    track = FaceTrack.objects.create(video=video, scene=scene, identity=identity, start=start, end=end,
                                     boxes=[[start, *box]])
    return Segment.objects.create(video=video, scene=scene, face_track=track, start=start, end=end,
                                  box=list(box), speaking_confidence=0.8)


def off_screen_segment(video, start, end):
    return Segment.objects.create(video=video, start=start, end=end, box=None)
