"""Celery tasks (thin: they call services and pipeline functions)."""
