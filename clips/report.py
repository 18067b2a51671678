"""Read-only summary of a video's segmentation (a selector; used by video_report)."""

from clips.models import FaceTrack, Scene, Segment, Video


def video_report(video_id: int) -> dict:
    video = Video.objects.get(pk=video_id)
    segments = (Segment.objects.filter(video=video).order_by("start")
                .prefetch_related("prelabels__model_version"))
    return {
        "id": video.pk,
        "title": video.title,
        "status": video.status,
        "stage": video.stage,
        "progress": video.progress,
        "error": video.error,
        "notes": list(video.notes or []),
        "speaker_model": video.speaker_model,
        "duration": video.duration,
        "scenes": [[s.start, s.end] for s in Scene.objects.filter(video=video).order_by("index")],
        "tracks": FaceTrack.objects.filter(video=video).count(),
        "identities": FaceTrack.objects.filter(video=video, identity__gte=0).values("identity").distinct().count(),
        "segments": [_segment(s) for s in segments],
    }


def _segment(seg: Segment) -> dict:
    prelabels = sorted(seg.prelabels.all(), key=lambda p: p.created_at, reverse=True)
    pre = prelabels[0] if prelabels else None
    return {
        "id": seg.pk,
        "start": seg.start,
        "end": seg.end,
        "track": seg.face_track_id,
        "box": seg.box,
        "audio": seg.audio.name or None,
        "face_crops": len(seg.face_crops or []),
        "speaking_confidence": seg.speaking_confidence,
        "prelabel": None if pre is None else {
            "model": pre.model_version.label,
            "category": pre.category, "confidence": pre.confidence, "probs": pre.probs,
            "valence": pre.valence, "arousal": pre.arousal,
        },
    }
