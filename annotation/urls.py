from django.urls import include, path

urlpatterns = [
    path("", include("annotation.export_urls")),
]
