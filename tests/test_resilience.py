"""When the cache (Redis) is down or frozen the rate-limited doors still answer, fast, and
still limit: core.throttles counts in the process for a while (one warning a minute), then
asks the cache again. Never a 500, never a wait on the cache beyond one short socket timeout."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from celery import Celery
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.throttling import ScopedRateThrottle

from core import throttles as core_throttles
from exams import numbers, services
from tests.factories import InspectorFactory, UserFactory
from tests.resilience_helpers import DEAD_URL, frozen_server, own_redis, redis_caches, timed

# A request must be answered within this, whatever the cache does (the socket timeout is 0.3 s).
ANSWER_WITHIN = 1.0


@pytest.fixture(autouse=True)
def _fresh_fallback(monkeypatch):
    # Each test starts with the cache trusted and no warning given yet in this process.
    monkeypatch.setattr(core_throttles, "_fallback", core_throttles._Fallback())


@pytest.fixture
def certificate(regions):
    holder = InspectorFactory(name="张小三", region=regions["changan"])
    return services.certificate_issue(
        holder=holder, region=regions["sjz"], actor=None, issued_on=timezone.localdate() - dt.timedelta(days=30)
    )


@pytest.fixture
def login_rate(monkeypatch):
    def _set(rate: str) -> None:
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "login": rate})

    return _set


def verify_api(number):
    return reverse("api-certificate-verify", kwargs={"number": number})


def verify_page(number):
    return reverse("verify", kwargs={"number": number})


@pytest.fixture(params=["closed port", "frozen server"])
def broken_cache(request):
    """The cache pointed at a port nobody listens on, or at a server that never answers."""
    if request.param == "closed port":
        with override_settings(CACHES=redis_caches(DEAD_URL)):
            yield request.param
    else:
        with frozen_server() as url, override_settings(CACHES=redis_caches(url)):
            yield request.param


def test_verify_answers_fast_and_still_limits_when_the_cache_fails(client, certificate, broken_cache, caplog):
    # given: 3 a minute, and the cache failing
    caplog.set_level(logging.WARNING, logger="core.throttles")
    with override_settings(VERIFY_RATE="3/min"):
        # when: page and API, past the limit
        answers = [
            timed(lambda: client.get(verify_api(certificate.number))),
            timed(lambda: client.get(verify_page(certificate.number))),
            timed(lambda: client.get(verify_api(certificate.number))),
            timed(lambda: client.get(verify_api(certificate.number))),
            timed(lambda: client.get(verify_page(certificate.number))),
        ]

    # then: every answer fast, the first three found, then refused (counted in this process)
    codes = [response.status_code for response, _ in answers]
    assert codes == [200, 200, 200, 429, 429]
    assert max(seconds for _, seconds in answers) < ANSWER_WITHIN
    assert sum(seconds for _, seconds in answers) < ANSWER_WITHIN + 0.5  # one timeout, not five
    assert answers[0][0].json()["number"] == certificate.number
    refused = answers[3][0]
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) == 60
    assert "查询过于频繁" in answers[4][0].content.decode()
    # one warning, however many requests
    warnings = [r for r in caplog.records if r.name == "core.throttles"]
    assert len(warnings) == 1
    assert "count per process" in warnings[0].getMessage()


def test_token_login_answers_fast_and_still_limits_when_the_cache_fails(api_client, db, broken_cache, login_rate):
    # given
    user = UserFactory(username="someone")
    user.set_password("right-Password-1")
    user.save()
    login_rate("3/min")

    # when
    bad, bad_seconds = timed(lambda: api_client.post("/api/v1/auth/token/", {"username": "someone", "password": "x"}))
    good, good_seconds = timed(
        lambda: api_client.post("/api/v1/auth/token/", {"username": "someone", "password": "right-Password-1"})
    )
    api_client.post("/api/v1/auth/token/", {"username": "nobody", "password": "x"})
    refused = api_client.post("/api/v1/auth/token/", {"username": "someone", "password": "right-Password-1"})

    # then: a wrong password is the usual 400, the right one logs in, the fourth is throttled
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    assert good.status_code == 200 and good.json()["token"]
    assert (refused.status_code, refused.json()["code"]) == (429, "throttled")
    assert max(bad_seconds, good_seconds) < ANSWER_WITHIN


def test_admin_login_and_lockout_do_not_need_the_cache(client, db, broken_cache, settings):
    # django-axes keeps its failures in the database, sessions are in the database too
    user = UserFactory(username="staffer", is_staff=True, is_superuser=True)
    user.set_password("right-Password-1")
    user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/admin/login/", {"username": "staffer", "password": "wrong"}).status_code == 200
    assert client.post("/admin/login/", {"username": "staffer", "password": "wrong"}).status_code == 429


def test_the_fallback_warns_once_a_minute_and_asks_the_cache_again_after_a_while(monkeypatch, caplog):
    # given: a limiter whose cache is a closed port, with a clock of our own
    caplog.set_level(logging.WARNING, logger="core.throttles")
    clock = [1000.0]
    monkeypatch.setattr(core_throttles.time, "monotonic", lambda: clock[0])
    asked = []
    real = core_throttles._hit_redis

    def counting(*args, **kwargs):
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(core_throttles, "_hit_redis", counting)
    with override_settings(CACHES=redis_caches(DEAD_URL)):
        # when: requests now, within the fallback period, after it, and a minute later
        core_throttles.hit("k", limit=10, period=60)
        core_throttles.hit("k", limit=10, period=60)
        clock[0] += core_throttles.FALLBACK_SECONDS + 0.1
        core_throttles.hit("k", limit=10, period=60)
        clock[0] += core_throttles.WARNING_INTERVAL_SECONDS
        core_throttles.hit("k", limit=10, period=60)

    # then: the cache was asked three times, not four; two warnings
    assert len(asked) == 3
    assert len([r for r in caplog.records if r.name == "core.throttles"]) == 2


def test_no_more_than_the_limit_in_any_period_in_the_process_fallback(monkeypatch):
    # the fallback's window slides too: 2 in 60 s, across a minute's end
    monkeypatch.setattr(core_throttles._fallback, "until", float("inf"))
    answers = [core_throttles.hit("k", limit=2, period=60, now=now)[0] for now in (59.0, 59.5, 60.0, 118.9, 119.0)]
    assert answers == [True, True, False, False, True]


def test_a_real_redis_frozen_then_thawed_then_killed(client, certificate, monkeypatch):
    # given: a Redis of our own as the cache, a short fallback period
    monkeypatch.setattr(core_throttles, "FALLBACK_SECONDS", 0.3)
    with own_redis() as (redis_server, url), override_settings(CACHES=redis_caches(url), VERIFY_RATE="100/min"):
        redis = core_throttles.redis_client(caches["default"])
        key_pattern = f"{caches['default'].key_prefix}*throttle_verify_*"

        def shared_count() -> int:
            return sum(redis.zcard(k) for k in redis.keys(key_pattern))

        assert client.get(verify_api(certificate.number)).status_code == 200
        assert shared_count() == 1

        # when: frozen (SIGSTOP)
        redis_server.send_signal(signal.SIGSTOP)
        try:
            frozen = [timed(lambda: client.get(verify_api(certificate.number))) for _ in range(5)]
        finally:
            redis_server.send_signal(signal.SIGCONT)
        # then: answered, fast
        assert [r.status_code for r, _ in frozen] == [200] * 5
        assert max(s for _, s in frozen) < ANSWER_WITHIN

        # when: thawed, after the fallback period: counted in Redis again
        # (the script sent before the first timeout ran when Redis woke: counted there too)
        time.sleep(0.4)
        before = shared_count()
        assert client.get(verify_api(certificate.number)).status_code == 200
        assert shared_count() == before + 1

        # when: killed (connections refused)
        redis_server.kill()
        redis_server.wait(timeout=10)
        killed = [timed(lambda: client.get(verify_api(certificate.number))) for _ in range(3)]
        assert [r.status_code for r, _ in killed] == [200] * 3
        assert max(s for _, s in killed) < ANSWER_WITHIN


# --- PostgreSQL restart: a kept connection is checked before a request uses it ---------------

_KEPT_CONNECTION_SCRIPT = r"""
import json, os, sys
import django
django.setup()
import psycopg
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.client import RequestFactory

