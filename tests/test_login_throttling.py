"""Brute force against logins is slowed down: axes locks a username from an address after
AXES_FAILURE_LIMIT failures, and the token endpoint is rate-limited per client."""

import pytest
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import UserFactory


@pytest.fixture
def victim(db):
    user = UserFactory(username="victim", is_staff=True, is_superuser=True)
    user.set_password("right-Password-1")
    user.save()
    return user


def test_admin_login_locks_after_repeated_failures(victim, settings):
    # given
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        page = browser.post("/admin/login/", {"username": "victim", "password": "wrong"})
        assert page.status_code == 200  # the form again, with an error
    # the failure that reaches the limit is answered with the lockout
    assert browser.post("/admin/login/", {"username": "victim", "password": "wrong"}).status_code == 429
    # when: the right password now
    response = browser.post("/admin/login/", {"username": "victim", "password": "right-Password-1"})
    # then: locked out, not logged in
    assert response.status_code == 429
    assert "_auth_user_id" not in browser.session


def test_a_success_before_the_limit_resets_the_count(victim, settings):
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        browser.post("/admin/login/", {"username": "victim", "password": "wrong"})
    ok = browser.post("/admin/login/", {"username": "victim", "password": "right-Password-1"})
    assert ok.status_code == 302
    assert "_auth_user_id" in browser.session


def test_token_login_locks_after_repeated_failures(victim, api_client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        bad = api_client.post("/api/v1/auth/token/", {"username": "victim", "password": "wrong"})
        assert bad.status_code == 400
    api_client.post("/api/v1/auth/token/", {"username": "victim", "password": "wrong"})
    locked = api_client.post("/api/v1/auth/token/", {"username": "victim", "password": "right-Password-1"})
    assert locked.status_code in (400, 403, 429)
    assert "token" not in locked.json()


@pytest.fixture
def login_rate(monkeypatch):
    """Set the token endpoint's rate for one test. DRF's throttles read their rates from a
    class attribute taken from the settings once, at import: it is replaced here and put back
    by monkeypatch. (Setting it from a settings override leaked the low rate into every later
    test of the run, whose fourth token request in a minute was then refused.)"""

    def _set(rate: str) -> None:
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "login": rate})

    return _set


def test_token_endpoint_is_rate_limited_per_client(victim, api_client, login_rate):
    # given: a low rate for the test
    login_rate("3/min")
    codes = [
        api_client.post("/api/v1/auth/token/", {"username": f"nobody{i}", "password": "x"}).status_code
        for i in range(4)
    ]
    # then: the fourth within the minute is refused
    assert codes[:3] == [400, 400, 400]
    assert codes[3] == 429


def test_a_forged_forwarded_for_header_does_not_buy_a_fresh_budget(victim, api_client, login_rate):
    # given: a low login rate, no proxy configured (the default)
    login_rate("2/min")
    codes = [
        api_client.post(
            "/api/v1/auth/token/", {"username": f"n{i}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(3)
    ]
    # then: the header is ignored, the third attempt is refused all the same
    assert codes == [400, 400, 429]
