"""Rate limit of the public certificate check, per client, shared by the page and the API.

Both doors count against one budget (settings.VERIFY_RATE, e.g. ``30/min``), so walking
the number space cannot be sped up by alternating between them.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class VerifyRateThrottle(SimpleRateThrottle):
    """A fixed-window counter (one Redis round trip per request) instead of DRF's pickled
    list of timestamps read and written back. The public verify endpoint is the busiest
    anonymous one, so its limiter must cost little."""

    scope = "verify"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        self.now = time.time()
        window = int(self.now // self.duration)
        key = f"{self.key}:{window}"
        self.window_ends = (window + 1) * self.duration
        count = _count(key, ttl=int(self.duration) + 1)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(self.window_ends - self.now, 0)

    def get_rate(self) -> str | None:
        # Read on every request (throttles are built per request), so a deployment or a test
        # can change the setting without touching REST_FRAMEWORK's cached rates.
        return getattr(settings, "VERIFY_RATE", "30/min") or None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def get_ident(self, request) -> str:
        # DRF trusts a client's own X-Forwarded-For when NUM_PROXIES is unset, which would let
        # anyone pick a fresh identity per request. Unset here means "no proxy in front".
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or ""
        return super().get_ident(request)


def _count(key: str, *, ttl: int) -> int:
    """Add one to a window's counter and return it: on Redis one round trip (INCR and
    EXPIRE NX in a pipeline); on other caches add() then incr()."""
    from django.core.cache.backends.redis import RedisCache

    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(full_key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl, nx=True)
        return int(pipe.execute()[0])
    cache.add(key, 0, timeout=ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


def verify_allowed(request) -> tuple[bool, int | None]:
    """For the page: count this request; ``(allowed, seconds to wait)``."""
    throttle = VerifyRateThrottle()
    if throttle.allow_request(request, None):
        return True, None
    wait = throttle.wait()
    return False, int(wait) + 1 if wait is not None else None
