"""API shapes of the annotation endpoints (also what the OpenAPI schema shows)."""

import bisect
import math
import re

from django.core.files.storage import default_storage
from rest_framework import serializers

from clips.models import Segment
from labelstudio_emo.emotions import EMOTIONS, VA_MAX, VA_MIN
from labelstudio_emo.validation import DB_ID_MAX, DB_ID_MIN

from .models import FLAGS, Assignment, Label
from .selectors import SegmentRow, prelabel_for, prelabels_hidden


def media_url(path: str) -> str | None:
    return default_storage.url(path) if path else None


def segment_media(segment: Segment | SegmentRow) -> dict:
    """How the page plays a segment: the source video looped between start and
    end when the speaker is on screen, else the segment's own WAV clip."""
    row = segment if isinstance(segment, SegmentRow) else SegmentRow.of(segment)
    crops = [media_url(p) for p in row.face_crops if p]
    on_screen = bool(row.video_file and row.has_video and (row.box or row.face_track_id))
    if on_screen or not row.audio:
        source = row.video_file or row.video_audio
        return {"kind": "video" if (row.video_file and row.has_video) else "audio",
                "url": media_url(source), "loop_start": row.start, "loop_end": row.end,
                "width": row.width, "height": row.height, "face_crops": crops}
    return {"kind": "audio", "url": media_url(row.audio), "loop_start": 0.0,
            "loop_end": row.end - row.start, "width": None, "height": None, "face_crops": crops}


class NumberField(serializers.FloatField):
    """A JSON number or numeric string; true/false are refused, not read as 1/0."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class MediaSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["video", "audio"], help_text="element to play the segment with")
    url = serializers.CharField(allow_null=True, help_text="media URL (login required)")
    loop_start = serializers.FloatField(help_text="seconds into `url` where the loop starts")
    loop_end = serializers.FloatField(help_text="seconds into `url` where the loop ends")
    width = serializers.IntegerField(allow_null=True, help_text="source width the box is measured in")
    height = serializers.IntegerField(allow_null=True)
    face_crops = serializers.ListField(child=serializers.CharField(), help_text="URLs of 112 px face crops")


class PrelabelSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=EMOTIONS)
    confidence = serializers.FloatField()
    valence = serializers.FloatField()
    arousal = serializers.FloatField()
    probs = serializers.ListField(child=serializers.FloatField(), help_text="7 probabilities, FER2013 order")
    model = serializers.CharField(help_text="name@version of the model that made it")


def prelabel_payload(segment_id: int) -> dict | None:
    if prelabels_hidden():
        return None
    prelabel = prelabel_for(segment_id)
    if prelabel is None:
        return None
    return {"category": prelabel.category, "confidence": prelabel.confidence, "valence": prelabel.valence,
            "arousal": prelabel.arousal, "probs": prelabel.probs, "model": prelabel.model}


class LabelValuesSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=EMOTIONS, error_messages={
        "invalid_choice": f'"{{input}}" is not one of the 7 categories: {", ".join(EMOTIONS)}.'})
    valence = NumberField(min_value=VA_MIN, max_value=VA_MAX, error_messages={
        "min_value": "valence must be between -1 and 1.", "max_value": "valence must be between -1 and 1."})
    arousal = NumberField(min_value=VA_MIN, max_value=VA_MAX, error_messages={
        "min_value": "arousal must be between -1 and 1.", "max_value": "arousal must be between -1 and 1."})
    flags = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                  help_text=f"any of: {', '.join(FLAGS)}")

    def validate_flags(self, value):
        unknown = sorted(set(value) - set(FLAGS))
        if unknown:
            raise serializers.ValidationError(
                f"unknown flag(s) {', '.join(unknown)}; allowed: {', '.join(FLAGS)}.")
        return value


class LabelInputSerializer(LabelValuesSerializer):
    """Input of POST /api/labels/ (only the fields a client sends: validating
    it runs on every submit)."""

    assignment = serializers.IntegerField(required=False, allow_null=True, min_value=DB_ID_MIN, max_value=DB_ID_MAX,
                                          help_text="the assignment labelled (or give `segment`)")
    segment = serializers.IntegerField(required=False, allow_null=True, min_value=DB_ID_MIN, max_value=DB_ID_MAX,
                                       help_text="the segment labelled, to edit an earlier label")
    seconds_spent = NumberField(required=False, default=0.0, min_value=0.0,
                                           help_text="time on this label in the page, seconds")

    def validate(self, attrs):
        if attrs.get("assignment") is None and attrs.get("segment") is None:
            raise serializers.ValidationError({"assignment": "Give the assignment (or the segment) "
                                                             "this label is for."})
        return attrs


REQUIRED, NOT_NULL = "This field is required.", "This field may not be null."


def _number(data, name: str, errors: dict, *, integer=False, required=True, allow_null=False, default=None):
    """DRF's FloatField / IntegerField rules for one input."""
    if name not in data:
        if required:
            errors[name] = [REQUIRED]
        return default
    raw = data.get(name)
    if raw is None:
        if not allow_null:
            errors[name] = [NOT_NULL]
        return None
    try:
        if isinstance(raw, bool):  # JSON true/false are not 1/0 here
            raise TypeError
        value = int(re.sub(r"\.0*\s*$", "", str(raw))) if integer else float(raw)
        if not integer and not math.isfinite(value):
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = ["A valid integer is required." if integer else "A valid number is required."]
        return default
    if integer and value < DB_ID_MIN:
        errors[name] = [f"Ensure this value is greater than or equal to {DB_ID_MIN}."]
        return default
    if integer and value > DB_ID_MAX:  # e.g. 2**70: would overflow the database
        errors[name] = [f"Ensure this value is less than or equal to {DB_ID_MAX}."]
        return default
    return value


