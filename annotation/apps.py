from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation and export"

    def ready(self):
        from . import signals  # noqa: F401  (creates the annotators group)
