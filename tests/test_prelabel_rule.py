""""The prelabel that counts" is one rule (inference.selectors), read four
ways: the annotate page (plain SQL), the queue ranking (SQL over the corpus),
the video page / segments API and the export (Python over prefetched rows).
They must pick the same prelabel for every mix of models."""

import itertools

import pytest

from annotation import queue_state
from annotation.export.rows import ExportParams, select_items
from annotation.selectors import prelabel_for
from clips.selectors import segments_of, shown_prelabel
from inference.models import ModelVersion
from tests.annotation_factories import add_prelabel, make_video
from tests.video_page_factories import off_screen_segment, on_screen_segment

pytestmark = pytest.mark.django_db

# (kind, active) of the models that may have prelabelled a segment, oldest prelabel first
MODELS = [("teacher", True), ("teacher", False), ("student", True), ("student", False)]
CATEGORY = {0: "happy", 1: "sad", 2: "angry", 3: "fear"}


def _model(i: int, kind: str, active: bool) -> ModelVersion:
    return ModelVersion.objects.create(kind=kind, name=f"m{i}", version=1, arch="test", weights="/dev/null",
                                       sha256=f"{i}" * 64, is_active=active)


def test_every_reader_picks_the_same_prelabel():
    models = [_model(i, kind, active) for i, (kind, active) in enumerate(MODELS)]
    video = make_video()
    expected = {}
    t = 0.0
    for offscreen in (False, True):
        for n in range(1, len(models) + 1):
            for chosen in itertools.permutations(range(len(models)), n):
                make = off_screen_segment if offscreen else on_screen_segment
                segment = make(video, t, t + 1.0)
                segment.audio.name = f"segments/{segment.pk}.wav"  # the export needs a name (files not checked)
                segment.save(update_fields=["audio"])
                t += 1.0
                for i in chosen:  # later in `chosen` = written later = newer
                    add_prelabel(segment, CATEGORY[i], 0.5 + 0.1 * i, model=models[i])
                expected[segment.pk] = (offscreen, chosen)

    shown = {s.pk: shown_prelabel(s) for s in segments_of(video.pk)}
    ranked = {row.segment_id: row.predicted for row in queue_state.priority_rows()}
    exported = {item.row["segment_id"]: item.row["teacher"]
                for item in select_items(ExportParams(include_prelabel_only=True), check_files=False).items}
    for segment_id, (offscreen, chosen) in expected.items():
        want = _pick(chosen, "student" if offscreen else "teacher")
        assert shown[segment_id].model_version_id == models[want].pk, (offscreen, chosen)
        assert prelabel_for(segment_id).id == shown[segment_id].id, (offscreen, chosen)
        # the queue ranks by the teacher's doubt, exports carry the teacher's: both prefer the teacher
        assert ranked[segment_id] == CATEGORY[_pick(chosen, "teacher")], (offscreen, chosen)
        teachers = [i for i in chosen if MODELS[i][0] == "teacher"]
        if teachers:
            assert exported[segment_id]["model"] == models[_pick(teachers, "teacher")].label, (offscreen, chosen)
        else:
            assert segment_id not in exported


def _pick(chosen, prefer: str) -> int:
    """The rule spelled out: the preferred kind's active model, else its newest; else the other kind's."""
    kinds = {MODELS[i][0] for i in chosen}
    kind = prefer if prefer in kinds else kinds.pop()
    of_kind = [i for i in chosen if MODELS[i][0] == kind]
    active = [i for i in of_kind if MODELS[i][1]]
    return active[-1] if active else of_kind[-1]
