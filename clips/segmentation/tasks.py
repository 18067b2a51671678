"""Celery tasks of segmentation (thin: each runs one pipeline stage).

The chain is io (audio, scenes, audio clips) and gpu (faces, speakers, face
crops) work, ending with the teacher's "gpu.prelabel_video" sent by name.
Task functions end in _task (the pure stage functions they run carry the
plain names); registered names ("io.detect_scenes", ...) are what workers route.
Every task skips work whose stage is already finished, so a redelivered
message or a re-sent chain resumes instead of redoing.
"""

from celery import chain, shared_task

from clips import pipeline
from clips.models import Video
from clips.recovery import heartbeat, video_lock
from labelstudio_emo.celery import task_by_name


def _pending(video_id: int, stage: str) -> bool:
    video = Video.objects.filter(pk=video_id).only("stage").first()
    return video is not None and stage in pipeline.remaining_stages(video)


def _stage(video_id: int, stage: str) -> int:
    with video_lock(video_id):
        if _pending(video_id, stage):
            with heartbeat(video_id):
                pipeline.run_stage(video_id, stage)
    return video_id


@shared_task(name="io.segment_audio")
def segment_audio_task(video_id: int) -> int:
    return _stage(video_id, Video.Stage.AUDIO)


@shared_task(name="io.detect_scenes")
def detect_scenes_task(video_id: int) -> int:
    return _stage(video_id, Video.Stage.SCENES)


@shared_task(name="gpu.track_faces")
def track_faces_task(video_id: int) -> int:
    return _stage(video_id, Video.Stage.FACES)


@shared_task(name="gpu.find_speakers")
def find_speakers_task(video_id: int) -> int:
    return _stage(video_id, Video.Stage.SPEAKERS)


def _segments_step(video_id: int, work, what: str) -> None:
    """One half of the 'segments' stage (audio clips, face crops), under the video's lock."""
    with video_lock(video_id):
        if _pending(video_id, Video.Stage.SEGMENTS):
            try:
                with heartbeat(video_id):
                    work(video_id)
            except Exception as exc:
                pipeline.fail(video_id, f"Segmentation failed {what}: {pipeline._reason(exc)}")
                raise


@shared_task(name="io.cut_segment_audio")
def cut_segment_audio_task(video_id: int) -> int:
    _segments_step(video_id, pipeline.cut_segment_audio, "cutting audio clips")
    return video_id


@shared_task(name="gpu.face_crops")
def face_crops_task(video_id: int) -> int:
    """Crops finish the 'segments' stage; then the video waits for its prelabels."""
    _stage_crops(video_id)
    return video_id


def _stage_crops(video_id: int) -> None:
    _segments_step(video_id, pipeline.make_segment_crops, "making face crops")
    Video.objects.filter(pk=video_id, stage=Video.Stage.SEGMENTS).update(
        status=Video.Status.PRELABELLING, progress=pipeline.PRELABEL_START)


def segmentation_chain(video_id: int):
    return chain(
        segment_audio_task.si(video_id),
        detect_scenes_task.si(video_id),
        track_faces_task.si(video_id),
        find_speakers_task.si(video_id),
        cut_segment_audio_task.si(video_id),
        face_crops_task.si(video_id),
        task_by_name(pipeline.PRELABEL_TASK, video_id),
    )


def enqueue_segmentation(video_id: int):
    """Send the chain; returns the AsyncResult of its last task."""
    Video.objects.filter(pk=video_id).exclude(status=Video.Status.SEGMENTING).update(
        status=Video.Status.SEGMENTING, error="")
    return segmentation_chain(video_id).apply_async()
