"""The rate limiter every throttle of the project counts with: a sliding window.

``hit(key, limit=, period=)`` lets a request through when fewer than ``limit`` requests went
through for that key in the ``period`` seconds before it, so no stretch of ``period`` seconds
ever holds more than ``limit`` (a fixed per-minute counter let twice the limit through across
a minute's end: 60 of a 30/min budget in 1.3 s). The moments of the admitted requests are
kept in the default cache: on Redis a sorted set per key, trimmed, counted and added to by
one script in one round trip; on other caches a list read and written back under a process
lock (the per-process memory cache of development and tests).

When the cache fails (Redis stopped, frozen, unreachable) the limiter never fails the
request and never waits on the cache again for a while: it counts in this process instead
for ``FALLBACK_SECONDS`` (the same limit per gunicorn worker instead of per site), logs one
warning a minute per process, then tries the cache again. A frozen Redis therefore costs one
request per worker one socket timeout (settings.CACHE_SOCKET_TIMEOUT) every
``FALLBACK_SECONDS``, not every request the full redis-py default of 5 s, retried.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# After a cache failure, count in the process for this long before asking the cache again.
FALLBACK_SECONDS = 5.0
# At most one warning per process in this many seconds while the cache keeps failing.
WARNING_INTERVAL_SECONDS = 60.0

# KEYS[1]: the key. ARGV: now, period (seconds), limit, a unique member.
# Returns {1, ""} when admitted (and recorded), {0, seconds until a place frees} when not.
_SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(period * 1000))
  return {1, ''}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + period - now)}
"""


