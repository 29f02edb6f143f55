"""The verify API answers a found number without DRF's request handling: the same status,
body and headers as DRF's own path (``?format=json`` takes that one), and each call counted
once against the limit, found or not."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from tests.exams.test_pages import issue

HEADERS = ("Content-Type", "Cache-Control", "Allow", "Content-Length")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_found_number_is_answered_as_drf_answered_it(client, inspector_user, regions):
    number = issue(inspector_user.inspector, regions).number
    path = f"/api/v1/certificates/verify/{number}/"

    fast = client.get(path)
    drf = client.get(path, {"format": "json"})

    assert fast.status_code == drf.status_code == 200
    assert fast.content == drf.content
    assert {h: fast.headers.get(h) for h in HEADERS} == {h: drf.headers.get(h) for h in HEADERS}
    assert fast.json()["number"] == number


@override_settings(VERIFY_RATE="3/min")
def test_each_call_counts_once_found_or_not(client, inspector_user, regions):
    number = issue(inspector_user.inspector, regions).number

    statuses = [
        client.get(f"/api/v1/certificates/verify/{n}/").status_code for n in (number, "1320249999999", number, number)
    ]

    assert statuses == [200, 404, 200, 429]
    refused = client.get(f"/api/v1/certificates/verify/{number}/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused.headers["Retry-After"]) > 0


def test_an_accept_drf_refuses_is_still_refused(client, inspector_user, regions):
    number = issue(inspector_user.inspector, regions).number

    response = client.get(f"/api/v1/certificates/verify/{number}/", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
