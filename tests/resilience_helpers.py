"""Stand-ins for a failing Redis, shared by tests/test_resilience.py and tests/test_health.py:
a closed port, a server that accepts and never answers (a frozen Redis: SIGSTOP leaves the
kernel accepting connections), and a redis-server of the test's own that it may stop."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time

import pytest
from django.conf import settings

DEAD_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def redis_caches(url: str) -> dict:
    """The CACHES a deployment with CACHE_URL=url has (config/settings.py)."""
    timeout = settings.CACHE_SOCKET_TIMEOUT
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    }


@contextlib.contextmanager
def frozen_server():
    """A TCP server that accepts connections and never answers; yields its redis:// URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the accept timeout, to look at stop again
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_redis():
    """A redis-server of this test's own (never the shared one): yields (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def timed(call):
    """``(result, seconds)`` of one call."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started
