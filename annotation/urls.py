from django.urls import include, path

from . import api, views

urlpatterns = [
    path("annotate/", views.annotate, name="annotate"),
    path("agreement/", views.agreement, name="agreement"),
    path("review/", views.review_list, name="review"),
    path("review/<int:segment_id>/", views.review_detail, name="review-detail"),
    path("review/<int:segment_id>/save/", views.review_save, name="review-save"),
    path("api/queue/next/", api.QueueNextView.as_view(), name="api-queue-next"),
    path("api/queue/progress/", api.QueueProgressView.as_view(), name="api-queue-progress"),
    path("api/assignments/<int:pk>/skip/", api.AssignmentSkipView.as_view(), name="api-assignment-skip"),
    path("api/labels/", api.LabelsView.as_view(), name="api-labels"),
    path("api/agreement/", api.AgreementView.as_view(), name="api-agreement"),
    path("", include("annotation.export.urls")),
]
