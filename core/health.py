"""``/healthz``: the database, the cache and the broker, each checked in a thread of its own
with a short timeout, and when a Celery worker and beat were last seen.

The whole answer comes within settings.HEALTH_TIMEOUT_SECONDS whatever is down or frozen: a
check not finished by then is reported ``{"ok": false, "info": "timeout"}`` and left to end
on its own socket timeout (a check of a component still running from an earlier call is not
started again, so a frozen service does not pile up threads).

Status: ``ok`` (200) when every component answers; ``degraded`` (200) when only components
the site serves without are down (the cache: rate limits count per process; the broker: new
exports wait in the database for the broker to return); ``unavailable`` (503) when one of
settings.HEALTH_REQUIRED (the database by default) is down. ``worker`` and ``beat`` say when
a worker's and beat's heartbeats were last written (core.tasks); they never make it 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core import tasks as heartbeats
from core.errors import RETRY_AFTER_SECONDS

Result = tuple[bool, str]

_running: set[str] = set()
_running_lock = threading.Lock()


def _check_database() -> Result:
    # Runs in a thread of its own, so on a connection of its own (closed when done): a kept
    # connection of the request's thread would not tell a restarted server.
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, connection.vendor
    finally:
        connection.close()


def _check_cache(backend) -> Result:
    if isinstance(backend, RedisCache):
        backend._cache.get_client().ping()
        return True, "redis"
    backend.get("health:ping")
    return True, type(backend).__name__


def _check_broker() -> Result:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "eager (in-process)"
    from celery import current_app as app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=settings.HEALTH_TIMEOUT_SECONDS)
        return True, conn.transport.driver_type


def _heartbeats(backend) -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {name: {"ok": True, "info": "eager (in-process)"} for name in ("worker", "beat")}
    stale = settings.HEALTH_HEARTBEAT_STALE_SECONDS
    answer = {}
    for name, key in (("worker", heartbeats.WORKER_KEY), ("beat", heartbeats.BEAT_KEY)):
        value = backend.get(key)
        if not isinstance(value, dict) or "at" not in value:
            answer[name] = {"ok": False, "info": "never seen", "seen_seconds_ago": None}
            continue
        ago = max(time.time() - float(value["at"]), 0.0)
        answer[name] = {
            "ok": ago <= stale,
            "info": value.get("hostname", "") if ago <= stale else f"not seen for {round(ago)} s",
            "seen_seconds_ago": round(ago, 1),
        }
    return answer


def _run(name: str, check: Callable[[], object], results: dict, done: threading.Event) -> None:
    try:
        results[name] = check()
    except Exception as exc:
        results[name] = (False, type(exc).__name__)
    finally:
        with _running_lock:
            _running.discard(name)
        done.set()


def run_checks(checks: dict[str, Callable[[], object]], timeout: float) -> dict:
    """Run each check in a daemon thread; what has not answered by ``timeout`` is absent."""
    results: dict = {}
    events = {}
    for name, check in checks.items():
        with _running_lock:
            if name in _running:
                continue  # the previous call's check is still hanging: reported as a timeout
            _running.add(name)
        events[name] = done = threading.Event()
        threading.Thread(target=_run, args=(name, check, results, done), name=f"healthz-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout
    for done in events.values():
        done.wait(max(deadline - time.monotonic(), 0))
    return dict(results)


@never_cache
@require_safe
def healthz(request):
    started = time.monotonic()
    backend = caches[DEFAULT_CACHE_ALIAS]  # this thread's; redis-py's pool is thread-safe
    checks = {
        "database": _check_database,
        "cache": lambda: _check_cache(backend),
        "broker": _check_broker,
        "heartbeats": lambda: _heartbeats(backend),
    }
    results = run_checks(checks, settings.HEALTH_TIMEOUT_SECONDS)
    body: dict = {}
    for name in ("database", "cache", "broker"):
        ok, info = results.get(name, (False, "timeout"))
        body[name] = {"ok": ok, "info": info}
    beats = results.get("heartbeats")
    if not isinstance(beats, dict):  # the cache is down or slow: nothing to read them from
        info = "unknown (cache unavailable)"
        beats = {name: {"ok": False, "info": info, "seen_seconds_ago": None} for name in ("worker", "beat")}
    body.update(beats)
    required = set(settings.HEALTH_REQUIRED)
    if any(not body[name]["ok"] for name in required if name in body):
        status = "unavailable"
    elif all(body[name]["ok"] for name in ("database", "cache", "broker")):
        status = "ok"
    else:
        status = "degraded"
    body = {"status": status, **body, "ms": round((time.monotonic() - started) * 1000, 1)}
    if status != "unavailable":
        return JsonResponse(body)
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
