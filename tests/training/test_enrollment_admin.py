"""The training office's day in the admin: batch labels that name their organiser, the batch
form offering only the status moves the service takes and keeping what was typed when it
refuses, the enrollment list, and the three enrollment actions (cancel, replace, move)."""

import datetime as dt
import re

import pytest
from django.test import Client

from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import rules, services
from training.models import Batch, BatchStatus, Enrollment, EnrollmentStatus

S = EnrollmentStatus

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


# --- the batch page and the enrollment list ----------------------------------------------------------


def test_the_batch_page_counts_the_enrollments_instead_of_listing_them(browser, city_admin, batch, regions):
    # given: 120 people in the batch, 2 of them seated
    Batch.objects.filter(pk=batch.pk).update(capacity=118)
    people = [InspectorFactory(region=regions["changan"], sector=Sector.COAL, name=f"学员{i:03d}") for i in range(120)]
    for i, person in enumerate(people):
        EnrollmentFactory(
            batch=batch,
            inspector=person,
            status=S.ENROLLED if i < 118 else S.WAITLISTED,
            waitlist_position=None if i < 118 else i - 117,
        )
    browser.force_login(city_admin)
    # when
    page = browser.get(f"{BATCHES}{batch.pk}/change/").content.decode()
    # then: the counts and one link, no row per person
    assert "已报名 <strong>118</strong>" in page and "候补 <strong>2</strong>" in page
    assert f'href="{ENROLLMENTS}?batch={batch.pk}"' in page and "报名名单（120）" in page
    assert not any(person.name in page for person in people)
    assert page.count('name="enrollments-0-inspector"') == 1  # one empty row to add someone


def test_a_refused_row_on_the_batch_page_keeps_the_form_and_says_why(browser, city_admin, batch, coal, regions):
    # given: a 长安 inspector of another sector is typed into the coal batch (by id)
    outsider = InspectorFactory(region=regions["changan"], sector=Sector.INDUSTRY_TRADE, name="工贸人")
    browser.force_login(city_admin)
    form = batch_form(batch) | {
        "place": "改过的地点",
        "enrollments-TOTAL_FORMS": "2",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-0-inspector": coal[0].pk,
        "enrollments-1-inspector": outsider.pk,
    }
    # when
    response = browser.post(f"{BATCHES}{batch.pk}/change/", form)
    # then: nothing saved, the page back with what was typed
    assert response.status_code == 200
    page = response.content.decode()
    assert "报名未保存" in page and "工贸人" in page and "行业" in page
    assert re.search(rf'name="enrollments-1-inspector" value="{outsider.pk}"', page)  # the rows as typed
    assert 'value="改过的地点"' in page
    assert not Enrollment.objects.exists()
    batch.refresh_from_db()
    assert batch.place != "改过的地点"


def batch_form(batch) -> dict:
    return {
        "course": batch.course_id,
        "year": batch.year,
        "number": batch.number,
        "sector": batch.sector,
        "region": batch.region_id,
        "starts_on": batch.starts_on.isoformat(),
        "ends_on": batch.ends_on.isoformat(),
        "place": batch.place,
        "capacity": batch.capacity,
        "enrollment_deadline": batch.enrollment_deadline.isoformat(),
        "status": batch.status,
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
    }


def test_the_enrollment_list_of_a_batch(browser, city_admin, batch, coal, course, regions):
    # given: two seated, one waiting, one cancelled; another city's batch of the same course
    made = [services.enrollment_create(batch=batch, inspector=p, actor=city_admin) for p in coal[:3]]
    services.enrollment_cancel(enrollment=made[0], actor=city_admin, reason="临时任务")
    services.enrollment_create(batch=batch, inspector=coal[3], actor=city_admin)
    ts = BatchFactory(course=course, region=regions["ts"], number=1, starts_on=in_days(40))
    EnrollmentFactory(batch=ts, inspector=InspectorFactory(region=regions["lunan"], name="路南人"))
    browser.force_login(city_admin)
    # when
    response = browser.get(ENROLLMENTS, {"batch": batch.pk})
    # then: seated first, then the waitlist in order, the cancelled last
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert [(e.inspector.name, e.status, e.waitlist_position) for e in shown] == [
        ("煤矿1", S.ENROLLED, None),
        ("煤矿2", S.ENROLLED, None),  # promoted when 煤矿0 cancelled
        ("煤矿3", S.WAITLISTED, 1),
        ("煤矿0", S.CANCELLED, None),
    ]
    assert response.context["cl"].list_per_page == 50
    page = response.content.decode()
    assert f"/admin/personnel/inspector/{coal[1].pk}/change/" in page
    assert coal[1].masked_national_id in page and coal[1].national_id not in page
    assert f"{batch.year}年第1批 · 石家庄市 · 行政执法三项制度专题培训" in page
    assert "路南人" not in page
    # hours only once credited: "-" before completion, never "0.0"
    assert '<td class="field-hours_display">-</td>' in page and "0.0" not in page


