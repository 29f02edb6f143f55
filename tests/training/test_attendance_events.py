"""Every attendance write leaves its AttendanceEvent (and a rating its EvaluationEvent) in
the same transaction, only for the records it changes; a refused write leaves none; the
office reads them on the batch's attendance page."""

import datetime as dt
import zoneinfo
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, DomainError, ValidationFailed
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import checkin, services
from training.evaluations import batch_evaluation_figures, evaluation_submit
from training.models import (
    Attendance,
    AttendanceEvent,
    AttendanceSource,
    BatchStatus,
    Enrollment,
    EnrollmentStatus,
    Evaluation,
    EvaluationEvent,
)

LOCAL = zoneinfo.ZoneInfo("Asia/Shanghai")
# 09:00 on the first day of BatchFactory's batch (2025-06-10 to 06-12).
NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=LOCAL)
DAY1, DAY2, DAY3 = (dt.date(2025, 6, 10) + dt.timedelta(days=n) for n in range(3))
Kind = AttendanceEvent.Kind


@pytest.fixture
def batch(regions):
    return BatchFactory(region=regions["sjz"], status=BatchStatus.CLOSED)


def people(batch, regions, n):
    """``n`` enrolled inspectors of the batch, each with an account."""
    return [
        EnrollmentFactory(
            batch=batch, inspector=InspectorFactory(region=regions["changan"], name=f"人员{i}", user=UserFactory())
        ).inspector
        for i in range(n)
    ]


def events():
    """Every attendance event as ``(inspector id, day, kind, [old, new], source, actor id)``."""
    return [
        (
            e.attendance.enrollment.inspector_id,
            e.attendance.day,
            e.kind,
            e.changes["present"],
            e.source,
            e.actor_id,
        )
        for e in AttendanceEvent.objects.select_related("attendance__enrollment").order_by("id")
    ]


def scan(batch, inspector, at=NOW):
    token = checkin.token_for(batch_id=batch.pk, day=timezone.localdate(at), now=at)
    return checkin.check_in(ticket=checkin.ticket_from_token(token, now=at), inspector=inspector, now=at)


# --- the office's marks ------------------------------------------------------------------------


def test_marking_writes_one_event_per_new_record(batch, regions, city_admin):
    a, b, c = people(batch, regions, 3)

    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, present=[a.pk, b.pk], absent=[c.pk])

    assert events() == [
        (a.pk, DAY1, Kind.PRESENT, [None, True], AttendanceSource.OFFICE, city_admin.pk),
        (b.pk, DAY1, Kind.PRESENT, [None, True], AttendanceSource.OFFICE, city_admin.pk),
        (c.pk, DAY1, Kind.ABSENT, [None, False], AttendanceSource.OFFICE, city_admin.pk),
    ]


def test_marking_the_same_again_writes_nothing_and_a_change_writes_its_old_and_new(
    batch, regions, city_admin, province_admin
):
    a, b = people(batch, regions, 2)
    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, present=[a.pk, b.pk])
    before = events()

    services.attendance_mark(batch=batch, actor=province_admin, day=DAY1, present=[a.pk], absent=[b.pk])

    assert events() == [
        *before,
        (b.pk, DAY1, Kind.ABSENT, [True, False], AttendanceSource.OFFICE, province_admin.pk),
    ]
    # The unchanged record keeps who recorded it.
    assert Attendance.objects.get(enrollment__inspector=a, day=DAY1).recorded_by_id == city_admin.pk
    assert Attendance.objects.get(enrollment__inspector=b, day=DAY1).recorded_by_id == province_admin.pk


def test_a_scan_marked_present_by_the_office_stays_the_scans_and_writes_nothing(batch, regions, city_admin):
    (a,) = people(batch, regions, 1)
    scan(batch, a)

    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, all_present=True)

    assert events() == [(a.pk, DAY1, Kind.CHECKED_IN, [None, True], AttendanceSource.CHECKIN, a.user_id)]
    assert Attendance.objects.get().source == AttendanceSource.CHECKIN

    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, absent=[a.pk])

    assert events()[1:] == [(a.pk, DAY1, Kind.ABSENT, [True, False], AttendanceSource.OFFICE, city_admin.pk)]


