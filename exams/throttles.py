"""Rate limit of the public certificate check, per client, shared by the page and the API.

Both doors count against one budget (settings.VERIFY_RATE, e.g. ``30/min``: at most 30 in
any 60 seconds), so walking the number space cannot be sped up by alternating between them.
The counting is core.throttles' sliding window (one Redis round trip per request; counted in
the process while the cache is down, never a 500 nor a wait on it).
"""

from __future__ import annotations

import time

from django.conf import settings

from core.throttles import SlidingWindowThrottle


class VerifyRateThrottle(SlidingWindowThrottle):
    scope = "verify"

    def timer(self) -> float:
        return time.time()

    def get_rate(self) -> str | None:
        # Read on every request (throttles are built per request), so a deployment or a test
        # can change the setting without touching REST_FRAMEWORK's cached rates.
        return getattr(settings, "VERIFY_RATE", "30/min") or None

    def allow_request(self, request, view) -> bool:
        # The verify API decides before DRF runs (exams.views.CertificateVerifyAPIView.dispatch)
        # and hands DRF the decision, so that one request is counted once.
        decided = getattr(request, "verify_decided", None)
        if decided is not None:
            allowed, self.wait_seconds, _found = decided
            return allowed
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def verify_allowed(request) -> tuple[bool, int | None]:
    """For the page: count this request; ``(allowed, seconds to wait)``."""
    throttle = VerifyRateThrottle()
    if throttle.allow_request(request, None):
        return True, None
    wait = throttle.wait()
    return False, int(wait) + 1 if wait is not None else None