def test_another_citys_admin_gets_404_on_the_enrollment_pages(browser, other_city_admin, batch, coal):
    # given
    enrollment = EnrollmentFactory(batch=batch, inspector=coal[0])
    browser.force_login(other_city_admin)
    # then
    for suffix in ("change/", "cancel/", "replace/", "move/"):
        url = f"{ENROLLMENTS}{enrollment.pk}/{suffix}"
        assert browser.get(url).status_code in (404, 302), url  # the change page sends them to the index
        if suffix != "change/":
            assert browser.get(url).status_code == 404
            assert browser.post(url, {"reason": "x", "inspector": coal[1].pk}).status_code == 404
    for suffix in ("cancel/", "replace/", "move/"):
        assert browser.get(f"{ENROLLMENTS}999999/{suffix}").status_code == 404
        assert browser.get(f"{ENROLLMENTS}abc/{suffix}").status_code == 404
    enrollment.refresh_from_db()
    assert enrollment.status == S.ENROLLED


# --- cancel, replace, move in the admin ---------------------------------------------------------------


def test_the_enrollment_page_offers_the_three_actions_while_the_place_is_held(browser, city_admin, batch, coal):
    # given
    held = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    gone = services.enrollment_create(batch=batch, inspector=coal[1], actor=city_admin)
    services.enrollment_cancel(enrollment=gone, actor=city_admin, reason="临时任务")
    browser.force_login(city_admin)
    # when
    page = browser.get(f"{ENROLLMENTS}{held.pk}/change/").content.decode()
    finished = browser.get(f"{ENROLLMENTS}{gone.pk}/change/").content.decode()
    # then
    for verb in ("cancel", "replace", "move"):
        assert f"{ENROLLMENTS}{held.pk}/{verb}/" in page
        assert f"{ENROLLMENTS}{gone.pk}/{verb}/" not in finished
    assert "取消报名" in page and "替换" in page and "转班" in page
    assert "临时任务" in finished  # the events


def test_cancelling_in_the_admin_needs_a_reason(browser, city_admin, batch, coal):
    # given
    enrollment = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    browser.force_login(city_admin)
    url = f"{ENROLLMENTS}{enrollment.pk}/cancel/"
    # when: no reason
    refused = browser.post(url, {"reason": "  "})
    # then
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    enrollment.refresh_from_db()
    assert enrollment.status == S.ENROLLED
    # when: with one
    done = browser.post(url, {"reason": "单位临时任务"}, follow=True)
    # then
    enrollment.refresh_from_db()
    assert enrollment.status == S.CANCELLED
    assert enrollment.events.last().reason == "单位临时任务"
    assert any("已取消" in str(m) for m in done.context["messages"])


def test_replacing_in_the_admin(browser, city_admin, batch, coal):
    # given: 煤矿1 is already in the batch
    first = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    services.enrollment_create(batch=batch, inspector=coal[1], actor=city_admin)
    browser.force_login(city_admin)
    url = f"{ENROLLMENTS}{first.pk}/replace/"
    assert 'name="inspector"' in browser.get(url).content.decode()
    # when: refused, the form keeps what was typed with the reason on the field
    refused = browser.post(url, {"inspector": coal[1].pk, "reason": "出差"})
    # then
    assert refused.status_code == 200
    form = refused.context["form"]
    assert "已在该批次中" in " ".join(form.errors["inspector"])
    assert form["reason"].value() == "出差"
    # when: someone else
    done = browser.post(url, {"inspector": coal[2].pk, "reason": "出差"})
    # then
    new = Enrollment.objects.get(batch=batch, inspector=coal[2])
    assert done.status_code == 302 and done["Location"] == f"{ENROLLMENTS}{new.pk}/change/"
    first.refresh_from_db()
    assert (first.status, new.status) == (S.CANCELLED, S.ENROLLED)
    assert first.events.last().kind == "replaced"