if sys.argv[1] == "off":
    connection.settings_dict["CONN_HEALTH_CHECKS"] = False
app = WSGIHandler()

def get(path):
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET", REMOTE_ADDR=path)
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    return int(status[0].split()[0]), json.loads(body)

first = get(sys.argv[2])
pid = connection.connection.info.backend_pid
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:  # the server ends it
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
second = get(sys.argv[2])
print(json.dumps({"checks": settings.DATABASES["default"]["CONN_HEALTH_CHECKS"], "first": first, "second": second}))
"""


@pytest.mark.services("db")
@pytest.mark.django_db
@pytest.mark.parametrize("checks", ["on", "off"])
def test_a_connection_the_server_ended_is_replaced_not_a_500(checks):
    # given: persistent connections (DATABASE_CONN_MAX_AGE=60) on this run's test database; the
    # server ends the kept connection between two requests (as a PostgreSQL restart does)
    url = "postgresql://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    if connection.settings_dict.get("PASSWORD"):
        url = url.replace("@", f":{connection.settings_dict['PASSWORD']}@", 1)
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "60", "DJANGO_DEBUG": "1"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("CELERY_BROKER_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _KEPT_CONNECTION_SCRIPT,
            checks,
            verify_api(numbers.make(province_prefix="13", year=2001, serial=999_999)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])

    # then: with the health check (the setting's default with a max age) the second request
    # reconnects and answers as the first; without it, it fails (as JSON 503 under /api/)
    assert answer["first"][0] == 404
    if checks == "on":
        assert answer["checks"] is True
        assert answer["second"] == answer["first"]
    else:
        assert answer["second"][0] == 503
        assert answer["second"][1]["code"] == "service_unavailable"


# --- the broker: a publish on the request path gives up fast ------------------------------------


@pytest.mark.parametrize("fault", ["closed port", "frozen server"])
@pytest.mark.parametrize("retry", [False, True])
def test_a_publish_gives_up_within_a_second_when_the_broker_is_down_or_frozen(fault, retry, monkeypatch):
    # given: the project's Celery settings, the broker a closed port or a server that never answers
    # (Celery prefers the environment's CELERY_BROKER_URL to its configuration: with the real
    # services' broker in the environment the task would go there)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with frozen_server() as frozen_url:
        app = Celery("publish-test")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.update(broker_url=DEAD_URL if fault == "closed port" else frozen_url, task_always_eager=False)
        try:
            # when: a task is sent (retry=False as the export hand-over does; retry=True follows
            # CELERY_TASK_PUBLISH_RETRY_POLICY)
            started = time.monotonic()
            with pytest.raises(BrokerError):
                app.send_task("config.ping", retry=retry)
            seconds = time.monotonic() - started
        finally:
            app.close()

    # then: refused within a second (kombu's defaults took 2 s and more)
    assert seconds < 1.0 if not retry else seconds < 1.5
