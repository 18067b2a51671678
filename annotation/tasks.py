"""Celery tasks of the annotation app (exports run on the `io` queue)."""
