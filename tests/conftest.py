"""Fixtures shared by all tests: a small region tree, and one actor per role."""

import os

import pytest
from rest_framework.test import APIClient

from tests.factories import InspectorFactory, RegionAdminFactory, UserFactory, region_tree


def pytest_runtest_setup(item):
    """Tests marked ``services`` need real PostgreSQL/Redis: skip with a reason when the
    environment does not name them, but fail instead when REQUIRE_SERVICES=1 (CI).

    ``@pytest.mark.services("db")`` needs PostgreSQL only, ``("broker")`` a broker only.
    """
    marker = item.get_closest_marker("services")
    if marker is None:
        return
    needs = set(marker.args) or {"db", "broker"}
    missing = []
    if "db" in needs and not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL (PostgreSQL)")
    if "broker" in needs and not os.environ.get("CELERY_BROKER_URL"):
        missing.append("CELERY_BROKER_URL")
    if not missing:
        return
    reason = "needs " + " and ".join(missing)
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test databases, and SQLite's JSON support found out at once, in this thread.

    Django finds it out with a query the first time it is asked and keeps the answer for the
    connection. Asked first by a live server's thread (the in-memory database's connection is
    shared with it), the answer came out False for the rest of the run: /me/ (JSONObject)
    answered 500 in the browser tests and JSON queries failed in every test after them."""
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            if conn.vendor == "sqlite":
                assert conn.features.supports_json_field
    yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters live in the cache; one test's requests must not throttle the next.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The real hasher is deliberately slow; tests log in often.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _issue_on_pass(settings):
    # The tests written before certificate applications expect a qualification pass to issue
    # at once; the application flow's tests (tests/exams/test_applications.py) set "application",
    # the deployment default (config/settings.py CERTIFICATE_ON_PASS).
    settings.CERTIFICATE_ON_PASS = "issue"


@pytest.fixture(autouse=True)
def _only_browser_tests_start_chromium(request, monkeypatch):
    """A test that drives Chromium must carry the ``browser`` marker: CI's SQLite pass leaves
    those out (``-m "not browser"``) and runs them once, in the services pass (.ci/run). Any
    other test that opens Playwright fails here with the reason. (Every browser test imports
    ``sync_playwright`` when it runs, not at the top of its module.)"""
    if request.node.get_closest_marker("browser") is not None:
        return
    try:
        import playwright.sync_api
    except ImportError:
        return

    def refuse(*args, **kwargs):
        pytest.fail(f"{request.node.nodeid} starts Chromium: mark it @pytest.mark.browser", pytrace=False)

    monkeypatch.setattr(playwright.sync_api, "sync_playwright", refuse)


@pytest.fixture
def regions(db):
    """Province 130000 > cities 130100 (石家庄), 130200 (唐山) > counties."""
    return region_tree()


@pytest.fixture
def province_admin(regions):
    return RegionAdminFactory(user__username="prov", region=regions["province"]).user


@pytest.fixture
def city_admin(regions):
    return RegionAdminFactory(user__username="sjz_admin", region=regions["sjz"]).user


@pytest.fixture
def other_city_admin(regions):
    return RegionAdminFactory(user__username="ts_admin", region=regions["ts"]).user


@pytest.fixture
def county_admin(regions):
    return RegionAdminFactory(user__username="changan_admin", region=regions["changan"]).user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def inspector_user(regions):
    user = UserFactory(username="inspector1")
    return InspectorFactory(region=regions["changan"], user=user, name="张三").user


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for(api_client):
    def _login(user):
        api_client.force_authenticate(user=user)
        return api_client

    return _login
