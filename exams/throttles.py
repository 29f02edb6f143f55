"""Rate limit of the public certificate check, per client, shared by the page and the API.

Both doors count against one budget (settings.VERIFY_RATE, e.g. ``30/min``), so walking
the number space cannot be sped up by alternating between them.
"""

from __future__ import annotations

import time
import weakref

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
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
    """Add one to a window's counter and return it: on Redis one round trip (SET NX with
    the expiry, then INCR, in a pipeline); on other caches add() then incr()."""
    # The backend itself: ``cache`` is a proxy, never an instance of RedisCache.
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        pipe = _redis_client(backend).pipeline(transaction=False)
        pipe.set(full_key, 0, ex=ttl, nx=True)
        pipe.incr(full_key)
        return int(pipe.execute()[1])
    backend.add(key, 0, timeout=ttl)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=ttl)
        return 1


# One redis.Redis per cache backend: Django's get_client() builds a new one on every call
# (about as much CPU as the round trip itself); all share the backend's connection pool.
_redis_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis_client(backend: RedisCache):
    client = _redis_clients.get(backend)
    if client is None:
        client = _redis_clients[backend] = backend._cache.get_client(write=True)
    return client


def verify_allowed(request) -> tuple[bool, int | None]:
    """For the page: count this request; ``(allowed, seconds to wait)``."""
    throttle = VerifyRateThrottle()
    if throttle.allow_request(request, None):
        return True, None
    wait = throttle.wait()
    return False, int(wait) + 1 if wait is not None else None