def test_moving_in_the_admin_lists_the_same_courses_batches_and_says_where_it_landed(
    browser, city_admin, batch, coal, course, regions
):
    # given: a later full batch of the same course, one of another course, one of 唐山
    later = BatchFactory(course=course, region=regions["sjz"], number=2, starts_on=in_days(45), capacity=1)
    services.enrollment_create(batch=later, inspector=coal[3], actor=city_admin)
    other = BatchFactory(region=regions["sjz"], number=3, starts_on=in_days(50))
    ts = BatchFactory(course=course, region=regions["ts"], number=1, starts_on=in_days(45))
    enrollment = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    browser.force_login(city_admin)
    url = f"{ENROLLMENTS}{enrollment.pk}/move/"
    # when
    page = browser.get(url).content.decode()
    # then: only the same course's other batch, with organiser and dates
    shown = options(page, "batch")[1:]
    assert len(shown) == 1 and str(later) in shown[0] and later.starts_on.isoformat() in shown[0]
    assert str(other) not in page and str(ts) not in page
    # when: a reason missing, then given
    assert browser.post(url, {"batch": later.pk}).context["form"].errors["reason"]
    done = browser.post(url, {"batch": later.pk, "reason": "与检查任务冲突"}, follow=True)
    # then: the seat there is taken, so the end of its waitlist, and the page says so
    moved = Enrollment.objects.get(batch=later, inspector=coal[0])
    assert (moved.status, moved.waitlist_position) == (S.WAITLISTED, 1)
    assert any("进入候补第 1 位" in str(m) for m in done.context["messages"])
    enrollment.refresh_from_db()
    assert enrollment.status == S.CANCELLED


def test_moving_to_another_citys_batch_is_not_offered_and_refused(browser, city_admin, batch, coal, course, regions):
    # given
    ts = BatchFactory(course=course, region=regions["ts"], number=1, starts_on=in_days(45))
    enrollment = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    browser.force_login(city_admin)
    # when
    response = browser.post(f"{ENROLLMENTS}{enrollment.pk}/move/", {"batch": ts.pk, "reason": "改期"})
    # then: not a choice of the form
    assert response.status_code == 200 and response.context["form"].errors["batch"]
    assert not ts.enrollments.exists()


def test_the_list_opens_an_enrollment_and_the_move_list_offers_only_batches_taking_enrollments(
    browser, city_admin, batch, coal, course, regions
):
    # given: a closed and a past-deadline batch of the same course, and an open one
    enrollment = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    open_one = BatchFactory(course=course, region=regions["sjz"], number=2, starts_on=in_days(45))
    closed = BatchFactory(
        course=course, region=regions["sjz"], number=3, starts_on=in_days(50), status=BatchStatus.CLOSED
    )
    late = BatchFactory(
        course=course, region=regions["sjz"], number=4, starts_on=in_days(3), enrollment_deadline=in_days(-1)
    )
    browser.force_login(city_admin)
    # when
    listing = browser.get(ENROLLMENTS, {"batch": batch.pk}).content.decode()
    page = browser.get(f"{ENROLLMENTS}{enrollment.pk}/move/").content.decode()
    # then: a row opens the enrollment (its actions), the name opens the person
    assert re.search(rf'href="{ENROLLMENTS}{enrollment.pk}/change/[^"]*">已报名</a>', listing)  # not nested
    assert f'href="/admin/personnel/inspector/{coal[0].pk}/change/"' in listing
    shown = options(page, "batch")[1:]
    assert len(shown) == 1 and str(open_one) in shown[0]
    assert str(closed) not in page and str(late) not in page


@pytest.mark.parametrize("value", ["9" * 30, "\u00b2", "-1", "0", "abc"])
def test_a_batch_filter_that_cannot_be_an_id_lists_nothing(browser, city_admin, batch, coal, value):
    # given
    services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    browser.force_login(city_admin)
    # when: a number past the database's integer, a superscript two (str.isdigit, not int)
    response = browser.get(ENROLLMENTS, {"batch": value})
    # then: an empty list, not a 500
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