class _Fallback:
    """Where the limiter counts while the shared cache is failing: this process's memory."""

    def __init__(self):
        self.lock = threading.Lock()
        self.moments: dict[str, list[float]] = {}
        self.until = 0.0  # monotonic time until which the cache is not asked
        self.warned_at = -math.inf

    def active(self) -> bool:
        return time.monotonic() < self.until

    def trip(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self.lock:
            self.until = now + FALLBACK_SECONDS
            warn = now - self.warned_at >= WARNING_INTERVAL_SECONDS
            if warn:
                self.warned_at = now
        if warn:
            logger.warning(
                "Rate limits count per process for %s s: the cache failed (%s: %s); "
                "this warning repeats at most once a minute while it keeps failing.",
                FALLBACK_SECONDS,
                type(exc).__name__,
                exc,
            )

    def hit(self, key: str, *, limit: int, period: float, now: float) -> tuple[bool, float | None]:
        with self.lock:
            if len(self.moments) > 10_000:  # many clients while the cache is down: drop the idle ones
                self.moments = {k: v for k, v in self.moments.items() if v and v[-1] > now - period}
            moments = [t for t in self.moments.get(key, ()) if t > now - period]
            allowed, wait = _decide(moments, limit=limit, period=period, now=now)
            self.moments[key] = moments
            return allowed, wait


_fallback = _Fallback()
_local_lock = threading.Lock()


def _decide(moments: list[float], *, limit: int, period: float, now: float) -> tuple[bool, float | None]:
    """The sliding window's rule on a list of admitted moments, all within the period: admit
    and record ``now``, or say how long until the oldest leaves the window."""
    if len(moments) < limit:
        moments.append(now)
        return True, None
    return False, max(moments[0] + period - now, 0.0) if moments else period


def hit(key: str, *, limit: int, period: float, now: float | None = None) -> tuple[bool, float | None]:
    """Count one request for ``key``: ``(admitted, seconds to wait when not)``."""
    now = time.time() if now is None else now
    if _fallback.active():
        return _fallback.hit(key, limit=limit, period=period, now=now)
    backend = caches[DEFAULT_CACHE_ALIAS]
    try:
        if isinstance(backend, RedisCache):
            return _hit_redis(backend, key, limit=limit, period=period, now=now)
        return _hit_cache(backend, key, limit=limit, period=period, now=now)
    except Exception as exc:  # whatever the cache raises, the request goes on
        _fallback.trip(exc)
        return _fallback.hit(key, limit=limit, period=period, now=now)


def _hit_redis(backend: RedisCache, key: str, *, limit: int, period: float, now: float):
    full_key = backend.make_and_validate_key(key)
    member = f"{now:.6f}:{os.urandom(6).hex()}"
    admitted, wait = _evalsha(backend, full_key, repr(now), repr(float(period)), limit, member)
    if int(admitted):
        return True, None
    return False, max(float(wait), 0.0)


# Each thread keeps one connection of the backend's pool for the script: redis-py's client
# call (pool checkout and return, retry wrapper, command hooks) cost about twice the round
# trip's own CPU, on the path of every verify call (issue 13).
_connections = threading.local()


def _evalsha(backend: RedisCache, *args):
    """The script's reply for KEYS[1] = args[0] and ARGV = args[1:], on this thread's own
    connection: the script loaded first when Redis does not know it (a restart, SCRIPT
    FLUSH); a connection found closed is replaced once (a timeout is not retried, so a frozen
    Redis costs one socket timeout); any failure closes the connection and is raised, and the
    caller counts in the process."""
    script = _script(backend)
    held = getattr(_connections, "by_backend", None)
    if held is None or _connections.pid != os.getpid():  # a forked child opens its own
        held = _connections.by_backend = weakref.WeakKeyDictionary()
        _connections.pid = os.getpid()
    command = _packed_evalsha(script.sha, args)
    for attempt in (1, 2):
        connection = held.get(backend)
        if connection is None:
            connection = held[backend] = script.registered_client.connection_pool.make_connection()
        try:
            try:
                connection.send_packed_command([command])
                return connection.read_response()
            except NoScriptError:
                connection.send_command("SCRIPT", "LOAD", script.script)
                connection.read_response()
                connection.send_packed_command([command])
                return connection.read_response()
        except BaseException as exc:
            held.pop(backend, None)
            connection.disconnect()
            if attempt == 2 or not isinstance(exc, RedisConnectionError):
                raise
    raise AssertionError("unreachable")


def _packed_evalsha(sha: str, args) -> bytes:
    """``EVALSHA sha 1 *args`` as RESP bytes, built in one go: redis-py's packer (an encoder
    call and a few joins per argument) cost about a third of the hit's Python time."""
    parts = [str(arg).encode() for arg in (sha, "1", *args)]
    return b"".join(
        [b"*%d\r\n$7\r\nEVALSHA\r\n" % (len(parts) + 1)] + [b"$%d\r\n%s\r\n" % (len(part), part) for part in parts]
    )


def _hit_cache(backend, key: str, *, limit: int, period: float, now: float):
    with _local_lock:
        moments = [t for t in backend.get(key, []) if t > now - period]
        allowed, wait = _decide(moments, limit=limit, period=period, now=now)
        if allowed:
            backend.set(key, moments, timeout=math.ceil(period))
        return allowed, wait


# One redis.Redis and its registered script per cache backend: Django's get_client() builds a
# new client on every call (about as much CPU as the round trip itself); all share the
# backend's connection pool. The script is sent by its SHA (EVALSHA), the text only once.
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def redis_client(backend: RedisCache):
    return _script(backend).registered_client


def _script(backend: RedisCache):
    script = _scripts.get(backend)
    if script is None:
        client = backend._cache.get_client(write=True)
        script = _scripts[backend] = client.register_script(_SLIDING_WINDOW_LUA)
    return script


class SlidingWindowThrottle(SimpleRateThrottle):
    """DRF's throttle API over ``hit``: DRF's own keeps a pickled list of moments, read and
    written back (two round trips, racing between workers) and fails the request when the
    cache does."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        allowed, self.wait_seconds = hit(self.key, limit=self.num_requests, period=self.duration, now=self.now)
        return allowed

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)

    def get_ident(self, request) -> str:
        # DRF trusts a client's own X-Forwarded-For when NUM_PROXIES is unset, which would let
        # anyone pick a fresh identity per request. Unset here means "no proxy in front".
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or ""
        return super().get_ident(request)
