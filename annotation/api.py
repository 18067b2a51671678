"""REST endpoints of the annotation workspace (thin: validation in serializers,
rules in queue/services, reads in selectors)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labelstudio_emo.permissions import IsAnnotator, IsStaff
from labelstudio_emo.validation import MAX_OFFSET, parse_count, parse_ids

from . import agreement_store, progress, queue, selectors, services
from .serializers import (AgreementPendingSerializer, AgreementSerializer, AssignmentSerializer, LabelInputSerializer,
                          LabelSerializer, QueueProgressSerializer,
                          RecentLabelSerializer, SkipSerializer, assignment_payload, label_payload, parse_label_input,
                          segment_payload)


class QueueNextView(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(
        operation_id="queue_next",
        summary="The caller's next segment to label",
        description="Returns an assignment the caller already holds (oldest first) or reserves a new one: "
                    "the most uncertain teacher prelabel first, balanced across predicted classes, each "
                    "segment given to K different annotators at most, never twice to the same person. "
                    "Pass `exclude` (the assignment on screen) to preload the one after it.",
        parameters=[OpenApiParameter("exclude", str, description="comma-separated assignment ids to skip "
                                                                 "(the one currently shown)")],
        responses={200: AssignmentSerializer, 204: OpenApiResponse(description="nothing left to label")})
    def get(self, request):
        exclude = parse_ids(request.query_params.get("exclude", ""), "exclude", limit=5) or []
        assignment = queue.next_assignment(request.user, exclude=exclude)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(assignment_payload(assignment, selectors.segment_row(assignment.segment_id),
                                           done_today=selectors.labels_done_today(request.user)))


class QueueProgressView(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(operation_id="queue_progress", summary="How much is left: for the caller and for the corpus",
                   responses={200: QueueProgressSerializer})
    def get(self, request):
        mine = progress.queue_progress(request.user)
        return Response({"left_for_you": mine.left_for_you, "still_needed": mine.still_needed,
                         "done_today": selectors.labels_done_today(request.user)})


class AssignmentSkipView(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(operation_id="assignment_skip", summary="Skip an assignment (its place goes back to the pool)",
                   request=None, responses={200: SkipSerializer})
    def post(self, request, pk: int):
        try:
            assignment = services.skip_assignment(request.user, pk)
        except services.AnnotationError as error:
            raise ValidationError({error.field: error.message})
        return Response({"id": assignment.pk, "status": assignment.status})


class LabelsView(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(
        operation_id="labels_mine",
        summary="The caller's labels, last made first (U in the page walks back through them)",
        parameters=[OpenApiParameter("offset", int, description="0 = the last label made"),
                    OpenApiParameter("limit", int, description="at most 50")],
        responses={200: RecentLabelSerializer(many=True)})
    def get(self, request):
        offset = parse_count(request.query_params.get("offset"), "offset", 0, MAX_OFFSET)
        limit = max(1, min(50, parse_count(request.query_params.get("limit"), "limit", 1, 10**9)))
        labels = selectors.recent_labels(request.user)[offset:offset + limit]
        out = []
        for label in labels:
            assignment = selectors.assignment_for_label(label)
            out.append({"label": label_payload(label), "assignment": assignment.pk if assignment else None,
                        "segment": segment_payload(label.segment)})
        return Response(out)

    @extend_schema(
        operation_id="labels_save",
        summary="Create or update the caller's label for a segment (idempotent)",
        description="One label per annotator and segment: sending the same request twice (double "
                    "submit, retry) returns the same label and creates nothing; a change updates it and "
                    "is kept in the label's history. 201 when created, 200 otherwise.",
        request=LabelInputSerializer,
        responses={201: LabelSerializer, 200: LabelSerializer,
                   400: OpenApiResponse(description="bad category / V-A / flags, expired, skipped or "
                                                    "someone else's assignment")},
        examples=[OpenApiExample("label", request_only=True, value={
            "assignment": 12, "category": "happy", "valence": 0.6, "arousal": 0.3,
            "flags": ["unsure"], "seconds_spent": 4.2})])
    def post(self, request):
        data = parse_label_input(request.data)
        try:
            values = services.LabelValues(data["category"], data["valence"], data["arousal"],
                                          list(data.get("flags") or []), data.get("seconds_spent") or 0.0)
            result = services.save_label(request.user, values, assignment_id=data.get("assignment"),
                                         segment_id=data.get("segment"))
        except services.AnnotationError as error:
            raise ValidationError({error.field: [error.message]})
        return Response(label_payload(result.label, result.created, result.changed),
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class AgreementView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(operation_id="agreement", summary="Inter-rater agreement and annotator figures (staff)",
                   description="The stored report (recomputed in the background after labels change) with "
                               "when it was computed and over how many labels. Before the first computation: "
                               "202 with status \"pending\" (the computation is queued).",
                   responses={200: AgreementSerializer, 202: AgreementPendingSerializer})
    def get(self, request):
        snapshot, overview = agreement_store.stored_or_requested(), selectors.queue_overview()
        if snapshot is None:
            return Response({"status": "pending", "computed_at": None, "labels_now": overview["labels"],
                             "queue": overview}, status=status.HTTP_202_ACCEPTED)
        return Response({**snapshot.report, "queue": overview, "computed_at": snapshot.computed_at,
                         "computed_seconds": snapshot.seconds, "refresh_pending": snapshot.requested_at is not None,
                         "labels_now": overview["labels"]})
