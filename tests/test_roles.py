"""Annotators reach annotation only: every other page and API answers 403.

The URL list is read from the project's resolver, so a new staff page that
forgets its permission check fails here without anyone adding a test."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# What an annotator may open: annotation, its API, their own session, media.
ANNOTATOR_ALLOWED = re.compile(
    r"^(|login/|logout/|annotate/.*|api/queue/.*|api/labels/.*|api/assignments/.*|api/schema/|api/docs/|api/health/|media/.*)$")


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _concrete(route: str) -> str:
    """Fill converters with a plausible value: '<int:pk>' -> '1'."""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)  # DRF router groups
    route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    route = route.replace("\\.", ".").replace("\\", "")
    return "/" + route


def staff_routes():
    routes = sorted({r for r in _routes(get_resolver().url_patterns)
                     if not r.startswith("admin/") and not ANNOTATOR_ALLOWED.match(r.replace("^", ""))}
              - {"media/(?P<path>.*)"})
    return routes


def test_there_are_staff_routes_to_check():
    # Import, videos, exports, models and training runs at least.
    joined = " ".join(staff_routes())
    for needle in ("import/", "videos/", "exports/", "models/", "api/exports/", "api/training-runs/"):
        assert needle in joined, needle


@pytest.mark.parametrize("method", ["get", "post"])
def test_annotator_gets_403_on_every_staff_page_and_endpoint(annotator_client, method):
    failures = []
    for route in staff_routes():
        url = _concrete(route)
        if "format" in route:  # DRF's .json/.api suffix variants repeat their base route
            continue
        response = getattr(annotator_client, method)(url)
        if response.status_code != 403:
            failures.append(f"{method.upper()} {url} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_anonymous_users_are_sent_to_login_or_refused(client):
    failures = []
    for route in staff_routes():
        url = _concrete(route)
        response = client.get(url)
        if response.status_code not in (302, 401, 403):
            failures.append(f"GET {url} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_annotator_cannot_open_admin(annotator_client):
    response = annotator_client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
