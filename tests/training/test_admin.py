"""The training admin as each role sees it: scoped batch list with counts, the batch form
with its enrollments, the workflow actions, courses, hours policies and the enrollment log."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client

from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training import services
from training.models import Batch, BatchStatus, Course, Enrollment, EnrollmentStatus, HoursPolicy

S = EnrollmentStatus
BATCHES = "/admin/training/batch/"


@pytest.fixture
def browser():
    return Client()


@pytest.fixture
def ts_batch(course, regions):
    return BatchFactory(course=course, region=regions["ts"], number=7, starts_on=in_days(35))


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(browser, action, batches, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [b.pk for b in batches], **extra}
    return browser.post(BATCHES, data, follow=True)


# --- the batch list and form ----------------------------------------------------------------------


def test_city_admin_batch_list_is_scoped_with_counts_in_chinese(browser, city_admin, batch, ts_batch, coal):
    # given
    EnrollmentFactory(batch=batch, inspector=coal[0])
    EnrollmentFactory(batch=batch, inspector=coal[1])
    EnrollmentFactory(batch=batch, inspector=coal[2], status=S.WAITLISTED, waitlist_position=1)
    browser.force_login(city_admin)
    # when
    response = browser.get(BATCHES)
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "培训批次" in page and "已报名" in page and "候补" in page
    assert f"{batch.year}年第1批" in page
    assert "第7批" not in page
    shown = list(response.context["cl"].result_list)
    assert [b.pk for b in shown] == [batch.pk]
    assert (shown[0].enrolled_count, shown[0].waitlisted_count) == (2, 1)


def test_batch_list_filters(browser, province_admin, batch, ts_batch, course, regions):
    # given
    mixed = BatchFactory(course=course, region=regions["province"], sector="", starts_on=in_days(60))
    browser.force_login(province_admin)

    def shown(**params):
        response = browser.get(BATCHES, params)
        assert response.status_code == 200
        return {b.pk for b in response.context["cl"].result_list}

    # then
    assert shown() == {batch.pk, ts_batch.pk, mixed.pk}
    assert shown(sector="mixed") == {ts_batch.pk, mixed.pk}
    assert shown(sector="coal") == {batch.pk}
    assert shown(region_code="130200") == {ts_batch.pk}
    assert shown(status__exact="open") == {batch.pk, ts_batch.pk, mixed.pk}
    assert shown(year__exact=str(batch.year)) >= {batch.pk}


def test_change_form_shows_the_enrollments_and_another_citys_batch_is_out_of_reach(
    browser, city_admin, batch, ts_batch, coal
):
    # given
    EnrollmentFactory(batch=batch, inspector=coal[0])
    browser.force_login(city_admin)
    # when
    own = browser.get(f"{BATCHES}{batch.pk}/change/")
    other = browser.get(f"{BATCHES}{ts_batch.pk}/change/")
    # then
    assert own.status_code == 200
    page = own.content.decode()
    # the counts and the link to the list, not the rows themselves
    assert "报名名单（1）" in page and "已报名 <strong>1</strong>" in page
    assert "煤矿0" not in page
    assert other.status_code in (302, 404)


def test_adding_a_batch_goes_through_the_service(browser, city_admin, course, batch, regions):
    # given
    browser.force_login(city_admin)
    start = in_days(50)
    # when
    response = browser.post(
        f"{BATCHES}add/",
        {
            "course": course.pk,
            "sector": "",
            "region": regions["qiaoxi"].pk,
            "starts_on": start.isoformat(),
            "ends_on": start.isoformat(),
            "place": "桥西区会议室",
            "capacity": "20",
            "enrollment_deadline": (start - dt.timedelta(days=2)).isoformat(),
            "status": "draft",
            "enrollments-TOTAL_FORMS": "0",
            "enrollments-INITIAL_FORMS": "0",
        },
    )
    # then
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Batch.objects.get(region=regions["qiaoxi"])
    assert (created.year, created.number) == (start.year, 1)


def test_a_refused_edit_is_a_form_error_with_the_form_kept(browser, city_admin, batch, coal):
    # given: two seats taken
    EnrollmentFactory(batch=batch, inspector=coal[0])
    EnrollmentFactory(batch=batch, inspector=coal[1])
    browser.force_login(city_admin)
    url = f"{BATCHES}{batch.pk}/change/"
    form = {
        "course": batch.course_id,
        "year": batch.year,
        "number": batch.number,
        "sector": batch.sector,
        "region": batch.region_id,
        "starts_on": batch.starts_on.isoformat(),
        "ends_on": batch.ends_on.isoformat(),
        "place": batch.place,
        "capacity": "1",
        "enrollment_deadline": batch.enrollment_deadline.isoformat(),
        "status": batch.status,
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
    }
    # when
    response = browser.post(url, form)
    # then: the same page again, filled in as sent, the refusal on the form
    assert response.status_code == 200
    adminform = response.context["adminform"].form
    errors = [str(m) for msgs in adminform.errors.values() for m in msgs]
    assert any("名额不能少于" in m for m in errors), errors
    assert adminform["capacity"].value() == "1"
    assert 'class="errornote"' in response.content.decode()
    batch.refresh_from_db()
    assert batch.capacity == 2
    assert not batch.events.exists()  # nothing written, not even the event row


def test_a_new_inline_row_enrolls_through_the_service(browser, city_admin, batch, coal):
    # given: the batch is full
    EnrollmentFactory(batch=batch, inspector=coal[0])
    EnrollmentFactory(batch=batch, inspector=coal[1])
    browser.force_login(city_admin)
    form = {
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
        "enrollments-TOTAL_FORMS": "1",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-0-batch": batch.pk,
        "enrollments-0-inspector": coal[2].pk,
    }
    # when
    response = browser.post(f"{BATCHES}{batch.pk}/change/", form, follow=True)
    # then
    assert response.status_code == 200, response.content.decode()[:3000]
    added = Enrollment.objects.get(batch=batch, inspector=coal[2])
    assert (added.status, added.waitlist_position) == (S.WAITLISTED, 1)
    assert added.events.get().kind == "waitlisted"


# --- actions -----------------------------------------------------------------------------------------


def test_open_close_and_cancel_actions_call_the_service(browser, city_admin, course, regions, coal):
    # given
    draft = BatchFactory(course=course, region=regions["sjz"], status=BatchStatus.DRAFT, starts_on=in_days(30))
    browser.force_login(city_admin)
    # when / then
    assert "已开放报名：1 个批次。" in texts(run_action(browser, "open_enrollment", [draft]))
    draft.refresh_from_db()
    assert draft.status == BatchStatus.OPEN
    run_action(browser, "close_enrollment", [draft])
    draft.refresh_from_db()
    assert draft.status == BatchStatus.CLOSED
    EnrollmentFactory(batch=draft, inspector=coal[0])
    run_action(browser, "cancel_batches", [draft])
    draft.refresh_from_db()
    assert draft.status == BatchStatus.CANCELLED
    assert draft.enrollments.get().status == S.CANCELLED
    # a second cancel is refused by the service, reported, and nothing breaks
    response = run_action(browser, "cancel_batches", [draft])
    assert response.status_code == 200
    assert any("不能修改" in m for m in texts(response))


def test_complete_action_opens_the_preview_and_completes_only_when_confirmed(
    browser, city_admin, batch, coal, move_to_past
):
    # given
    browser.force_login(city_admin)
    preview_url = f"{BATCHES}{batch.pk}/complete/"
    too_early = browser.get(preview_url)
    assert too_early.status_code == 200
    assert "之前不能结业" in too_early.content.decode()
    for inspector in coal[:2]:
        services.enrollment_create(batch=batch, inspector=inspector, actor=city_admin)
    move_to_past(batch)
    services.attendance_mark(
        batch=batch, actor=city_admin, day=batch.starts_on, present=[coal[0].pk], absent=[coal[1].pk]
    )
    for i in (1, 2):
        services.attendance_mark(
            batch=batch, actor=city_admin, day=batch.starts_on + dt.timedelta(days=i), all_present=True
        )
    # when: the action only leads to the preview
    response = run_action(browser, "complete_by_attendance", [batch])
    # then
    assert response.redirect_chain[-1][0] == preview_url
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN
    # when: confirmed on the preview
    done = browser.post(preview_url, {"confirm": "1"}, follow=True)
    # then
    assert any("结业 1 人" in m and "缺席 1 人" in m for m in texts(done))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED
    assert Enrollment.objects.get(inspector=coal[0]).hours_credited == Decimal("16.0")


def test_bulk_enroll_action_asks_for_sector_and_region_then_enrolls(browser, city_admin, batch, coal, regions):
    # given
    InspectorFactory(region=regions["changan"], sector=Sector.INDUSTRY_TRADE)
    browser.force_login(city_admin)
    # when: the first click shows the form
    page = run_action(browser, "bulk_enroll", [batch])
    # then
    assert page.status_code == 200
    assert "bulk-enroll-form" in page.content.decode()
    assert not Enrollment.objects.exists()
    # when: applied for 长安 only
    done = run_action(browser, "bulk_enroll", [batch], apply="1", sector="", region="130102")
    # then
    assert any("报名 2 人，候补 0 人，未报名 0 人" in m for m in texts(done))
    assert set(Enrollment.objects.values_list("inspector_id", flat=True)) == {coal[0].pk, coal[1].pk}


def test_bulk_enroll_action_on_a_closed_batch_reports_the_refusals(browser, city_admin, batch, coal):
    # given
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.CLOSED)
    browser.force_login(city_admin)
    # when
    response = run_action(browser, "bulk_enroll", [batch], apply="1", sector="", region="")
    # then
    assert response.status_code == 200
    messages = texts(response)
    assert any("未报名 4 人" in m for m in messages)
    assert any("不接受报名" in m and "（4 人）" in m for m in messages)
    assert not Enrollment.objects.exists()


# --- courses, policies, enrollments -----------------------------------------------------------------------


def test_courses_are_read_by_every_admin_and_kept_by_the_province(browser, city_admin, province_admin, course):
    # given
    browser.force_login(city_admin)
    # when / then
    listing = browser.get("/admin/training/course/", {"covers_legal_review__exact": "1"})
    assert listing.status_code == 200 and "行政执法三项制度专题培训" in listing.content.decode()
    assert "重大执法决定法制审核" in listing.content.decode()  # the topic flags are labelled
    assert browser.get("/admin/training/course/add/").status_code == 403
    browser.force_login(province_admin)
    response = browser.post(
        "/admin/training/course/add/",
        {"code": "GK-02", "title": "行政执法公示实务", "covers_publicity": "on", "hours": "4", "delivery": "online"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Course.objects.get(code="GK-02").topics == ["publicity"]


def test_hours_policies_are_scoped_and_set_through_the_service(browser, city_admin, regions):
    # given
    HoursPolicy.objects.create(region=regions["province"], year=2024, required_hours=Decimal("30"))
    browser.force_login(city_admin)
    # when
    response = browser.post(
        "/admin/training/hourspolicy/add/", {"region": regions["sjz"].pk, "year": "2024", "required_hours": "40"}
    )
    listing = browser.get("/admin/training/hourspolicy/")
    # then
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [p.region.code for p in listing.context["cl"].result_list] == ["130100"]
    outside = browser.post(
        "/admin/training/hourspolicy/add/", {"region": regions["ts"].pk, "year": "2024", "required_hours": "40"}
    )
    assert outside.status_code == 200  # the region is not a choice for this admin
    assert not HoursPolicy.objects.filter(region=regions["ts"]).exists()


def test_enrollment_log_is_scoped_searchable_and_shows_who_did_what(browser, city_admin, batch, coal, regions, course):
    # given
    mine = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    services.enrollment_cancel(enrollment=mine, actor=city_admin, reason="临时任务")
    services.enrollment_create(batch=batch, inspector=coal[1], actor=city_admin)
    lunan = InspectorFactory(region=regions["lunan"], name="路南人")
    EnrollmentFactory(batch=BatchFactory(course=course, region=regions["ts"], starts_on=in_days(70)), inspector=lunan)
    browser.force_login(city_admin)
    # when
    listing = browser.get("/admin/training/enrollment/")
    searched = browser.get("/admin/training/enrollment/", {"q": "煤矿1"})
    detail = browser.get(f"/admin/training/enrollment/{mine.pk}/change/")
    # then
    assert {e.inspector.name for e in listing.context["cl"].result_list} == {"煤矿0", "煤矿1"}
    assert [e.inspector.name for e in searched.context["cl"].result_list] == ["煤矿1"]
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "临时任务" in page and "sjz_admin" in page and "取消" in page


def test_an_inspector_login_cannot_enter_the_training_admin(browser, inspector_user, batch):
    inspector_user.is_staff = True
    inspector_user.save()
    browser.force_login(inspector_user)
    assert browser.get(BATCHES).status_code == 403
    assert browser.get("/admin/training/enrollment/").status_code == 403


def test_course_changelist_filters_by_topic_flag(browser, province_admin, course):
    CourseFactory(
        code="QT",
        title="其他业务",
        covers_publicity=False,
        covers_process_recording=False,
        covers_legal_review=False,
        covers_other=True,
    )
    browser.force_login(province_admin)
    response = browser.get("/admin/training/course/", {"covers_other__exact": "1"})
    assert [c.code for c in response.context["cl"].result_list] == ["QT"]
