"""Celery entry points of the inference app (autodiscovered)."""

# Celery discovers an app's tasks through <app>.tasks only, so this module
# names the student's too (the one place the inference app imports its later stage).
from .student.tasks import *  # noqa: F401,F403
from .teachers.tasks import *  # noqa: F401,F403
