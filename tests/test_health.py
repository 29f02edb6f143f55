"""/healthz: each component (database, cache, broker) and the worker's and beat's heartbeats,
answered within a second whatever is down; 503 only when a required component is."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import override_settings

from core import health
from core import tasks as heartbeats
from tests.resilience_helpers import DEAD_URL, frozen_server, own_redis, redis_caches, timed
from tests.test_celery_worker import BASE_DIR, _stop

ANSWER_WITHIN = 1.0


@pytest.fixture(autouse=True)
def _checks_done():
    # A check left hanging by a test (a frozen server) ends on its socket timeout; the next
    # test must not find it still running (it would be reported as a timeout there).
    yield
    deadline = time.monotonic() + 3
    while health._running and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(client):
    with mock.patch("core.health._check_database", return_value=(False, "OperationalError")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert int(response["Retry-After"]) > 0


@pytest.mark.services("broker")
@pytest.mark.django_db
def test_healthz_reaches_the_real_broker(client):
    body = client.get("/healthz").json()
    assert body["broker"]["ok"] is True
    assert body["broker"]["info"] in ("redis", "amqp")


# --- every component within the deadline, whatever is down ---------------------------------------


@pytest.mark.django_db
def test_healthz_reports_each_component_and_answers_fast(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # tasks run in-process: no worker nor beat to see
    response, seconds = timed(lambda: client.get("/healthz"))
    body = response.json()
    assert set(body) == {"status", "database", "cache", "broker", "worker", "beat", "ms"}
    assert body["cache"] == {"ok": True, "info": "LocMemCache"}
    assert body["broker"] == {"ok": True, "info": "eager (in-process)"}
    assert body["worker"] == body["beat"] == {"ok": True, "info": "eager (in-process)"}
    assert response["Cache-Control"].startswith("max-age=0")
    assert seconds < ANSWER_WITHIN


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["closed port", "frozen server"])
def test_healthz_says_the_cache_is_down_within_a_second_and_stays_200(client, fault):
    # given: the cache down, everything else up: the site serves (rate limits count per process)
    with frozen_server() as frozen_url:
        url = DEAD_URL if fault == "closed port" else frozen_url
        with override_settings(CACHES=redis_caches(url)):
            response, seconds = timed(lambda: client.get("/healthz"))
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["cache"]["ok"] is False
    assert body["cache"]["info"] in ("ConnectionError", "TimeoutError", "timeout")
    assert body["database"]["ok"] is True
    assert seconds < ANSWER_WITHIN


@pytest.mark.django_db
def test_healthz_answers_within_the_deadline_when_the_database_hangs(client):
    # given: a database check that hangs (a frozen server) for longer than the deadline
    release = threading.Event()
    calls = []

    def hanging():
        calls.append(1)
        release.wait(5)
        return True, "late"

    try:
        with mock.patch("core.health._check_database", hanging):
            first, first_seconds = timed(lambda: client.get("/healthz"))
            second, second_seconds = timed(lambda: client.get("/healthz"))
    finally:
        release.set()

    # then: 503 within the deadline, the database reported as timed out; the second call does not
    # start a second hanging check beside the first
    for response, seconds in ((first, first_seconds), (second, second_seconds)):
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["database"] == {"ok": False, "info": "timeout"}
        assert seconds < ANSWER_WITHIN
    assert len(calls) == 1


@pytest.mark.django_db
def test_a_broker_that_is_down_is_degraded_not_503(client):
    with mock.patch("core.health._check_broker", side_effect=ConnectionRefusedError()):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == {"ok": False, "info": "ConnectionRefusedError"}


@pytest.mark.django_db
def test_required_components_are_a_setting(client, settings):
    settings.HEALTH_REQUIRED = ["database", "broker"]
    with mock.patch("core.health._check_broker", side_effect=ConnectionRefusedError()):
        response = client.get("/healthz")
    assert response.status_code == 503


# --- worker and beat heartbeats ------------------------------------------------------------------


@pytest.mark.django_db
def test_worker_and_beat_are_reported_by_their_heartbeats(client, settings):
    # given: tasks go to a broker (not in-process), no heartbeat written yet
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with mock.patch("core.health._check_broker", return_value=(True, "memory")):
        never = client.get("/healthz").json()

        # when: a worker starts (its heartbeat thread writes at once) and beat's task runs
        heartbeats._start_worker_heartbeat(sender=SimpleNamespace(hostname="celery@box1"))
        try:
            deadline = time.monotonic() + 5
            while heartbeats.read(heartbeats.WORKER_KEY) is None and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            heartbeats._stop_worker_heartbeat()
        heartbeats.beat_heartbeat()
        seen = client.get("/healthz").json()

        # when: both last wrote longer ago than HEALTH_HEARTBEAT_STALE_SECONDS
        long_ago = time.time() - settings.HEALTH_HEARTBEAT_STALE_SECONDS - 10
        heartbeats.cache.set(heartbeats.WORKER_KEY, {"at": long_ago, "hostname": "celery@box1"})
        heartbeats.cache.set(heartbeats.BEAT_KEY, {"at": long_ago})
        stale = client.get("/healthz")

    # then
    assert never["worker"] == {"ok": False, "info": "never seen", "seen_seconds_ago": None}
    assert never["beat"]["ok"] is False
    assert seen["worker"]["ok"] is True and seen["worker"]["info"] == "celery@box1"
    assert seen["beat"]["ok"] is True and seen["beat"]["seen_seconds_ago"] < 5
    assert stale.status_code == 200  # stale heartbeats are reported, they do not fail the check
    assert stale.json()["worker"]["ok"] is False
    assert stale.json()["worker"]["info"].startswith("not seen for")
    assert stale.json()["beat"]["ok"] is False


def test_the_beat_heartbeat_is_scheduled_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["core-beat-heartbeat"]
    assert entry["task"] == heartbeats.beat_heartbeat.name
    assert entry["schedule"] == 60.0


def test_a_heartbeat_is_not_written_when_the_cache_is_down_and_nothing_raises(caplog):
    with override_settings(CACHES=redis_caches(DEAD_URL)):
        heartbeats.record(heartbeats.WORKER_KEY, hostname="w")
    assert "not written" in caplog.text


@pytest.mark.django_db
def test_healthz_on_a_real_redis_then_frozen(client):
    with own_redis() as (redis_server, url), override_settings(CACHES=redis_caches(url)):
        up = client.get("/healthz").json()
        redis_server.send_signal(signal.SIGSTOP)
        try:
            frozen, seconds = timed(lambda: client.get("/healthz"))
        finally:
            redis_server.send_signal(signal.SIGCONT)
    assert up["cache"] == {"ok": True, "info": "redis"}
    assert frozen.json()["cache"]["ok"] is False
    assert frozen.json()["status"] == "degraded"
    assert seconds < ANSWER_WITHIN


def test_checks_still_running_are_not_started_twice():
    release = threading.Event()
    started = []

    def slow():
        started.append(1)
        release.wait(5)
        return True, "x"

    try:
        assert health.run_checks({"slow-one": slow}, 0.05) == {}
        assert health.run_checks({"slow-one": slow}, 0.05) == {}
    finally:
        release.set()
    assert started == [1]


@pytest.mark.services("broker")
def test_a_real_worker_writes_its_heartbeat_when_ready(tmp_path):
    # given: a worker of this test's own (its own queue and name), the cache a Redis of our own
    tag = uuid.uuid4().hex[:12]
    log_path = tmp_path / "worker.log"
    with own_redis() as (_, cache_url), override_settings(CACHES=redis_caches(cache_url)):
        env = {**os.environ, "CACHE_URL": cache_url, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"),
                    *("-Q", f"test-hb-{tag}", "-n", f"test-hb-{tag}@%h"),
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                # when: it is ready
                deadline = time.monotonic() + 60
                seen = None
                while seen is None and time.monotonic() < deadline and worker.poll() is None:
                    time.sleep(0.2)
                    seen = caches["default"].get(heartbeats.WORKER_KEY)
                # then: its heartbeat is in the cache, under its name
                assert seen is not None, log_path.read_text(errors="replace")
                assert seen["hostname"].startswith(f"test-hb-{tag}@")
                assert time.time() - seen["at"] < 60
            finally:
                _stop(worker)


def test_the_beat_heartbeat_goes_to_the_housekeeping_queue():
    # Behind a long export on the default queue, the heartbeat would expire and /healthz
    # would report beat missing while it runs.
    from config.celery import HOUSEKEEPING_QUEUE, app

    route = app.amqp.router.route({}, heartbeats.beat_heartbeat.name)
    assert route["queue"].name == HOUSEKEEPING_QUEUE
