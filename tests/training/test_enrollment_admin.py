"""The training office's day in the admin: batch labels that name their organiser, the batch
form offering only the status moves the service takes and keeping what was typed when it
refuses, the enrollment list, and the three enrollment actions (cancel, replace, move)."""

import datetime as dt
import re

import pytest
from django.test import Client

from tests.training.conftest import in_days
from tests.training.factories import BatchFactory
from training import rules
from training.models import Batch, BatchStatus

BATCHES = "/admin/training/batch/"
ENROLLMENTS = "/admin/training/enrollment/"


@pytest.fixture
def browser():
    return Client()


def options(page: str, name: str) -> list[str]:
    """The texts of the options of the select ``name`` on a page."""
    select = re.search(rf'<select name="{name}".*?</select>', page, flags=re.S)
    assert select, f"no select {name}"
    return [re.sub(r"\s+", " ", text).strip() for text in re.findall(r"<option[^>]*>([^<]*)", select.group(0))]


def option_values(page: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', page, flags=re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(0))


# --- labels ---------------------------------------------------------------------------------------


def test_a_batch_reads_with_its_number_organiser_and_course(batch):
    # then: the same course is 第1批 of many cities; the organiser tells them apart
    assert str(batch) == f"{batch.year}年第1批 · 石家庄市 · 行政执法三项制度专题培训"
    assert batch.label == f"{batch.year}年第1批"  # the number alone, as the API's label


# --- the batch form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (BatchStatus.DRAFT, ["draft", "open", "cancelled"]),
        (BatchStatus.OPEN, ["open", "closed", "cancelled"]),
        (BatchStatus.CLOSED, ["open", "closed", "cancelled"]),
        (BatchStatus.COMPLETED, ["completed"]),
    ],
)
def test_the_status_list_offers_only_the_legal_moves(browser, city_admin, batch, status, offered):
    # given
    Batch.objects.filter(pk=batch.pk).update(status=status)
    browser.force_login(city_admin)
    # when
    page = browser.get(f"{BATCHES}{batch.pk}/change/").content.decode()
    # then: the same list the service's rule allows, and nothing else
    assert option_values(page, "status") == offered
    assert set(offered) == {status, *rules.BATCH_STATUS_MOVES[status]}


def test_a_new_batch_offers_draft_or_open_only(browser, city_admin):
    # given
    browser.force_login(city_admin)
    # when
    page = browser.get(f"{BATCHES}add/").content.decode()
    # then
    assert option_values(page, "status") == ["draft", "open"]


def test_a_refused_new_batch_keeps_what_was_typed_with_the_refusal_on_the_field(
    browser, city_admin, course, batch, regions
):
    # given: 石家庄 already has its 第1批 of that year
    browser.force_login(city_admin)
    start = batch.starts_on + dt.timedelta(days=20)
    form = {
        "course": course.pk,
        "year": batch.year,
        "number": "1",
        "sector": "coal",
        "region": regions["sjz"].pk,
        "starts_on": start.isoformat(),
        "ends_on": (start + dt.timedelta(days=1)).isoformat(),
        "place": "石家庄市应急管理局二楼",
        "capacity": "35",
        "enrollment_deadline": (start - dt.timedelta(days=3)).isoformat(),
        "status": "open",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
    }
    # when
    response = browser.post(f"{BATCHES}add/", form)
    # then: the same form, filled in, the refusal on the batch number
    assert response.status_code == 200
    adminform = response.context["adminform"].form
    assert "已有同一批次号" in " ".join(adminform.errors.get("number", []))
    for name in ("place", "capacity", "starts_on", "status", "sector"):
        assert str(adminform[name].value()) == str(form[name]), name
    page = response.content.decode()
    assert 'value="石家庄市应急管理局二楼"' in page and 'value="35"' in page
    assert Batch.objects.filter(region=regions["sjz"]).count() == 1


def test_the_sitting_form_names_each_batch_with_its_organiser(browser, province_admin, course, regions):
    # given: the same course's 第1批 in two cities
    sjz = BatchFactory(course=course, region=regions["sjz"], number=1, starts_on=in_days(30))
    ts = BatchFactory(course=course, region=regions["ts"], number=1, starts_on=in_days(30))
    browser.force_login(province_admin)
    # when
    page = browser.get("/admin/exams/sitting/add/").content.decode()
    # then
    shown = options(page, "batch")
    assert str(sjz) in shown and str(ts) in shown
    assert f"{sjz.year}年第1批 · 石家庄市 · 行政执法三项制度专题培训" in shown
    assert f"{ts.year}年第1批 · 唐山市 · 行政执法三项制度专题培训" in shown


def test_a_new_batch_refused_by_the_service_keeps_the_form_with_the_refusal_on_the_field(
    browser, city_admin, course, regions
):
    # given: a start date in another year than the year typed (the service's rule)
    browser.force_login(city_admin)
    start = in_days(60)
    form = {
        "course": course.pk,
        "year": start.year - 1,
        "sector": "",
        "region": regions["sjz"].pk,
        "starts_on": start.isoformat(),
        "ends_on": start.isoformat(),
        "place": "正定县党校",
        "capacity": "12",
        "enrollment_deadline": (start - dt.timedelta(days=3)).isoformat(),
        "status": "draft",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
    }
    # when
    response = browser.post(f"{BATCHES}add/", form)
    # then
    assert response.status_code == 200
    adminform = response.context["adminform"].form
    assert "年度应与开始日期所在年份一致" in " ".join(adminform.errors.get("year", []))
    assert adminform["place"].value() == "正定县党校" and adminform["capacity"].value() == "12"
    assert not Batch.objects.exists()
