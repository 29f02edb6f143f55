"""Under /api/ every error is the JSON error body ``{code, detail, fields}``, unhandled
exceptions too: 500 for a bug, 503 with Retry-After when the database or Redis cannot be
reached. Pages keep Django's HTML 500."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import OperationalError
from django.test import Client

from core.errors import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.urls("tests.core.api_error_urls")


@pytest.fixture
def browser():
    # Answer with what a real client would get instead of re-raising the view's exception.
    return Client(raise_request_exception=False)


def assert_error_body(response, status: int, code: str):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert (body["code"], body["fields"]) == (code, {})
    assert body["detail"]
    return body


@pytest.mark.parametrize("url", ["/api/drf-boom/", "/api/plain-boom/", "/api/bad-sql/"])
def test_a_bug_under_api_is_a_json_500_and_is_logged(browser, url, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")
    response = browser.get(url)
    body = assert_error_body(response, 500, "server_error")
    assert body["detail"] == "服务器内部错误。"
    assert "Retry-After" not in response
    # the traceback is logged, the body reveals nothing of it
    assert any(r.exc_info and url in r.getMessage() for r in caplog.records)
    assert "bug" not in response.content.decode() and "relation" not in response.content.decode()


@pytest.mark.parametrize("url", ["/api/drf-database-down/", "/api/drf-cache-down/"])
def test_an_unreachable_database_or_cache_under_api_is_a_json_503_with_retry_after(browser, url):
    response = browser.get(url)
    body = assert_error_body(response, 503, "service_unavailable")
    assert body["detail"] == "服务暂时不可用，请稍后重试。"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_a_503_an_api_view_raises_itself_carries_retry_after_too(browser):
    response = browser.get("/api/drf-maintenance/")
    body = assert_error_body(response, 503, "maintenance")
    assert body["detail"] == "维护中。"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_english_clients_get_the_english_catalog_s_wording(browser):
    response = browser.get("/api/drf-boom/", HTTP_ACCEPT_LANGUAGE="en")
    assert_error_body(response, 500, "server_error")


def test_a_failure_outside_the_view_under_api_is_json_too(browser):
    # given: the session middleware's database read fails (before any view runs)
    with mock.patch.object(SessionMiddleware, "process_request", side_effect=OperationalError("the database is gone")):
        api = browser.get("/api/fine/")
        page = browser.get("/pages/fine/")

    # then: JSON under /api/, Django's page elsewhere
    assert_error_body(api, 503, "service_unavailable")
    assert api["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/bad-request/", 400, "invalid"),
        ("/api/suspicious/", 400, "invalid"),
        ("/api/forbidden/", 403, "permission_denied"),
    ],
)
def test_django_s_own_4xx_exceptions_under_api_keep_their_status_as_json(browser, url, status, code):
    assert_error_body(browser.get(url), status, code)


def test_a_request_over_the_upload_limits_under_api_is_a_json_400(api_client, settings):
    # a multipart body with more fields than Django allows, read by a real endpoint
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    data = {f"f{i}": "x" for i in range(20)}
    response = api_client.post("/api/v1/auth/token/", data, format="multipart")
    assert response.status_code == 400
    assert set(response.json()) == {"code", "detail", "fields"}


def test_pages_keep_django_s_html_400(browser):
    assert browser.get("/pages/bad-request/")["Content-Type"].startswith("text/html")


def test_pages_keep_django_s_html_500(browser):
    response = browser.get("/pages/boom/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Server Error" in response.content.decode()


def test_a_real_endpoint_whose_database_is_down_answers_503_json(browser, db):
    with mock.patch("exams.views.certificate_verify", side_effect=OperationalError("terminating connection")):
        response = browser.get("/api/v1/certificates/verify/1320010000017/")
    assert_error_body(response, 503, "service_unavailable")
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_handled_api_errors_keep_their_own_answers(browser, db):
    # a 404 and a 401 are not turned into 500s by the middleware
    missing = browser.get("/api/v1/batches/999999/")
    assert_error_body(missing, 401, "not_authenticated")
    unknown = browser.get("/api/v1/nothing-here/")
    assert_error_body(unknown, 404, "not_found")