def test_several_days_write_their_events_together(batch, regions, city_admin):
    a, b = people(batch, regions, 2)
    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, present=[a.pk, b.pk])

    marked = services.attendance_mark_days(
        batch=batch,
        actor=city_admin,
        days={DAY1: {a.pk: True, b.pk: False}, DAY2: {a.pk: True, b.pk: True}},
    )

    assert marked == 4
    assert events()[2:] == [
        (b.pk, DAY1, Kind.ABSENT, [True, False], AttendanceSource.OFFICE, city_admin.pk),
        (a.pk, DAY2, Kind.PRESENT, [None, True], AttendanceSource.OFFICE, city_admin.pk),
        (b.pk, DAY2, Kind.PRESENT, [None, True], AttendanceSource.OFFICE, city_admin.pk),
    ]


@pytest.mark.parametrize(
    "grid",
    [
        # the last day outside the batch's dates
        lambda a, b: {DAY1: {a: True, b: False}, DAY3 + dt.timedelta(days=1): {a: True}},
        # someone not in the batch
        lambda a, b: {DAY1: {a: True, b: False}, DAY2: {a: True, 999_999: True}},
    ],
)
def test_a_refused_day_records_nothing_and_writes_no_event(batch, regions, city_admin, grid):
    a, b = people(batch, regions, 2)

    with pytest.raises(ValidationFailed):
        services.attendance_mark_days(batch=batch, actor=city_admin, days=grid(a.pk, b.pk))

    assert (Attendance.objects.count(), AttendanceEvent.objects.count()) == (0, 0)


def test_a_completed_batch_is_refused_without_an_event(batch, regions, city_admin):
    (a,) = people(batch, regions, 1)
    type(batch).objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED)

    with pytest.raises(Conflict):
        services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, present=[a.pk])

    assert AttendanceEvent.objects.count() == 0


def test_the_grid_takes_the_same_statements_whatever_its_size(regions, city_admin):
    def statements(n):
        batch = BatchFactory(region=regions["sjz"], status=BatchStatus.CLOSED, capacity=200)
        ids = [p.pk for p in people(batch, regions, n)]
        grid = {day: {i: k % 3 != 0 for k, i in enumerate(ids)} for day in (DAY1, DAY2, DAY3)}
        with CaptureQueriesContext(connection) as ctx:
            services.attendance_mark_days(batch=batch, actor=city_admin, days=grid)
        assert AttendanceEvent.objects.filter(attendance__enrollment__batch=batch).count() == 3 * n
        return len(ctx.captured_queries)

    small, large = statements(2), statements(40)

    assert small == large
    # lock, the manager's region, enrolled, current records, the upsert, the events (plus
    # the transaction's own statements)
    assert large <= 10


# --- scans ------------------------------------------------------------------------------------


def test_a_scan_writes_one_event_and_a_repeat_none(batch, regions):
    (a,) = people(batch, regions, 1)

    first = scan(batch, a)
    again = scan(batch, a, at=NOW + dt.timedelta(minutes=5))

    assert (first.already, again.already) == (False, True)
    assert events() == [(a.pk, DAY1, Kind.CHECKED_IN, [None, True], AttendanceSource.CHECKIN, a.user_id)]


def test_a_scan_refused_over_the_offices_absent_writes_nothing(batch, regions, city_admin):
    (a,) = people(batch, regions, 1)
    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, absent=[a.pk])

    with pytest.raises(Conflict) as refused:
        scan(batch, a)

    assert refused.value.code == "marked_absent"
    assert [e[2] for e in events()] == [Kind.ABSENT]


def test_a_scan_of_a_waitlisted_person_writes_nothing(batch, regions):
    (a,) = people(batch, regions, 1)
    Enrollment.objects.filter(inspector=a).update(status=EnrollmentStatus.WAITLISTED, waitlist_position=1)

    with pytest.raises(DomainError):
        scan(batch, a)

    assert (Attendance.objects.count(), AttendanceEvent.objects.count()) == (0, 0)


# --- where the office reads them ------------------------------------------------------------------


def test_the_attendance_page_lists_who_changed_what(client, batch, regions, city_admin):
    a, b = people(batch, regions, 2)
    scan(batch, a)
    services.attendance_mark(batch=batch, actor=city_admin, day=DAY1, absent=[a.pk, b.pk])
    client.force_login(city_admin)

    page = client.get(reverse("admin:training_batch_attendance", args=[batch.pk]))

    assert page.status_code == 200
    history = page.context["history"]
    assert [(h["name"], h["kind"], h["change"]) for h in history] == [
        (b.name, "登记缺勤", "- → 缺勤"),
        (a.name, "登记缺勤", "出勤 → 缺勤"),
        (a.name, "扫码签到", "- → 出勤"),
    ]
    text = page.content.decode()
    assert "考勤记录（谁在何时登记或更改）" in text
    assert "出勤 → 缺勤" in text


