"""/api/v1/applications/: apply one or many, approve, return, bulk approve, progress."""

import datetime as dt
from decimal import Decimal

import pytest

from exams.models import AnnualReview, ApplicationState, CertificateApplication
from personnel.models import Inspector
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from training.models import HoursPolicy

URL = "/api/v1/applications/"


@pytest.fixture
def people(regions):
    HoursPolicy.objects.create(region=regions["province"], year=2025, required_hours=Decimal("0"))
    out = []
    for name in ("甲", "乙"):
        person = InspectorFactory(region=regions["changan"], name=name)
        Inspector.objects.filter(pk=person.pk).update(photo="photos/x.jpg")
        CertificateFactory(holder=person, valid_until=dt.date(2030, 1, 1))
        out.append(person)
    return out


def test_apply_many_answers_created_and_refused(client_for, county_admin, people, regions):
    # given one without a certificate
    bare = InspectorFactory(region=regions["changan"], name="丙")
    # when
    response = client_for(county_admin).post(
        URL, {"kind": "review", "year": 2025, "inspectors": [p.pk for p in people] + [bare.pk]}, format="json"
    )
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [a["inspector_name"] for a in body["created"]] == ["甲", "乙"]
    assert body["created"][0]["level"] == "county" and body["created"][0]["levels"] == ["county", "city"]
    assert body["refused"] == [
        {
            "inspector": bare.pk,
            "code": "no_certificate",
            "detail": "丙 没有有效或暂扣中的执法证。",
            "reasons": [{"code": "no_certificate", "detail": "丙 没有有效或暂扣中的执法证。"}],
        }
    ]


def test_apply_many_all_refused_is_409(client_for, county_admin, regions):
    bare = InspectorFactory(region=regions["changan"])
    response = client_for(county_admin).post(URL, {"kind": "cancel", "inspectors": [bare.pk]}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "refused" and body["created"] == [] and len(body["refused"]) == 1


def test_apply_one_refused_gives_every_reason(client_for, county_admin, people):
    response = client_for(county_admin).post(URL, {"kind": "replace", "inspector": people[0].pk}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "reason_required"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "nope", "inspector": 1},
        {"kind": "review"},
        {"kind": "review", "inspector": 1, "inspectors": [1]},
        {"kind": "review", "inspectors": []},
        {"kind": "review", "inspectors": ["x"]},
        {"kind": "change", "inspector": 1, "new_region": "999999"},
    ],
)
def test_bad_input_is_4xx(client_for, county_admin, people, body):
    response = client_for(county_admin).post(URL, body, format="json")
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


def test_apply_out_of_scope_is_404(client_for, other_city_admin, people):
    response = client_for(other_city_admin).post(URL, {"kind": "review", "inspector": people[0].pk}, format="json")
    assert response.status_code == 404


def test_approve_return_and_bulk(client_for, county_admin, city_admin, people):
    api = client_for(county_admin)
    created = api.post(URL, {"kind": "review", "year": 2025, "inspectors": [p.pk for p in people]}, format="json")
    first, second = (a["id"] for a in created.json()["created"])
    # the county approves one; it cannot approve at city level afterwards
    assert api.post(f"{URL}{first}/approve/", {}, format="json").json()["level"] == "city"
    refused = api.post(f"{URL}{first}/approve/", {}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "level_not_held"
    # return needs a comment
    assert api.post(f"{URL}{second}/return/", {}, format="json").status_code == 400
    assert api.post(f"{URL}{second}/return/", {"comment": "学时证明缺失"}, format="json").json()["state"] == "returned"
    # the city approves in bulk: one approved, one refused (returned already), one unknown
    city = client_for(city_admin)
    response = city.post(f"{URL}approve/", {"ids": [first, second, 987654]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["approved"]] == [first] and body["approved"][0]["state"] == "approved"
    assert {r["id"]: r["code"] for r in body["refused"]} == {second: "not_pending", 987654: "not_found"}
    assert AnnualReview.objects.filter(year=2025).count() == 1
    # none approvable: 409
    again = city.post(f"{URL}approve/", {"ids": [first]}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "refused"
    # the detail has the steps
    detail = city.get(f"{URL}{first}/").json()
    assert [e["kind"] for e in detail["events"]] == ["submitted", "approved", "approved", "carried_out"]


def test_list_filters_and_scope(client_for, county_admin, other_city_admin, inspector_user, people):
    client_for(county_admin).post(URL, {"kind": "review", "year": 2025, "inspector": people[0].pk}, format="json")
    assert client_for(county_admin).get(URL, {"kind": "review", "state": "pending"}).json()["count"] == 1
    assert client_for(county_admin).get(URL, {"kind": "renew"}).json()["count"] == 0
    assert client_for(county_admin).get(URL, {"region": "130100"}).json()["count"] == 1
    assert client_for(other_city_admin).get(URL).json()["count"] == 0
    assert client_for(inspector_user).get(URL).json()["count"] == 0
    assert client_for(county_admin).get(URL, {"state": "bogus"}).status_code == 400


def test_inspector_cannot_apply(client_for, inspector_user, people):
    response = client_for(inspector_user).post(URL, {"kind": "review", "inspector": people[0].pk}, format="json")
    assert response.status_code == 403


def test_progress(client_for, city_admin, people):
    rows = client_for(city_admin).get(f"{URL}progress/", {"year": 2025}).json()
    assert rows[0]["region"] == "130100" and rows[0]["due"] == 2
    assert CertificateApplication.objects.filter(state=ApplicationState.PENDING).count() == 0
