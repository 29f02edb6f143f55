from unittest import mock

import pytest


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


@pytest.mark.services("broker")
@pytest.mark.django_db
def test_healthz_reaches_the_real_broker(client):
    body = client.get("/healthz").json()
    assert body["broker"]["ok"] is True
    assert body["broker"]["info"] in ("redis", "amqp")