def parse_label_input(data) -> dict:
    """The rules LabelInputSerializer declares (the schema shows that one), checked
    without building DRF fields: they are deep-copied per request, which cost
    8% of a submit's CPU under load (bench/api.py). Same messages, same
    {field: [message]} shape; tests/test_annotation_api.py holds both to them."""
    if not isinstance(data, dict):  # a JSON list or string body (QueryDict is a dict too)
        raise serializers.ValidationError({"non_field_errors": [
            f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]})
    errors: dict[str, list[str]] = {}
    category = data.get("category")
    if "category" not in data:
        errors["category"] = [REQUIRED]
    elif category is None:
        errors["category"] = [NOT_NULL]
    elif category not in EMOTIONS:
        errors["category"] = [f'"{category}" is not one of the 7 categories: {", ".join(EMOTIONS)}.']
    va = {}
    for name in ("valence", "arousal"):
        va[name] = _number(data, name, errors)
        if va[name] is not None and not VA_MIN <= va[name] <= VA_MAX:
            errors[name] = [f"{name} must be between -1 and 1."]
    flags = data.getlist("flags") if hasattr(data, "getlist") else data.get("flags", [])
    if not isinstance(flags, list):
        errors["flags"] = [f'Expected a list of items but got type "{type(flags).__name__}".']
    elif bad := {i: ["Not a valid string."] for i, f in enumerate(flags) if not isinstance(f, (str, int, float))
                 or isinstance(f, bool)}:
        errors["flags"] = bad
    elif unknown := sorted(set(flags := [str(f) for f in flags]) - set(FLAGS)):
        errors["flags"] = [f"unknown flag(s) {', '.join(unknown)}; allowed: {', '.join(FLAGS)}."]
    assignment = _number(data, "assignment", errors, integer=True, required=False, allow_null=True)
    segment = _number(data, "segment", errors, integer=True, required=False, allow_null=True)
    seconds = _number(data, "seconds_spent", errors, required=False, default=0.0)
    if seconds is not None and seconds < 0:
        errors["seconds_spent"] = ["Ensure this value is greater than or equal to 0.0."]
    if not errors and assignment is None and segment is None:
        errors["assignment"] = ["Give the assignment (or the segment) this label is for."]
    if errors:
        raise serializers.ValidationError(errors)
    return {"category": category, "flags": flags, "assignment": assignment, "segment": segment,
            "seconds_spent": seconds, **va}


class LabelSerializer(LabelInputSerializer):
    """A label as the API returns it."""

    id = serializers.IntegerField(read_only=True)
    created = serializers.BooleanField(read_only=True, help_text="true when this request made the label")
    changed = serializers.BooleanField(read_only=True, help_text="false for a repeat of the same values")
    updated_at = serializers.DateTimeField(read_only=True)


def label_payload(label: Label, created: bool = False, changed: bool = False) -> dict:
    return {"id": label.pk, "segment": label.segment_id, "category": label.category,
            "valence": label.valence, "arousal": label.arousal, "flags": list(label.flags),
            "seconds_spent": label.seconds_spent, "created": created, "changed": changed,
            "updated_at": label.updated_at}


class SegmentPayloadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    video = serializers.IntegerField()
    video_title = serializers.CharField()
    start = serializers.FloatField()
    end = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                help_text="[top, right, bottom, left] in source pixels, or null")
    track = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()), allow_null=True,
                                  help_text="the speaking face's boxes over the segment, [[t, top, right, bottom, "
                                            "left], ...] (t in seconds of the video): the player interpolates them")
    media = MediaSerializer()
    prelabel = PrelabelSerializer(allow_null=True)


TRACK_PAD = 0.5  # seconds of track kept around the segment, so interpolation has samples on both sides


def track_window(boxes: list | None, start: float, end: float) -> list | None:
    """The face track's box samples over [start, end] (plus the nearest sample
    outside it on each side), in time order; None without a track."""
    if not boxes:
        return None
    samples = sorted((b for b in boxes if isinstance(b, (list, tuple)) and len(b) == 5), key=lambda b: b[0])
    times = [b[0] for b in samples]
    lo = max(0, bisect.bisect_left(times, start - TRACK_PAD) - 1)
    hi = min(len(samples), bisect.bisect_right(times, end + TRACK_PAD) + 1)
    return [[round(float(v), 3) for v in b] for b in samples[lo:hi]] or None


