"""Roles: staff run import/export/retrain; the `annotators` group only annotates."""

from django.contrib.auth.mixins import UserPassesTestMixin
from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

ANNOTATORS_GROUP = "annotators"


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def is_annotator(user) -> bool:
    return bool(user and user.is_authenticated and (
        user.is_staff or user.groups.filter(name=ANNOTATORS_GROUP).exists()))


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
