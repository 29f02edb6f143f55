"""申请 in the admin: the apply page from the inspector list, 批准 / 退回 for many, the
progress above the list, the chain and window pages, and the certificate's applications."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.admin import helpers
from django.test import Client

from exams.models import AnnualReviewWindow, ApplicationState, CertificateApplication
from personnel.models import Inspector
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from training.models import HoursPolicy

LIST = "/admin/exams/certificateapplication/"
APPLY = LIST + "apply/"


def browser_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(regions):
    HoursPolicy.objects.create(region=regions["province"], year=dt.date.today().year, required_hours=Decimal("0"))
    out = []
    for name in ("甲", "乙"):
        person = InspectorFactory(region=regions["changan"], name=name)
        Inspector.objects.filter(pk=person.pk).update(photo="photos/x.jpg")
        CertificateFactory(holder=person, valid_until=dt.date(2035, 1, 1))
        out.append(person)
    out.append(InspectorFactory(region=regions["changan"], name="丙"))  # no certificate
    return out


def texts(response):
    return [str(m) for m in messages.get_messages(response.wsgi_request)]


def test_apply_from_the_inspector_list_shows_eligibility_then_creates(county_admin, people):
    browser = browser_for(county_admin)
    # given the inspectors selected in their list
    response = browser.post(
        "/admin/personnel/inspector/",
        {"action": "apply_for_inspectors", helpers.ACTION_CHECKBOX_NAME: [p.pk for p in people]},
    )
    assert response.status_code == 302 and response["Location"].startswith(APPLY)
    page = browser.get(response["Location"])
    assert page.status_code == 200 and "甲" in page.content.decode()
    # when checked for the annual review
    ids = [p.pk for p in people]
    checked = browser.post(APPLY, {"ids": ids, "kind": "review", "check": "1"}).content.decode()
    assert "符合条件" in checked and "丙 没有有效或暂扣中的执法证。" in checked
    assert "提交 2 件申请" in checked
    # then confirmed: two created, 丙 named with the reason
    done = browser.post(APPLY, {"ids": ids, "kind": "review", "confirm": "1"})
    assert done.status_code == 302
    assert CertificateApplication.objects.filter(kind="review").count() == 2
    assert any("丙" in t for t in texts(done))


def test_approve_and_return_many(county_admin, city_admin, people):
    browser = browser_for(county_admin)
    ids = [p.pk for p in people[:2]]
    browser.post(APPLY, {"ids": ids, "kind": "review", "confirm": "1"})
    apps = list(CertificateApplication.objects.order_by("pk").values_list("pk", flat=True))
    # the county approves both
    response = browser.post(LIST, {"action": "approve", helpers.ACTION_CHECKBOX_NAME: apps})
    assert "已批准 2 件申请。" in texts(response)
    # the city returns one: asked for a comment first
    city = browser_for(city_admin)
    asked = city.post(LIST, {"action": "return_", helpers.ACTION_CHECKBOX_NAME: apps[:1]})
    assert asked.status_code == 200 and "退回意见" in asked.content.decode()
    city.post(LIST, {"action": "return_", "apply": "1", "comment": "缺材料", helpers.ACTION_CHECKBOX_NAME: apps[:1]})
    assert CertificateApplication.objects.get(pk=apps[0]).state == ApplicationState.RETURNED
    # the county cannot approve the other at city level
    refused = browser.post(LIST, {"action": "approve", helpers.ACTION_CHECKBOX_NAME: apps[1:]})
    assert any("该申请正待市级审批，您无权在此层级审批。" in t for t in texts(refused))
    assert '<td class="field-level_display">市级</td>' in browser.get(LIST + "?state=pending").content.decode()
    city.post(LIST, {"action": "approve", helpers.ACTION_CHECKBOX_NAME: apps[1:]})
    application = CertificateApplication.objects.get(pk=apps[1])
    assert application.state == ApplicationState.APPROVED
    # the certificate's page lists the application
    page = city.get(f"/admin/exams/certificate/{application.certificate_id}/change/").content.decode()
    assert f"#{application.pk}" in page


def test_list_filters_and_progress(county_admin, province_admin, people):
    AnnualReviewWindow.objects.create(
        year=dt.date.today().year, opens_on=dt.date.today(), deadline=dt.date.today() + dt.timedelta(days=20)
    )
    browser_for(county_admin).post(APPLY, {"ids": [people[0].pk], "kind": "review", "confirm": "1"})
    browser = browser_for(province_admin)
    page = browser.get(LIST).content.decode()
    assert 'id="review-progress"' in page and "colour-amber" in page
    assert '<a href="?level=county">县级</a>' in page, page[page.find("level=county") - 200 :][:400]
    for query in ("kind=review", "state=pending", "level=county", "level=mine", "region_code=130100", "year=2020"):
        assert browser.get(f"{LIST}?{query}").status_code == 200


def test_chains_and_windows_are_the_provinces(county_admin, province_admin):
    assert browser_for(county_admin).get("/admin/exams/approvalchain/").status_code == 200
    chain = browser_for(county_admin).get("/admin/exams/approvalchain/1/change/")
    assert chain.status_code in (200, 403) and "_save" not in chain.content.decode()
    browser = browser_for(province_admin)
    assert browser.get("/admin/exams/annualreviewwindow/add/").status_code == 200
    assert browser_for(county_admin).get("/admin/exams/annualreviewwindow/add/").status_code == 403
