"""The training office's day in the admin: the attendance grid, the sign-in sheet, completion
with a preview (one decision for the preview and the completion), the no-attendance rule,
and undoing a completion; the same through the API."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat

from core.errors import AccessDenied, Conflict, ValidationFailed
from personnel import idcard
from personnel.models import Sector
from tests import grid_a11y
from tests.exams.factories import ResultFactory, SittingFactory
from tests.factories import InspectorFactory
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import services
from training.models import (
    Attendance,
    BatchEvent,
    BatchStatus,
    Enrollment,
    EnrollmentEvent,
    EnrollmentStatus,
)

S = EnrollmentStatus
Kind = EnrollmentEvent.Kind


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def every_day(batch):
    return [batch.starts_on + dt.timedelta(days=n) for n in range(batch.days)]


def key(day):
    return day.strftime("%Y%m%d")


@pytest.fixture
def browser(city_admin):
    client = Client()
    client.force_login(city_admin)
    return client


@pytest.fixture
def running(batch, coal, city_admin, move_to_past):
    """石家庄's three-day batch, over: coal[0] and coal[1] hold the two seats, coal[2] and
    coal[3] wait (positions 1 and 2)."""
    made = [services.enrollment_create(batch=batch, inspector=i, actor=city_admin) for i in coal]
    move_to_past(batch)
    return batch, made


def state(batch):
    return {
        e.inspector_id: (e.status, e.waitlist_position, e.hours_credited, e.completed_on, e.override_reason)
        for e in Enrollment.objects.filter(batch=batch)
    }


# --- the one decision ------------------------------------------------------------------------------


def test_the_preview_is_exactly_what_completion_does(running, coal, city_admin):
    # given: coal[0] present every day, coal[1] misses the second day and is excused
    batch, _made = running
    days = every_day(batch)
    for day in days:
        services.attendance_mark(
            batch=batch, actor=city_admin, day=day, all_present=True, absent=[coal[1].pk] if day == days[1] else []
        )
    overrides = {coal[1].pk: "因公出差，已补课"}
    # when
    plan = services.batch_completion_plan(batch=batch, actor=city_admin, overrides=overrides)
    counts = services.batch_complete(batch=batch, actor=city_admin, overrides=overrides)
    # then: the preview said it, the completion did it
    assert plan.refusal is None
    assert counts == plan.counts == {"completed": 2, "no_show": 0, "excused": 1, "waitlist_cancelled": 2}
    assert [r.inspector_id for r in plan.completed] == [coal[0].pk]
    assert [(r.inspector_id, r.missing_days) for r in plan.excused] == [(coal[1].pk, (days[1],))]
    assert [(r.inspector_id, r.waitlist_position) for r in plan.waitlist_cancelled] == [
        (coal[2].pk, 1),
        (coal[3].pk, 2),
    ]
    after = state(batch)
    assert {i for i, s in after.items() if s[0] == S.COMPLETED} == {coal[0].pk, coal[1].pk}
    assert {i for i, s in after.items() if s[0] == S.CANCELLED} == {coal[2].pk, coal[3].pk}
    assert after[coal[1].pk][4] == "因公出差，已补课"


def test_the_preview_lists_the_days_a_no_show_missed(running, coal, city_admin):
    batch, _made = running
    days = every_day(batch)
    services.attendance_mark(batch=batch, actor=city_admin, day=days[0], present=[coal[0].pk], absent=[coal[1].pk])
    plan = services.batch_completion_plan(batch=batch, actor=city_admin)
    assert {r.inspector_id: r.missing_days for r in plan.no_show} == {
        coal[0].pk: (days[1], days[2]),
        coal[1].pk: tuple(days),
    }
    assert plan.completed == ()


def test_no_attendance_at_all_is_refused_without_a_reason_and_changes_nothing(running, city_admin):
    # given: a finished batch where nobody recorded any attendance
    batch, _made = running
    before = state(batch)
    # when
    plan = services.batch_completion_plan(batch=batch, actor=city_admin)
    with pytest.raises(Conflict) as refused:
        services.batch_complete(batch=batch, actor=city_admin)
    # then
    assert plan.refusal.code == refused.value.code == "no_attendance"
    assert not plan.attendance_recorded
    assert state(batch) == before
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN
    assert not BatchEvent.objects.filter(batch=batch, kind=BatchEvent.Kind.COMPLETED).exists()


def test_a_batch_nobody_enrolled_in_completes_without_attendance(batch, city_admin, move_to_past):
    # given: nobody enrolled, so nobody's attendance to record
    move_to_past(batch)
    # when
    counts = services.batch_complete(batch=batch, actor=city_admin)
    # then
    assert counts == {"completed": 0, "no_show": 0, "excused": 0, "waitlist_cancelled": 0}
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED


def test_no_attendance_with_a_reason_completes_the_roll_and_records_the_reason(running, coal, city_admin):
    # given
    batch, made = running
    reason = "已按线下签到表核实，全员出勤"
    # when
    plan = services.batch_completion_plan(batch=batch, actor=city_admin, no_attendance_reason=reason)
    counts = services.batch_complete(batch=batch, actor=city_admin, no_attendance_reason=reason)
    # then
    assert counts == plan.counts == {"completed": 2, "no_show": 0, "excused": 0, "waitlist_cancelled": 2}
    after = state(batch)
    assert after[coal[0].pk][:3] == (S.COMPLETED, None, Decimal("16.0"))
    assert reason in BatchEvent.objects.get(batch=batch, kind=BatchEvent.Kind.COMPLETED).reason
    event = EnrollmentEvent.objects.get(enrollment=made[0], kind=Kind.COMPLETED)
    assert "未登记考勤" in event.reason and reason in event.reason


# --- undo -------------------------------------------------------------------------------------------


@pytest.fixture
def completed(running, coal, city_admin):
    """Completed: coal[0] present every day, coal[1] a no-show; coal[2], coal[3] cancelled."""
    batch, made = running
    for day in every_day(batch):
        services.attendance_mark(batch=batch, actor=city_admin, day=day, present=[coal[0].pk], absent=[coal[1].pk])
    services.batch_complete(batch=batch, actor=city_admin)
    return batch, made


def test_undo_restores_the_enrollments_and_the_waitlist_in_order_and_writes_events(
    completed, coal, city_admin, regions
):
    # given: before completion there was a waitlist of two; someone cancelled long ago stays cancelled
    batch, made = completed
    # when
    services.batch_completion_undo(batch=batch, actor=city_admin, reason="误操作：考勤未录完")
    # then
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CLOSED
    after = state(batch)
    assert after[coal[0].pk] == (S.ENROLLED, None, Decimal("0"), None, "")
    assert after[coal[1].pk] == (S.ENROLLED, None, Decimal("0"), None, "")
    assert after[coal[2].pk][:2] == (S.WAITLISTED, 1)
    assert after[coal[3].pk][:2] == (S.WAITLISTED, 2)
    for enrollment in made:
        last = enrollment.events.order_by("-at", "-id").first()
        assert (last.kind, last.reason) == (Kind.UNCOMPLETED, "误操作：考勤未录完")
    event = BatchEvent.objects.filter(batch=batch).order_by("-id").first()
    assert (event.kind, event.changes, event.reason) == (
        BatchEvent.Kind.UNCOMPLETED,
        {"status": ["completed", "closed"]},
        "误操作：考勤未录完",
    )
    # attendance is kept, and the batch can be completed again with the same result
    assert Attendance.objects.filter(enrollment__batch=batch).count() == 6
    assert services.batch_complete(batch=batch, actor=city_admin)["completed"] == 1


def test_undo_leaves_a_place_cancelled_before_the_completion_cancelled(running, coal, city_admin):
    # given: coal[3] gave up their waitlist place before the end
    batch, made = running
    services.enrollment_cancel(enrollment=made[3], actor=city_admin, reason="本人放弃")
    services.batch_complete(batch=batch, actor=city_admin, no_attendance_reason="线下核实")
    # when
    services.batch_completion_undo(batch=batch, actor=city_admin, reason="重新登记考勤")
    # then
    after = state(batch)
    assert after[coal[2].pk][:2] == (S.WAITLISTED, 1)
    assert after[coal[3].pk][:2] == (S.CANCELLED, None)


def test_undo_is_refused_once_an_exam_result_of_the_batch_exists(completed, coal, city_admin):
    # given: a sitting of this batch with one result
    batch, _made = completed
    sitting = SittingFactory(batch=batch, exam__region=batch.region)
    ResultFactory(sitting=sitting, inspector=coal[0])
    before = state(batch)
    # when
    with pytest.raises(Conflict) as refused:
        services.batch_completion_undo(batch=batch, actor=city_admin, reason="想重来")
    # then
    assert refused.value.code == "results_depend"
    assert state(batch) == before
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED


def test_undo_needs_a_reason_a_completed_batch_and_a_manager(completed, running, city_admin, other_city_admin):
    batch, _made = completed
    with pytest.raises(ValidationFailed):
        services.batch_completion_undo(batch=batch, actor=city_admin, reason="  ")
    with pytest.raises(AccessDenied):
        services.batch_completion_undo(batch=batch, actor=other_city_admin, reason="x")
    services.batch_completion_undo(batch=batch, actor=city_admin, reason="x")
    with pytest.raises(Conflict) as again:
        services.batch_completion_undo(batch=batch, actor=city_admin, reason="x")
    assert again.value.code == "illegal_transition"


# --- the attendance grid ----------------------------------------------------------------------------


def grid_url(batch):
    return reverse("admin:training_batch_attendance", args=[batch.pk])


def test_the_grid_shows_one_row_per_enrolled_and_one_column_per_day(browser, running, coal):
    # given
    batch, _made = running
    # when
    response = browser.get(grid_url(batch))
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="day" scope="col"') == batch.days
    assert coal[0].name in page and coal[1].name in page
    assert coal[2].name not in page  # waiting, no seat
    assert idcard.mask(coal[0].national_id) in page and coal[0].national_id not in page
    assert reverse("admin:personnel_inspector_change", args=[coal[0].pk]) in page
    assert "全部出勤" in page


def test_the_grid_saves_present_and_absent_for_each_day_ticked(browser, running, coal):
    # given
    batch, made = running
    days = every_day(batch)
    data = {
        f"d-{key(days[0])}": "1",
        f"a-{coal[0].pk}-{key(days[0])}": "1",  # coal[1] unticked: absent
        "all_present": key(days[1]),  # the second day: everyone
    }
    # when
    response = browser.post(grid_url(batch), data, follow=True)
    # then
    assert any("考勤已保存" in m for m in texts(response))
    marks = {(a.enrollment_id, a.day): a.present for a in Attendance.objects.all()}
    assert marks == {
        (made[0].pk, days[0]): True,
        (made[1].pk, days[0]): False,
        (made[0].pk, days[1]): True,
        (made[1].pk, days[1]): True,
    }  # the third day was not ticked: not recorded at all
    page = grid_a11y.parse(browser.get(grid_url(batch)).content.decode())
    boxes = {n.attrs["name"]: n for n in page.controls("attendance-grid") if n.attrs.get("name", "").startswith("a-")}
    assert "checked" in boxes[f"a-{coal[0].pk}-{key(days[0])}"].attrs
    assert "checked" not in boxes[f"a-{coal[1].pk}-{key(days[0])}"].attrs


def test_every_box_of_the_grid_is_named_by_its_person_and_its_day(browser, running, coal):
    # given
    batch, _made = running
    days = every_day(batch)
    # when
    html = browser.get(grid_url(batch)).content.decode()
    # then: a person's box for a day reads "name 12-01 Mon"-like; the day's 登记 box and
    # 全部出勤 button name their day
    page = grid_a11y.parse(html)
    controls = page.controls("attendance-grid")
    names = {n.attrs["value"] if n.tag == "button" else n.attrs["name"]: page.name(n) for n in controls}
    for day in days:
        shown = f"{day:%m-%d} {dateformat.format(day, 'D')}"
        assert names[f"a-{coal[0].pk}-{key(day)}"] == f"{coal[0].name} {shown}"
        assert names[f"a-{coal[1].pk}-{key(day)}"] == f"{coal[1].name} {shown}"
        assert names[f"d-{key(day)}"] == f"登记 {shown}"
        assert names[key(day)] == f"全部出勤 {shown}"  # the button, by its value
    assert len(names) == 2 * batch.days + 2 * batch.days
    grid = page.by_id["attendance-grid"]
    rows = [n for n in page.nodes if n.tag == "th" and n.attrs.get("scope") == "row" and grid in n.ancestors()]
    assert [r.text() for r in rows] == [coal[0].name, coal[1].name]
    assert grid_a11y.csp_blocked(html) == []


def test_a_refused_grid_changes_nothing_and_keeps_what_was_typed(browser, course, regions, coal, city_admin):
    # given: a draft batch (attendance refused) with one enrollment
    batch = BatchFactory(course=course, region=regions["sjz"], status=BatchStatus.DRAFT)
    EnrollmentFactory(batch=batch, inspector=coal[0])
    day = batch.starts_on
    # when
    response = browser.post(grid_url(batch), {f"d-{key(day)}": "1", f"a-{coal[0].pk}-{key(day)}": "1"})
    # then
    assert response.status_code == 200
    assert any("考勤未保存" in m and "草稿" in m for m in texts(response))
    assert not Attendance.objects.exists()
    assert response.context["rows"][0]["cells"][0]["checked"] is True


def test_the_grid_days_are_one_transaction(running, coal, city_admin):
    # given: a good day and a day outside the batch
    batch, _made = running
    # when
    with pytest.raises(ValidationFailed):
        services.attendance_mark_days(
            batch=batch,
            actor=city_admin,
            days={batch.starts_on: {coal[0].pk: True}, batch.ends_on + dt.timedelta(days=1): {coal[0].pk: True}},
        )
    # then
    assert not Attendance.objects.exists()


# --- the sign-in sheet --------------------------------------------------------------------------------


def static_text(name: str) -> str:
    return Path(finders.find(name)).read_text(encoding="utf-8")


def test_the_sign_in_sheet_masks_ids_and_has_a_column_per_day(browser, running, coal):
    # given: a five-day batch prints landscape
    batch, _made = running
    type(batch).objects.filter(pk=batch.pk).update(ends_on=batch.starts_on + dt.timedelta(days=4))
    batch.refresh_from_db()
    # when
    response = browser.get(reverse("admin:training_batch_signin_sheet", args=[batch.pk]))
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert '<meta charset="utf-8">' in page
    # (the styles are in static files: the page allows no inline style, core.csp)
    assert "training/sign-in-sheet.css" in page and "training/sign-in-sheet-landscape.css" in page
    assert "size: A4 landscape" in static_text("training/sign-in-sheet-landscape.css")
    assert "table-header-group" in static_text("training/sign-in-sheet.css")
    assert page.count('<th class="day">') == 5
    assert idcard.mask(coal[0].national_id) in page and coal[0].national_id not in page
    assert "石家庄市" in page and batch.place in page and batch.course.title in page
    assert "签到表" in page and "打印" in page
    assert coal[2].name not in page


# --- completion in the admin ------------------------------------------------------------------------------


def test_the_completion_page_previews_then_applies_on_confirm(browser, running, coal, city_admin):
    # given
    batch, _made = running
    days = every_day(batch)
    for day in days:
        services.attendance_mark(batch=batch, actor=city_admin, day=day, present=[coal[0].pk], absent=[coal[1].pk])
    url = reverse("admin:training_batch_complete", args=[batch.pk])
    # when: looked at, and previewed with an excuse
    page = browser.get(url)
    preview = browser.post(url, {"preview": "1", f"excuse-{coal[1].pk}": "病假，已补课"})
    # then: nothing changed yet
    assert page.status_code == preview.status_code == 200
    assert page.context["plan"].counts == {"completed": 1, "no_show": 1, "excused": 0, "waitlist_cancelled": 2}
    assert preview.context["plan"].counts == {"completed": 2, "no_show": 0, "excused": 1, "waitlist_cancelled": 2}
    text = page.content.decode()
    assert coal[2].name in text and days[0].strftime("%m-%d") in text
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN
    # when: confirmed
    done = browser.post(url, {"confirm": "1", f"excuse-{coal[1].pk}": "病假，已补课"}, follow=True)
    # then
    assert any("已结业" in m for m in texts(done))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED
    assert state(batch)[coal[1].pk][4] == "病假，已补课"


def test_the_completion_page_asks_for_the_no_attendance_reason(browser, running, coal):
    batch, _made = running
    url = reverse("admin:training_batch_complete", args=[batch.pk])
    refused = browser.post(url, {"confirm": "1"})
    assert refused.status_code == 200
    assert "没有登记任何考勤" in refused.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN
    browser.post(url, {"confirm": "1", "no_attendance_reason": "线下签到表已核"})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED


def test_the_changelist_action_no_longer_completes_in_one_click(browser, running, course, regions):
    # given
    batch, _made = running
    other = BatchFactory(course=course, region=regions["sjz"], status=BatchStatus.CLOSED)
    # when: one batch: to its preview
    one = browser.post("/admin/training/batch/", {"action": "complete_by_attendance", ACTION_CHECKBOX_NAME: [batch.pk]})
    several = browser.post(
        "/admin/training/batch/",
        {"action": "complete_by_attendance", ACTION_CHECKBOX_NAME: [batch.pk, other.pk]},
        follow=True,
    )
    # then
    assert one.status_code == 302 and one["Location"] == reverse("admin:training_batch_complete", args=[batch.pk])
    assert any("逐个批次预览" in m for m in texts(several))
    batch.refresh_from_db()
    other.refresh_from_db()
    assert (batch.status, other.status) == (BatchStatus.OPEN, BatchStatus.CLOSED)
    assert not Enrollment.objects.filter(status__in=(S.COMPLETED, S.NO_SHOW)).exists()


def test_the_undo_page_asks_a_reason_and_shows_refusals(browser, completed, coal):
    batch, _made = completed
    url = reverse("admin:training_batch_uncomplete", args=[batch.pk])
    change = browser.get(reverse("admin:training_batch_change", args=[batch.pk])).content.decode()
    assert url in change and reverse("admin:training_batch_attendance", args=[batch.pk]) in change
    blank = browser.post(url, {"reason": ""})
    assert blank.status_code == 200 and blank.context["form"].errors
    sitting = SittingFactory(batch=batch, exam__region=batch.region)
    result = ResultFactory(sitting=sitting, inspector=coal[0])
    refused = browser.post(url, {"reason": "重来"})
    assert "已有成绩" in refused.content.decode()
    result.delete()
    done = browser.post(url, {"reason": "重来"}, follow=True)
    assert any("已撤销" in m for m in texts(done))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CLOSED


@pytest.mark.parametrize("name", ["attendance", "signin_sheet", "complete", "uncomplete"])
def test_another_citys_admin_gets_404_and_changes_nothing(name, running, other_city_admin, county_admin, coal):
    batch, _made = running
    url = reverse(f"admin:training_batch_{name}", args=[batch.pk])
    other = Client()
    other.force_login(other_city_admin)
    assert other.get(url).status_code == 404
    assert other.post(url, {"confirm": "1", "no_attendance_reason": "x", "reason": "x"}).status_code == 404
    # nor does a county admin below the organiser (the admin shows them their own batches only)
    county = Client()
    county.force_login(county_admin)
    assert county.get(url).status_code == 404
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN


# --- the API ---------------------------------------------------------------------------------------------


def test_the_api_previews_completes_with_a_reason_and_undoes(client_for, running, coal, city_admin):
    # given
    batch, _made = running
    api = client_for(city_admin)
    base = f"/api/v1/batches/{batch.pk}/"
    # when
    preview = api.post(base + "completion-preview/", {}, format="json")
    refused = api.post(base + "complete/", {}, format="json")
    with_reason = api.post(base + "completion-preview/", {"no_attendance_reason": "线下核实"}, format="json")
    done = api.post(base + "complete/", {"no_attendance_reason": "线下核实"}, format="json")
    undone = api.post(base + "uncomplete/", {"reason": "误操作"}, format="json")
    # then
    assert preview.status_code == 200
    assert preview.json()["refusal"]["code"] == "no_attendance"
    assert refused.status_code == 409 and refused.json()["code"] == "no_attendance"
    assert with_reason.json()["refusal"] is None
    assert (
        with_reason.json()["counts"]
        == done.json()
        == {
            "completed": 2,
            "no_show": 0,
            "excused": 0,
            "waitlist_cancelled": 2,
        }
    )
    assert [r["inspector"] for r in with_reason.json()["waitlist_cancelled"]] == [coal[2].pk, coal[3].pk]
    assert undone.status_code == 200 and undone.json()["status"] == "closed"
    assert api.post(base + "uncomplete/", {}, format="json").status_code == 400


def test_completing_and_undoing_take_the_same_statements_whatever_the_waitlist(
    course, regions, city_admin, move_to_past
):
    def statements(waiting: int, number: int) -> tuple[int, int]:
        start = in_days(30 + 10 * number)
        batch = BatchFactory(
            course=course,
            region=regions["sjz"],
            number=number,
            sector=Sector.COAL,
            starts_on=start,
            capacity=2,
        )
        for _n in range(2 + waiting):
            inspector = InspectorFactory(region=regions["changan"], sector=Sector.COAL)
            services.enrollment_create(batch=batch, inspector=inspector, actor=city_admin)
        move_to_past(batch)
        services.attendance_mark(batch=batch, actor=city_admin, day=batch.starts_on, all_present=True)
        with CaptureQueriesContext(connection) as completing:
            services.batch_complete(batch=batch, actor=city_admin, overrides={})
        with CaptureQueriesContext(connection) as undoing:
            services.batch_completion_undo(batch=batch, actor=city_admin, reason="重来")
        assert batch.enrollments.filter(status=S.WAITLISTED).count() == waiting
        return len(completing), len(undoing)

    assert statements(2, 11) == statements(7, 12)
