"""Heartbeats /healthz reads: a worker's, written every WORKER_HEARTBEAT_SECONDS by a thread
of each worker's main process, and beat's, written by a task beat sends every minute (so it
also needs a worker to take it).

Both are timestamps in the default cache (the shared Redis of a deployment; a worker and the
web processes share nothing else that is not the database, and these need no table).
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.core.cache import cache

logger = logging.getLogger(__name__)

WORKER_KEY = "health:worker"
BEAT_KEY = "health:beat"
WORKER_HEARTBEAT_SECONDS = 30
# Kept a little longer than /healthz calls a heartbeat stale, so it can say "last seen 5 min ago".
KEEP_SECONDS = 24 * 3600

_stop = threading.Event()


def record(key: str, **extra) -> None:
    """Write a heartbeat; a cache that is down is logged, never raised (a worker keeps working)."""
    try:
        cache.set(key, {"at": time.time(), **extra}, timeout=KEEP_SECONDS)
    except Exception as exc:
        logger.warning("Heartbeat %s not written: %s: %s", key, type(exc).__name__, exc)


def read(key: str) -> dict | None:
    value = cache.get(key)
    return value if isinstance(value, dict) and "at" in value else None


@shared_task(name="core.tasks.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    record(BEAT_KEY)


def _beat_worker_heartbeat(hostname: str) -> None:
    while not _stop.is_set():
        record(WORKER_KEY, hostname=hostname)
        _stop.wait(WORKER_HEARTBEAT_SECONDS)


@worker_ready.connect
def _start_worker_heartbeat(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    _stop.clear()
    threading.Thread(target=_beat_worker_heartbeat, args=(hostname,), name="health-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_worker_heartbeat(**kwargs) -> None:
    _stop.set()
