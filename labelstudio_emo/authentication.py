"""API token authentication in one indexed read.

DRF's TokenAuthentication loads the token and its user through the ORM, and
the annotator check then asks for the user's groups in a second query; on the
annotation endpoints (two calls per label, all day long) compiling those
queries cost more than the rest of the request. This reads the token, the user
and their membership of the `annotators` group together, and hands the
membership to `permissions.is_annotator`. Same rules and messages as DRF:
an unknown key or an inactive user is refused.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from .permissions import ANNOTATORS_GROUP, in_annotators_sql, remember_annotator
from .throttling import FailedTokenThrottle

LOADED = {"id", "username", "is_active", "is_staff", "is_superuser"}
FLAGS = ("is_active", "is_staff", "is_superuser")


@cache
def _user_fields() -> tuple[str, ...]:
    """The loaded columns in the model's field order (what Model.from_db expects)."""
    return tuple(f.attname for f in get_user_model()._meta.concrete_fields if f.attname in LOADED)


@cache
def _token_sql() -> str:
    users, tokens = get_user_model()._meta.db_table, Token._meta.db_table
    columns = ", ".join(f"u.{name}" for name in _user_fields())
    return (f"SELECT {columns}, {in_annotators_sql('u.id')} FROM {tokens} t JOIN {users} u ON u.id = t.user_id "
            f"WHERE t.key = %s")


class FastTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        """Token guessing is throttled per address (throttling.FailedTokenThrottle);
        requests without a token header cost nothing extra."""
        if not request.META.get("HTTP_AUTHORIZATION"):
            return None
        throttle = FailedTokenThrottle()
        wait = throttle.wait_if_blocked(request)
        if wait is not None:
            raise exceptions.Throttled(wait)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(), [ANNOTATORS_GROUP, key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        *values, in_group = row
        fields = _user_fields()
        values = [bool(v) if name in FLAGS else v for name, v in zip(fields, values)]  # SQLite gives 0/1
        # Only these fields are loaded; any other is read on first access (Django's deferred fields).
        user = get_user_model().from_db(connection.alias, fields, values)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_annotator(user, bool(in_group))
        token = Token.from_db(connection.alias, ("key", "user_id"), (key, user.pk))
        token.user = user
        return user, token
