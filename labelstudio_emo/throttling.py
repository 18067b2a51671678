"""Refusing password and API-token guessing with well-kept libraries:
django-axes locks logins (LoginLockoutBackend), DRF's throttle machinery
counts wrong tokens (FailedTokenThrottle).

DRF checks throttles after authentication, so a request with a wrong token is
refused (401) before any throttle counts it. FailedTokenThrottle counts those
failures per client address and, once over its rate ("bad_token" in
DEFAULT_THROTTLE_RATES), answers 429 *before* the next token is looked up: a
guesser learns nothing from further tries until the window has passed.
"""

from axes.backends import AxesStandaloneBackend
from rest_framework.throttling import SimpleRateThrottle


class FailedTokenThrottle(SimpleRateThrottle):
    scope = "bad_token"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _history(self, request) -> list[float]:
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        return [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def wait_if_blocked(self, request) -> float | None:
        """Seconds until this address may try a token again, or None (nothing recorded)."""
        self.history = self._history(request)
        return self.wait() if len(self.history) >= self.num_requests else None

    def record_failure(self, request) -> None:
        self.history = [self.timer(), *self._history(request)]
        self.cache.set(self.key, self.history, self.duration)


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout for every login that comes with a request (the
    login page, the admin, DRF). Callers without one (scripts, the test
    client's login()) have no address to lock and are passed on unchanged."""

    def authenticate(self, request=None, *args, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
