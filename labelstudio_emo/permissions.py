"""Roles: staff run import/export/retrain; the `annotators` group only annotates."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.mixins import UserPassesTestMixin
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


def in_annotators_sql(user_id: str) -> str:
    """SQL that is true when the user whose id is `user_id` (a column or `%s`)
    is in the annotators group; the group name is its last parameter.
    Plain SQL: asked on every annotation request, where the ORM's compile step
    cost more than the read (also used by authentication.py)."""
    memberships = get_user_model().groups.through._meta.db_table
    return (f"EXISTS (SELECT 1 FROM {memberships} ug JOIN {Group._meta.db_table} g ON g.id = ug.group_id "
            f"WHERE ug.user_id = {user_id} AND g.name = %s)")


def is_annotator(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    if user.is_staff:
        return True
    if getattr(user, _IN_GROUP, None) is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {in_annotators_sql('%s')}", [user.pk, ANNOTATORS_GROUP])
            remember_annotator(user, bool(cursor.fetchone()[0]))
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