# --- 评教 -----------------------------------------------------------------------------------------


def _ended(regions, **kwargs):
    ends = timezone.localdate() - dt.timedelta(days=3)
    return BatchFactory(region=regions["sjz"], starts_on=ends - dt.timedelta(days=1), ends_on=ends, **kwargs)


def test_a_rating_writes_its_event_and_a_refused_one_none(regions, inspector_user):
    enrollment = EnrollmentFactory(
        batch=_ended(regions, status=BatchStatus.COMPLETED),
        inspector=inspector_user.inspector,
        status=EnrollmentStatus.COMPLETED,
    )

    evaluation = evaluation_submit(enrollment=enrollment, actor=inspector_user, content=5, trainer=4, organisation=3)
    with pytest.raises(Conflict):
        evaluation_submit(enrollment=enrollment, actor=inspector_user, content=1, trainer=1, organisation=1)

    assert list(EvaluationEvent.objects.values_list("evaluation_id", "kind", "changes", "actor_id")) == [
        (
            evaluation.pk,
            EvaluationEvent.Kind.SUBMITTED,
            {"content": [None, 5], "trainer": [None, 4], "organisation": [None, 3]},
            inspector_user.pk,
        )
    ]


def test_a_rating_neither_blocks_undoing_the_completion_nor_a_move_and_stays_with_its_batch(
    regions, inspector_user, city_admin
):
    """The rule (docs/evaluation.md): a rating is the participant's anonymous word on a
    training they attended; it never stops the office correcting a completion or moving
    the person. It stays with the batch it rated, counted only while its enrollment there
    is completed."""
    batch = _ended(regions, status=BatchStatus.COMPLETED)
    enrollment = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector, status=EnrollmentStatus.COMPLETED)
    evaluation_submit(enrollment=enrollment, actor=inspector_user, content=5, trainer=5, organisation=5)

    services.batch_completion_undo(batch=batch, actor=city_admin, reason="考勤登记有误")

    assert batch_evaluation_figures(batch)["evaluations"] == 0
    later = BatchFactory(
        course=batch.course,
        region=regions["sjz"],
        starts_on=timezone.localdate() + dt.timedelta(days=30),
        enrollment_deadline=timezone.localdate() + dt.timedelta(days=20),
    )
    moved = services.enrollment_move(enrollment=enrollment, to_batch=later, actor=city_admin, reason="改期参加")

    rating = Evaluation.objects.get()
    assert (rating.enrollment_id, rating.batch_id) == (enrollment.pk, batch.pk)
    assert moved.pk != enrollment.pk
    assert (batch_evaluation_figures(batch)["evaluations"], batch_evaluation_figures(later)["evaluations"]) == (0, 0)


# --- one transaction: an event that cannot be written takes its record with it -------------------


class Boom(Exception):
    pass


def test_marks_roll_back_when_their_events_fail(batch, regions, city_admin, monkeypatch):
    a, b = people(batch, regions, 2)
    monkeypatch.setattr(AttendanceEvent.objects, "bulk_create", mock.Mock(side_effect=Boom))

    with pytest.raises(Boom):
        services.attendance_mark_days(batch=batch, actor=city_admin, days={DAY1: {a.pk: True, b.pk: False}})

    assert Attendance.objects.count() == 0


def test_a_scan_rolls_back_when_its_event_fails(batch, regions, monkeypatch):
    (a,) = people(batch, regions, 1)
    monkeypatch.setattr(AttendanceEvent.objects, "create", mock.Mock(side_effect=Boom))

    with pytest.raises(Boom):
        scan(batch, a)

    assert Attendance.objects.count() == 0


def test_a_rating_rolls_back_when_its_event_fails(regions, inspector_user, monkeypatch):
    enrollment = EnrollmentFactory(
        batch=_ended(regions, status=BatchStatus.COMPLETED),
        inspector=inspector_user.inspector,
        status=EnrollmentStatus.COMPLETED,
    )
    monkeypatch.setattr(EvaluationEvent.objects, "create", mock.Mock(side_effect=Boom))

    with pytest.raises(Boom):
        evaluation_submit(enrollment=enrollment, actor=inspector_user, content=5, trainer=4, organisation=3)

    assert Evaluation.objects.count() == 0
