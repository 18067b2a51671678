from django.urls import include, path

urlpatterns = [
    path("", include("inference.teachers.urls")),
    path("", include("inference.student.urls")),
]
