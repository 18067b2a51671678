"""Celery entry points of the inference app (autodiscovered)."""

from .student.tasks import *  # noqa: F401,F403
from .teachers.tasks import *  # noqa: F401,F403
