"""Roles: staff run import/export/retrain; the `annotators` group only annotates."""

from django.contrib.auth.mixins import UserPassesTestMixin
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from rest_framework.permissions import BasePermission

ANNOTATORS_GROUP = "annotators"


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


_IN_GROUP = "_lse_in_annotators_group"  # cached on the request's user object


def remember_annotator(user, in_group: bool) -> None:
    """Record a group membership already read with the user (authentication.py)."""
    setattr(user, _IN_GROUP, in_group)


def is_annotator(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    if user.is_staff:
        return True
    if getattr(user, _IN_GROUP, None) is None:
        # Plain SQL: asked on every annotation request; the ORM's compile step cost more than the read.
        memberships, groups = user.groups.through._meta.db_table, Group._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {memberships} ug JOIN {groups} g ON g.id = ug.group_id "
                           f"WHERE ug.user_id = %s AND g.name = %s LIMIT 1", [user.pk, ANNOTATORS_GROUP])
            remember_annotator(user, cursor.fetchone() is not None)
    return getattr(user, _IN_GROUP)


def _staff_or_403(user) -> bool:
    if not user.is_authenticated:
        return False  # -> login redirect
    if not user.is_staff:
        raise PermissionDenied("Staff only.")
    return True


staff_required = user_passes_test(_staff_or_403)


class StaffRequiredMixin(UserPassesTestMixin):
    raise_exception = False

    def test_func(self):
        return _staff_or_403(self.request.user)


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request, view):
        return is_staff(request.user)


class IsAnnotator(BasePermission):
    message = "Annotators and staff only."

    def has_permission(self, request, view):
        return is_annotator(request.user)