def segment_payload(segment: Segment | SegmentRow) -> dict:
    row = segment if isinstance(segment, SegmentRow) else SegmentRow.of(segment)
    return {"id": row.id, "video": row.video_id, "video_title": row.video_title,
            "start": row.start, "end": row.end, "box": row.box,
            "track": track_window(row.track_boxes, row.start, row.end),
            "media": segment_media(row), "prelabel": prelabel_payload(row.id)}


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Assignment.Status.choices)
    expires_at = serializers.DateTimeField()
    segment = SegmentPayloadSerializer()
    label = LabelSerializer(allow_null=True, help_text="the caller's current label (when editing)")
    done_today = serializers.IntegerField(help_text="labels the caller made today")


def assignment_payload(assignment: Assignment, segment: Segment | SegmentRow | None = None,
                       label: Label | None = None, done_today: int = 0) -> dict:
    return {"id": assignment.pk, "status": assignment.status, "expires_at": assignment.expires_at,
            "segment": segment_payload(segment or assignment.segment),
            "label": label_payload(label) if label else None, "done_today": done_today}


class QueueProgressSerializer(serializers.Serializer):
    left_for_you = serializers.IntegerField(help_text="segments the caller can still be given (held ones included)")
    still_needed = serializers.IntegerField(help_text="segments with fewer than K labels")
    done_today = serializers.IntegerField(help_text="labels the caller made today")



class RecentLabelSerializer(serializers.Serializer):
    """One of the caller's earlier labels with what is needed to show and edit it."""

    label = LabelSerializer()
    assignment = serializers.IntegerField(allow_null=True)
    segment = SegmentPayloadSerializer()


class SkipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class PairCCCSerializer(serializers.Serializer):
    rater_a = serializers.CharField()
    rater_b = serializers.CharField()
    n = serializers.IntegerField()
    ccc = serializers.FloatField(allow_null=True)


class PairwiseCCCSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    pairs = PairCCCSerializer(many=True)


class RaterSerializer(serializers.Serializer):
    rater = serializers.CharField()
    n_labels = serializers.IntegerField()
    n_shared = serializers.IntegerField()
    category_agreement = serializers.FloatField(allow_null=True,
                                                help_text="share of shared items matching the others' majority")
    valence_ccc = serializers.FloatField(allow_null=True)
    arousal_ccc = serializers.FloatField(allow_null=True)
    valence_mae = serializers.FloatField(allow_null=True)
    arousal_mae = serializers.FloatField(allow_null=True)
    hours = serializers.FloatField()
    labels_per_hour = serializers.FloatField(allow_null=True)
    acceptance_rate = serializers.FloatField(allow_null=True)
    gold_n = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_valence_mae = serializers.FloatField(allow_null=True)
    gold_arousal_mae = serializers.FloatField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    n_labels = serializers.IntegerField()
    n_items = serializers.IntegerField()
    n_raters = serializers.IntegerField()
    alpha_category = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha, nominal")
    alpha_valence = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha, interval")
    alpha_arousal = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha, interval")
    ccc_valence = PairwiseCCCSerializer()
    ccc_arousal = PairwiseCCCSerializer()
    raters = RaterSerializer(many=True)
    classes = serializers.ListField(child=serializers.CharField())
    teacher_confusion = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()),
                                              help_text="rows: teacher prediction, columns: human label")
    acceptance_rate = serializers.FloatField(allow_null=True,
                                             help_text="share of labels equal to the prelabel shown")
    n_with_prelabel = serializers.IntegerField()
    teacher_agreement_shown = serializers.FloatField(allow_null=True, help_text="labels equal to the teacher's "
                                                     "category when its prelabel was shown")
    teacher_agreement_blind = serializers.FloatField(allow_null=True, help_text="the same in the blind pass "
                                                     "(ANNOTATION_HIDE_PRELABELS): the gap measures anchoring")
    n_blind = serializers.IntegerField()
    queue = serializers.DictField(child=serializers.IntegerField())
    computed_at = serializers.DateTimeField(help_text="when this report was computed (a background task after "
                                                      "labels change, at most every AGREEMENT_REFRESH_SECONDS)")
    computed_seconds = serializers.FloatField(help_text="how long the computation took")
    refresh_pending = serializers.BooleanField(help_text="labels changed since: a new computation is queued")
    labels_now = serializers.IntegerField(help_text="labels in the corpus now (n_labels: in the report)")


class AgreementPendingSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"pending": no report computed yet; the first one is queued')
    computed_at = serializers.DateTimeField(allow_null=True)
    labels_now = serializers.IntegerField()
    queue = serializers.DictField(child=serializers.IntegerField())
