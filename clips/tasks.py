"""Celery entry points of the clips app (autodiscovered); the tasks live
beside the code they drive."""

from .importing.tasks import *  # noqa: F401,F403
from .segmentation.tasks import *  # noqa: F401,F403
