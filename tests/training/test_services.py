"""Training writes through the services: capacity and waitlist, every refusal, cancelling
and promotion, batch edits, bulk enroll, attendance, completion and who may do what.

Dates are fixed: every service that looks at the calendar gets ``today=``.
"""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import AccessDenied, Conflict, ValidationFailed
from personnel.models import InspectorStatus, Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training import services
from training.models import (
    Attendance,
    Batch,
    BatchStatus,
    Enrollment,
    EnrollmentEvent,
    EnrollmentStatus,
)

S = EnrollmentStatus
Kind = EnrollmentEvent.Kind
# BatchFactory's default batch runs 2025-06-10..12 with its deadline on 06-05.
TODAY = dt.date(2025, 6, 1)
AFTER_END = dt.date(2025, 6, 13)


@pytest.fixture
def batch(regions):
    """An open province batch of two seats, for every sector."""
    return BatchFactory(region=regions["province"], capacity=2)


@pytest.fixture
def coal(regions):
    """Five active coal inspectors spread over the province."""
    places = ["changan", "changan", "qiaoxi", "lunan", "sjz"]
    return [InspectorFactory(region=regions[p], sector=Sector.COAL, name=f"煤矿{i}") for i, p in enumerate(places)]


def enroll(batch, inspector, actor, today=TODAY):
    return services.enrollment_create(batch=batch, inspector=inspector, actor=actor, today=today)


def statuses(batch):
    """(inspector id, status, waitlist position) for every row of the batch, by id."""
    return list(batch.enrollments.order_by("id").values_list("inspector_id", "status", "waitlist_position"))


def kinds(enrollment):
    return list(EnrollmentEvent.objects.filter(enrollment=enrollment).values_list("kind", flat=True))


# --- capacity and waitlist -------------------------------------------------------------------


def test_seats_are_taken_first_then_the_waitlist_in_order(batch, coal, province_admin):
    # when
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:4]]
    # then
    assert [(e.status, e.waitlist_position) for e in made] == [
        (S.ENROLLED, None),
        (S.ENROLLED, None),
        (S.WAITLISTED, 1),
        (S.WAITLISTED, 2),
    ]
    assert statuses(batch) == [
        (coal[0].pk, S.ENROLLED, None),
        (coal[1].pk, S.ENROLLED, None),
        (coal[2].pk, S.WAITLISTED, 1),
        (coal[3].pk, S.WAITLISTED, 2),
    ]
    assert [kinds(e) for e in made] == [[Kind.ENROLLED], [Kind.ENROLLED], [Kind.WAITLISTED], [Kind.WAITLISTED]]
    assert EnrollmentEvent.objects.filter(actor=province_admin).count() == 4


# --- refusals --------------------------------------------------------------------------------


def assert_refused(code, call):
    before = Enrollment.objects.count(), EnrollmentEvent.objects.count()
    with pytest.raises(Conflict) as refused:
        call()
    assert refused.value.code == code
    assert refused.value.detail  # a sentence a person can act on
    assert (Enrollment.objects.count(), EnrollmentEvent.objects.count()) == before


def test_enrolling_after_the_deadline_is_refused(batch, coal, province_admin):
    # given: the deadline is 2025-06-05
    # when / then
    assert_refused("deadline_passed", lambda: enroll(batch, coal[0], province_admin, today=dt.date(2025, 6, 6)))


def test_enrolling_on_the_deadline_is_accepted(batch, coal, province_admin):
    assert enroll(batch, coal[0], province_admin, today=dt.date(2025, 6, 5)).status == S.ENROLLED


@pytest.mark.parametrize(
    "status", [BatchStatus.DRAFT, BatchStatus.CLOSED, BatchStatus.CANCELLED, BatchStatus.COMPLETED]
)
def test_enrolling_into_a_batch_that_is_not_open_is_refused(regions, coal, province_admin, status):
    # given
    batch = BatchFactory(region=regions["province"], status=status)
    # when / then
    assert_refused("batch_not_open", lambda: enroll(batch, coal[0], province_admin))


def test_an_inspector_of_another_sector_is_refused_by_a_sector_batch(regions, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], sector=Sector.COAL)
    chemist = InspectorFactory(region=regions["changan"], sector=Sector.HAZARDOUS_CHEMICALS)
    # when / then
    assert_refused("sector_mismatch", lambda: enroll(batch, chemist, province_admin))


def test_a_mixed_batch_takes_every_sector(batch, regions, province_admin):
    people = [InspectorFactory(region=regions["changan"], sector=s) for s in Sector]
    assert {enroll(batch, p, province_admin).status for p in people} == {S.ENROLLED, S.WAITLISTED}


@pytest.mark.parametrize("status", [InspectorStatus.ON_LEAVE, InspectorStatus.TRANSFERRED, InspectorStatus.RETIRED])
def test_an_inspector_who_is_not_active_is_refused(batch, regions, province_admin, status):
    # given
    retired = InspectorFactory(region=regions["changan"], status=status)
    # when / then
    assert_refused("inspector_inactive", lambda: enroll(batch, retired, province_admin))


@pytest.mark.parametrize("seats", [1, 2], ids=["waitlisted", "enrolled"])
def test_enrolling_twice_into_the_same_batch_is_refused(regions, coal, province_admin, seats):
    # given: coal[1] holds a seat (capacity 2) or a waitlist place (capacity 1)
    batch = BatchFactory(region=regions["province"], capacity=seats)
    enroll(batch, coal[0], province_admin)
    enroll(batch, coal[1], province_admin)
    # when / then
    assert_refused("already_enrolled", lambda: enroll(batch, coal[1], province_admin))


@pytest.mark.parametrize("other_status", [S.ENROLLED, S.WAITLISTED, S.COMPLETED])
def test_an_inspector_already_in_a_batch_on_overlapping_dates_is_refused(
    batch, regions, coal, province_admin, other_status
):
    # given: another batch 06-12..14 overlaps 06-10..12 on one day
    other = BatchFactory(
        region=regions["sjz"],
        starts_on=dt.date(2025, 6, 12),
        status=BatchStatus.COMPLETED if other_status == S.COMPLETED else BatchStatus.OPEN,
    )
    EnrollmentFactory(
        batch=other,
        inspector=coal[0],
        status=other_status,
        waitlist_position=1 if other_status == S.WAITLISTED else None,
    )
    # when / then
    assert_refused("date_overlap", lambda: enroll(batch, coal[0], province_admin))


@pytest.mark.parametrize(
    ("starts_on", "batch_status", "enrollment_status"),
    [
        (dt.date(2025, 6, 13), BatchStatus.OPEN, S.ENROLLED),  # the day after: no overlap
        (dt.date(2025, 6, 11), BatchStatus.OPEN, S.CANCELLED),  # cancelled enrollments free the dates
        (dt.date(2025, 6, 11), BatchStatus.OPEN, S.NO_SHOW),
        (dt.date(2025, 6, 11), BatchStatus.CANCELLED, S.ENROLLED),  # so do cancelled batches
    ],
)
def test_dates_are_free_again_when_the_other_batch_does_not_hold_them(
    batch, regions, coal, province_admin, starts_on, batch_status, enrollment_status
):
    # given
    other = BatchFactory(region=regions["sjz"], starts_on=starts_on, status=batch_status)
    EnrollmentFactory(batch=other, inspector=coal[0], status=enrollment_status)
    # when
    enrollment = enroll(batch, coal[0], province_admin)
    # then
    assert enrollment.status == S.ENROLLED


def test_an_inspector_outside_the_organising_region_is_refused(regions, province_admin):
    # given: a 石家庄 batch and a 唐山 inspector
    batch = BatchFactory(region=regions["sjz"])
    tangshan = InspectorFactory(region=regions["lunan"])
    # when / then
    assert_refused("out_of_region", lambda: enroll(batch, tangshan, province_admin))


# --- cancelling and the waitlist -------------------------------------------------------------


def test_re_enrolling_after_a_cancellation_reuses_the_row(batch, coal, province_admin):
    # given
    first = enroll(batch, coal[0], province_admin)
    services.enrollment_cancel(enrollment=first, actor=province_admin, reason="临时出差")
    # when
    again = enroll(batch, coal[0], province_admin)
    # then
    assert again.pk == first.pk
    assert again.status == S.ENROLLED
    assert batch.enrollments.count() == 1
    assert kinds(again) == [Kind.ENROLLED, Kind.CANCELLED, Kind.ENROLLED]
    assert EnrollmentEvent.objects.get(enrollment=first, kind=Kind.CANCELLED).reason == "临时出差"


def test_re_enrolling_into_a_full_batch_after_a_cancellation_goes_to_the_end_of_the_waitlist(
    batch, coal, province_admin
):
    # given: two seats taken and one waiting; coal[2] cancels from the waitlist
    for inspector in coal[:4]:
        enroll(batch, inspector, province_admin)
    services.enrollment_cancel(enrollment=batch.enrollments.get(inspector=coal[2]), actor=province_admin)
    # when
    again = enroll(batch, coal[2], province_admin)
    # then: coal[3] moved up to 1 when coal[2] left; coal[2] is now behind them
    assert (again.status, again.waitlist_position) == (S.WAITLISTED, 2)
    assert batch.enrollments.get(inspector=coal[3]).waitlist_position == 1


def test_cancelling_a_seat_promotes_the_head_of_the_waitlist(batch, coal, province_admin):
    # given: two seats taken, coal[2] and coal[3] waiting
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:4]]
    # when
    cancelled = services.enrollment_cancel(enrollment=made[0], actor=province_admin)
    # then
    assert (cancelled.status, cancelled.waitlist_position) == (S.CANCELLED, None)
    assert statuses(batch) == [
        (coal[0].pk, S.CANCELLED, None),
        (coal[1].pk, S.ENROLLED, None),
        (coal[2].pk, S.ENROLLED, None),
        (coal[3].pk, S.WAITLISTED, 1),  # moved up: the waitlist stays 1..n
    ]
    promoted = EnrollmentEvent.objects.get(kind=Kind.PROMOTED)
    assert promoted.enrollment_id == made[2].pk
    assert promoted.actor == province_admin
    assert kinds(made[2]) == [Kind.WAITLISTED, Kind.PROMOTED]


def test_the_promotion_happens_in_the_cancelling_transaction(batch, coal, province_admin):
    # given: the promotion fails after it has written
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:3]]
    real_promote = services._promote

    def promote_then_fail(**kwargs):
        real_promote(**kwargs)
        raise RuntimeError("database went away")

    # when
    with mock.patch.object(services, "_promote", promote_then_fail), pytest.raises(RuntimeError):
        services.enrollment_cancel(enrollment=made[0], actor=province_admin)
    # then: neither the cancellation nor the promotion is left behind
    assert statuses(batch) == [
        (coal[0].pk, S.ENROLLED, None),
        (coal[1].pk, S.ENROLLED, None),
        (coal[2].pk, S.WAITLISTED, 1),
    ]
    assert not EnrollmentEvent.objects.filter(kind__in=[Kind.CANCELLED, Kind.PROMOTED]).exists()


def test_cancelling_from_the_waitlist_promotes_nobody(batch, coal, province_admin):
    # given
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:4]]
    # when
    services.enrollment_cancel(enrollment=made[2], actor=province_admin)
    # then
    assert statuses(batch) == [
        (coal[0].pk, S.ENROLLED, None),
        (coal[1].pk, S.ENROLLED, None),
        (coal[2].pk, S.CANCELLED, None),
        (coal[3].pk, S.WAITLISTED, 1),
    ]
    assert not EnrollmentEvent.objects.filter(kind=Kind.PROMOTED).exists()


def test_cancelling_twice_is_refused(batch, coal, province_admin):
    # given
    enrollment = enroll(batch, coal[0], province_admin)
    services.enrollment_cancel(enrollment=enrollment, actor=province_admin)
    # when / then
    with pytest.raises(Conflict) as refused:
        services.enrollment_cancel(enrollment=enrollment, actor=province_admin)
    assert refused.value.code == "illegal_transition"


# --- editing a batch -------------------------------------------------------------------------


def test_raising_the_capacity_promotes_from_the_waitlist_in_order(batch, coal, province_admin):
    # given: two seats taken, three waiting
    made = [enroll(batch, inspector, province_admin) for inspector in coal]
    # when
    services.batch_update(actor=province_admin, batch=batch, data={"capacity": 4})
    # then
    assert statuses(batch) == [
        (coal[0].pk, S.ENROLLED, None),
        (coal[1].pk, S.ENROLLED, None),
        (coal[2].pk, S.ENROLLED, None),
        (coal[3].pk, S.ENROLLED, None),
        (coal[4].pk, S.WAITLISTED, 1),
    ]
    assert set(EnrollmentEvent.objects.filter(kind=Kind.PROMOTED).values_list("enrollment_id", flat=True)) == {
        made[2].pk,
        made[3].pk,
    }


# --- the waitlist stays 1..n ------------------------------------------------------------------


def waitlist(batch):
    """(inspector id, position) of those waiting, by position."""
    return list(
        batch.enrollments.filter(status=S.WAITLISTED)
        .order_by("waitlist_position")
        .values_list("inspector_id", "waitlist_position")
    )


def test_cancelling_the_seat_of_a_one_seat_batch_moves_the_waitlist_up(regions, coal, province_admin):
    # given: one seat; A holds it, B and C wait
    batch = BatchFactory(region=regions["province"], capacity=1)
    a, b, c = (enroll(batch, inspector, province_admin) for inspector in coal[:3])
    assert (b.waitlist_position, c.waitlist_position) == (1, 2)
    # when: A cancels
    services.enrollment_cancel(enrollment=a, actor=province_admin)
    # then: B takes the seat and C is first in line
    b.refresh_from_db()
    c.refresh_from_db()
    assert (b.status, b.waitlist_position) == (S.ENROLLED, None)
    assert (c.status, c.waitlist_position) == (S.WAITLISTED, 1)


def test_cancelling_in_the_middle_of_the_waitlist_closes_the_gap(regions, coal, province_admin):
    # given: one seat, four waiting (1..4)
    batch = BatchFactory(region=regions["province"], capacity=1)
    made = [enroll(batch, inspector, province_admin) for inspector in coal]
    # when: the second in line cancels
    services.enrollment_cancel(enrollment=made[2], actor=province_admin)
    # then: those behind move up one, in their order; the head keeps its place
    assert waitlist(batch) == [(coal[1].pk, 1), (coal[3].pk, 2), (coal[4].pk, 3)]
    # and the next to come joins at the end, with no gap
    newcomer = InspectorFactory(region=regions["changan"], sector=Sector.COAL)
    assert enroll(batch, newcomer, province_admin).waitlist_position == 4


def test_raising_the_capacity_promotes_several_and_renumbers_the_rest(regions, coal, province_admin):
    # given: one seat, four waiting
    batch = BatchFactory(region=regions["province"], capacity=1)
    for inspector in coal:
        enroll(batch, inspector, province_admin)
    # when: two more seats
    services.batch_update(actor=province_admin, batch=batch, data={"capacity": 3})
    # then: the first two in line are seated, the other two wait as 1 and 2
    assert set(batch.enrollments.filter(status=S.ENROLLED).values_list("inspector_id", flat=True)) == {
        coal[0].pk,
        coal[1].pk,
        coal[2].pk,
    }
    assert waitlist(batch) == [(coal[3].pk, 1), (coal[4].pk, 2)]


def test_a_waitlist_left_with_gaps_is_closed_up_by_the_next_enrollment(regions, coal, province_admin):
    # given: positions 3, 7 and 8 (written before renumbering existed)
    batch = BatchFactory(region=regions["province"], capacity=1)
    enroll(batch, coal[0], province_admin)
    for inspector, position in zip(coal[1:4], (3, 7, 8), strict=True):
        EnrollmentFactory(batch=batch, inspector=inspector, status=S.WAITLISTED, waitlist_position=position)
    # when
    joined = enroll(batch, coal[4], province_admin)
    # then: 1..4, in the old order, the newcomer last
    assert waitlist(batch) == [(coal[1].pk, 1), (coal[2].pk, 2), (coal[3].pk, 3), (coal[4].pk, 4)]
    assert joined.waitlist_position == 4


def test_renumbering_takes_the_same_statements_however_long_the_waitlist(regions, province_admin):
    def statements_to_cancel_the_head(waiting: int) -> list[str]:
        # given: one seat and a waitlist of this length
        batch = BatchFactory(region=regions["province"], capacity=1)
        people = [InspectorFactory(region=regions["changan"]) for _ in range(waiting + 1)]
        made = [enroll(batch, inspector, province_admin) for inspector in people]
        # when: the head of the waitlist leaves
        with CaptureQueriesContext(connection) as queries:
            services.enrollment_cancel(enrollment=made[1], actor=province_admin)
        assert [p for _i, p in waitlist(batch)] == list(range(1, waiting))
        return [q["sql"] for q in queries.captured_queries]

    short, long = statements_to_cancel_the_head(3), statements_to_cancel_the_head(30)
    # then: as many statements for 29 moving up as for 2, two of them the renumbering
    assert len(short) == len(long)
    assert sum("ROW_NUMBER()" in sql for sql in long) == 2


def test_capacity_below_the_seats_taken_is_refused(batch, coal, province_admin):
    # given
    enroll(batch, coal[0], province_admin)
    enroll(batch, coal[1], province_admin)
    # when
    with pytest.raises(Conflict) as refused:
        services.batch_update(actor=province_admin, batch=batch, data={"capacity": 1})
    # then
    assert refused.value.code == "capacity_below_enrolled"
    batch.refresh_from_db()
    assert batch.capacity == 2


def test_capacity_down_to_the_seats_taken_is_accepted(batch, coal, province_admin):
    enroll(batch, coal[0], province_admin)
    services.batch_update(actor=province_admin, batch=batch, data={"capacity": 1})
    batch.refresh_from_db()
    assert batch.capacity == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (BatchStatus.DRAFT, BatchStatus.OPEN),
        (BatchStatus.OPEN, BatchStatus.CLOSED),
        (BatchStatus.CLOSED, BatchStatus.OPEN),
        (BatchStatus.DRAFT, BatchStatus.CANCELLED),
        (BatchStatus.OPEN, BatchStatus.CANCELLED),
        (BatchStatus.CLOSED, BatchStatus.CANCELLED),
    ],
)
def test_legal_status_moves(regions, province_admin, before, after):
    # given
    batch = BatchFactory(region=regions["province"], status=before)
    # when
    services.batch_update(actor=province_admin, batch=batch, data={"status": after})
    # then
    batch.refresh_from_db()
    assert batch.status == after


@pytest.mark.parametrize(
    ("before", "after", "code"),
    [
        (BatchStatus.DRAFT, BatchStatus.CLOSED, "illegal_transition"),
        (BatchStatus.OPEN, BatchStatus.DRAFT, "illegal_transition"),
        (BatchStatus.CLOSED, BatchStatus.DRAFT, "illegal_transition"),
        (BatchStatus.OPEN, BatchStatus.COMPLETED, "illegal_transition"),  # batch_complete does that
        (BatchStatus.COMPLETED, BatchStatus.OPEN, "batch_final"),
        (BatchStatus.CANCELLED, BatchStatus.OPEN, "batch_final"),
    ],
)
def test_illegal_status_moves_are_refused(regions, province_admin, before, after, code):
    # given
    batch = BatchFactory(region=regions["province"], status=before)
    # when
    with pytest.raises(Conflict) as refused:
        services.batch_update(actor=province_admin, batch=batch, data={"status": after})
    # then
    assert refused.value.code == code
    batch.refresh_from_db()
    assert batch.status == before


def test_cancelling_a_batch_cancels_its_enrollments(batch, coal, province_admin):
    # given: two seats, one waiting, one already cancelled
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:4]]
    services.enrollment_cancel(enrollment=made[3], actor=province_admin)
    # when
    services.batch_update(actor=province_admin, batch=batch, data={"status": BatchStatus.CANCELLED})
    # then
    assert {(status, position) for _i, status, position in statuses(batch)} == {(S.CANCELLED, None)}
    assert EnrollmentEvent.objects.filter(kind=Kind.CANCELLED, reason="批次取消").count() == 3
    assert not EnrollmentEvent.objects.filter(kind=Kind.PROMOTED).exists()


def test_batch_create_numbers_batches_within_region_and_year(regions, province_admin):
    # given
    course = CourseFactory()
    data = {
        "course": course,
        "region": regions["sjz"],
        "starts_on": dt.date(2025, 9, 1),
        "ends_on": dt.date(2025, 9, 3),
        "enrollment_deadline": dt.date(2025, 8, 25),
        "capacity": 40,
    }
    # when
    first = services.batch_create(actor=province_admin, data=data)
    second = services.batch_create(actor=province_admin, data=data)
    # then
    assert (first.year, first.number, first.status) == (2025, 1, BatchStatus.DRAFT)
    assert second.number == 2


def test_batch_create_refuses_a_deadline_after_the_end(regions, province_admin):
    data = {
        "course": CourseFactory(),
        "region": regions["sjz"],
        "starts_on": dt.date(2025, 9, 1),
        "ends_on": dt.date(2025, 9, 3),
        "enrollment_deadline": dt.date(2025, 9, 4),
        "capacity": 40,
    }
    with pytest.raises(ValidationFailed) as refused:
        services.batch_create(actor=province_admin, data=data)
    assert "enrollment_deadline" in refused.value.fields
    assert not Batch.objects.exists()


# --- bulk enroll -----------------------------------------------------------------------------


def outcome_map(outcomes):
    return {o.inspector_id: (o.status, o.code, o.waitlist_position) for o in outcomes}


def test_bulk_enroll_takes_active_inspectors_of_the_sector_seats_then_waitlist(regions, province_admin):
    # given: a coal batch of two seats for the 石家庄 subtree
    batch = BatchFactory(region=regions["sjz"], sector=Sector.COAL, capacity=2)
    a = InspectorFactory(region=regions["changan"], name="人员2", sector=Sector.COAL)
    b = InspectorFactory(region=regions["changan"], name="人员1", sector=Sector.COAL)
    c = InspectorFactory(region=regions["qiaoxi"], name="人员0", sector=Sector.COAL)
    InspectorFactory(region=regions["qiaoxi"], name="退休", sector=Sector.COAL, status=InspectorStatus.RETIRED)
    InspectorFactory(region=regions["qiaoxi"], name="危化", sector=Sector.HAZARDOUS_CHEMICALS)
    InspectorFactory(region=regions["lunan"], name="唐山", sector=Sector.COAL)
    # when
    outcomes = services.batch_bulk_enroll(batch=batch, actor=province_admin, today=TODAY)
    # then: ordered by region path, then name
    assert [(o.inspector_id, o.status, o.waitlist_position) for o in outcomes] == [
        (b.pk, S.ENROLLED, None),
        (a.pk, S.ENROLLED, None),
        (c.pk, S.WAITLISTED, 1),
    ]
    assert all(o.enrollment_id for o in outcomes)
    assert set(statuses(batch)) == {(a.pk, S.ENROLLED, None), (b.pk, S.ENROLLED, None), (c.pk, S.WAITLISTED, 1)}
    assert EnrollmentEvent.objects.filter(kind=Kind.ENROLLED, reason="批量报名").count() == 2
    assert EnrollmentEvent.objects.filter(kind=Kind.WAITLISTED, reason="批量报名").count() == 1


def test_bulk_enroll_reports_why_each_refused_inspector_was_refused(regions, province_admin):
    # given: a coal batch, one seat already taken by the bulk's first candidate
    batch = BatchFactory(region=regions["sjz"], sector=Sector.COAL, capacity=3)
    already = InspectorFactory(region=regions["changan"], sector=Sector.COAL)
    enroll(batch, already, province_admin)
    busy = InspectorFactory(region=regions["changan"], sector=Sector.COAL)
    elsewhere = BatchFactory(region=regions["province"], starts_on=dt.date(2025, 6, 11))
    EnrollmentFactory(batch=elsewhere, inspector=busy)
    fresh = InspectorFactory(region=regions["qiaoxi"], sector=Sector.COAL)
    # when
    outcomes = services.batch_bulk_enroll(batch=batch, actor=province_admin, today=TODAY)
    # then
    assert outcome_map(outcomes) == {
        already.pk: ("refused", "already_enrolled", None),
        busy.pk: ("refused", "date_overlap", None),
        fresh.pk: (S.ENROLLED, "", None),
    }
    refused = [o for o in outcomes if o.status == "refused"]
    assert all(o.detail for o in refused)


def test_bulk_enroll_by_ids_reports_unknown_and_out_of_scope_ids_as_not_found(regions, city_admin):
    # given: a 石家庄 coal batch managed by the 石家庄 admin
    batch = BatchFactory(region=regions["sjz"], sector=Sector.COAL, capacity=1)
    first = InspectorFactory(region=regions["changan"], name="甲", sector=Sector.COAL)
    second = InspectorFactory(region=regions["qiaoxi"], name="乙", sector=Sector.COAL)
    chemist = InspectorFactory(region=regions["changan"], sector=Sector.HAZARDOUS_CHEMICALS)
    on_leave = InspectorFactory(region=regions["changan"], sector=Sector.COAL, status=InspectorStatus.ON_LEAVE)
    tangshan = InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    unlisted = InspectorFactory(region=regions["changan"], sector=Sector.COAL)
    ids = [first.pk, second.pk, chemist.pk, on_leave.pk, tangshan.pk, 999_999]
    # when
    outcomes = services.batch_bulk_enroll(batch=batch, actor=city_admin, inspector_ids=ids, today=TODAY)
    # then
    assert outcome_map(outcomes) == {
        first.pk: (S.ENROLLED, "", None),
        second.pk: (S.WAITLISTED, "", 1),
        chemist.pk: ("refused", "sector_mismatch", None),
        on_leave.pk: ("refused", "inspector_inactive", None),
        tangshan.pk: ("refused", "not_found", None),
        999_999: ("refused", "not_found", None),
    }
    assert not batch.enrollments.filter(inspector=unlisted).exists()
    assert batch.enrollments.count() == 2


@pytest.mark.parametrize(("status", "today"), [(BatchStatus.CLOSED, TODAY), (BatchStatus.OPEN, dt.date(2025, 6, 6))])
def test_bulk_enroll_into_a_batch_not_taking_enrollments_refuses_everyone(regions, coal, province_admin, status, today):
    # given
    batch = BatchFactory(region=regions["province"], status=status)
    # when
    outcomes = services.batch_bulk_enroll(batch=batch, actor=province_admin, today=today)
    # then
    code = "batch_not_open" if status == BatchStatus.CLOSED else "deadline_passed"
    assert outcome_map(outcomes) == {i.pk: ("refused", code, None) for i in coal}
    assert not batch.enrollments.exists()


def test_bulk_enroll_reuses_cancelled_rows(batch, coal, province_admin):
    # given
    cancelled = enroll(batch, coal[0], province_admin)
    services.enrollment_cancel(enrollment=cancelled, actor=province_admin)
    # when
    outcomes = services.batch_bulk_enroll(
        batch=batch, actor=province_admin, inspector_ids=[coal[0].pk, coal[1].pk], today=TODAY
    )
    # then
    assert outcome_map(outcomes)[coal[0].pk] == (S.ENROLLED, "", None)
    assert batch.enrollments.count() == 2
    assert batch.enrollments.get(inspector=coal[0]).pk == cancelled.pk


def test_bulk_enroll_continues_the_existing_waitlist(batch, coal, province_admin):
    # given: two seats and waitlist place 1 taken one by one
    for inspector in coal[:3]:
        enroll(batch, inspector, province_admin)
    # when
    outcomes = services.batch_bulk_enroll(
        batch=batch, actor=province_admin, inspector_ids=[coal[3].pk, coal[4].pk], today=TODAY
    )
    # then
    assert sorted(o.waitlist_position for o in outcomes) == [2, 3]


def test_bulk_enroll_for_a_region_outside_the_batch_is_refused(regions, province_admin):
    batch = BatchFactory(region=regions["sjz"])
    with pytest.raises(ValidationFailed):
        services.batch_bulk_enroll(batch=batch, actor=province_admin, region=regions["lunan"], today=TODAY)


def test_bulk_enroll_limited_to_a_sub_region(regions, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], sector=Sector.COAL)
    inside = InspectorFactory(region=regions["qiaoxi"], sector=Sector.COAL)
    InspectorFactory(region=regions["changan"], sector=Sector.COAL)
    # when
    outcomes = services.batch_bulk_enroll(batch=batch, actor=province_admin, region=regions["qiaoxi"], today=TODAY)
    # then
    assert outcome_map(outcomes) == {inside.pk: (S.ENROLLED, "", None)}


# --- attendance and completion ---------------------------------------------------------------


@pytest.fixture
def running(batch, coal, province_admin):
    """The default batch with coal[0] and coal[1] enrolled and coal[2] waiting."""
    made = [enroll(batch, inspector, province_admin) for inspector in coal[:3]]
    return batch, made


def mark(batch, actor, day, **kwargs):
    return services.attendance_mark(batch=batch, actor=actor, day=day, **kwargs)


def every_day(batch):
    return [batch.starts_on + dt.timedelta(days=n) for n in range(batch.days)]


@pytest.mark.parametrize("day", [dt.date(2025, 6, 9), dt.date(2025, 6, 13)])
def test_attendance_outside_the_batch_dates_is_refused(running, province_admin, coal, day):
    batch, _made = running
    with pytest.raises(ValidationFailed) as refused:
        mark(batch, province_admin, day, present=[coal[0].pk])
    assert "day" in refused.value.fields
    assert not Attendance.objects.exists()


def test_attendance_for_a_waitlisted_inspector_is_refused(running, province_admin, coal):
    batch, _made = running
    with pytest.raises(ValidationFailed):
        mark(batch, province_admin, batch.starts_on, present=[coal[0].pk, coal[2].pk])
    assert not Attendance.objects.exists()


def test_marking_a_day_again_overwrites(running, province_admin, coal):
    # given
    batch, made = running
    mark(batch, province_admin, batch.starts_on, present=[coal[0].pk, coal[1].pk])
    # when
    mark(batch, province_admin, batch.starts_on, absent=[coal[0].pk])
    # then
    assert Attendance.objects.filter(day=batch.starts_on).count() == 2
    assert Attendance.objects.get(enrollment=made[0]).present is False
    assert Attendance.objects.get(enrollment=made[1]).present is True


def test_all_present_marks_every_enrolled_inspector_but_the_absent(running, province_admin, coal):
    batch, made = running
    assert mark(batch, province_admin, batch.starts_on, all_present=True, absent=[coal[1].pk]) == 2
    assert dict(Attendance.objects.values_list("enrollment_id", "present")) == {made[0].pk: True, made[1].pk: False}


def test_completion_credits_course_hours_to_those_present_every_day(running, province_admin, coal):
    # given: coal[0] present all three days, coal[1] misses the last one
    batch, made = running
    for day in every_day(batch):
        mark(batch, province_admin, day, present=[coal[0].pk], absent=[coal[1].pk] if day == batch.ends_on else [])
        if day != batch.ends_on:
            mark(batch, province_admin, day, present=[coal[0].pk, coal[1].pk])
    # when
    counts = services.batch_complete(batch=batch, actor=province_admin, today=AFTER_END)
    # then
    assert counts == {"completed": 1, "no_show": 1, "excused": 0, "waitlist_cancelled": 1}
    done, missed, waiting = (Enrollment.objects.get(pk=e.pk) for e in made)
    assert (done.status, done.hours_credited, done.completed_on) == (S.COMPLETED, Decimal("16.0"), batch.ends_on)
    assert (missed.status, missed.hours_credited, missed.completed_on) == (S.NO_SHOW, Decimal("0"), None)
    # the one still waiting for a seat did not get one: cancelled with the batch over
    assert (waiting.status, waiting.waitlist_position) == (S.CANCELLED, None)
    assert kinds(waiting)[-1] == Kind.CANCELLED
    assert kinds(done)[-1] == Kind.COMPLETED
    assert kinds(missed)[-1] == Kind.NO_SHOW
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED


def test_completion_with_no_attendance_at_all_is_refused_without_a_reason(running, province_admin):
    # given: nobody's attendance recorded (it marked everyone a no-show before)
    batch, made = running
    # when
    with pytest.raises(Conflict) as refused:
        services.batch_complete(batch=batch, actor=province_admin, today=AFTER_END)
    # then: nothing changed
    assert refused.value.code == "no_attendance"
    assert "no_attendance_reason" in refused.value.fields
    assert [Enrollment.objects.get(pk=e.pk).status for e in made] == [S.ENROLLED, S.ENROLLED, S.WAITLISTED]
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN


def test_an_admin_override_with_a_reason_completes_a_missed_day(running, province_admin, coal):
    # given: coal[1] present only on the first day
    batch, made = running
    mark(batch, province_admin, batch.starts_on, all_present=True)
    # when
    counts = services.batch_complete(
        batch=batch, actor=province_admin, overrides={coal[1].pk: "因公出差补学录像"}, today=AFTER_END
    )
    # then
    assert counts == {"completed": 1, "no_show": 1, "excused": 1, "waitlist_cancelled": 1}
    excused = Enrollment.objects.get(pk=made[1].pk)
    assert (excused.status, excused.hours_credited, excused.override_reason) == (
        S.COMPLETED,
        Decimal("16.0"),
        "因公出差补学录像",
    )
    assert EnrollmentEvent.objects.filter(enrollment=excused, kind=Kind.COMPLETED, reason__contains="因公出差").exists()
    assert Enrollment.objects.get(pk=made[0].pk).status == S.NO_SHOW


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_override_without_a_reason_is_refused(running, province_admin, coal, reason):
    # given
    batch, _made = running
    # when
    with pytest.raises(ValidationFailed):
        services.batch_complete(batch=batch, actor=province_admin, overrides={coal[1].pk: reason}, today=AFTER_END)
    # then: nothing completed
    assert Enrollment.objects.filter(status=S.ENROLLED).count() == 2
    batch.refresh_from_db()
    assert batch.status == BatchStatus.OPEN


def test_completing_before_the_last_day_is_refused(running, province_admin):
    batch, _made = running
    with pytest.raises(Conflict) as refused:
        services.batch_complete(batch=batch, actor=province_admin, today=batch.ends_on - dt.timedelta(days=1))
    assert refused.value.code == "too_early"


def test_completing_on_the_last_day_is_accepted(running, province_admin):
    batch, _made = running
    mark(batch, province_admin, batch.starts_on, all_present=True)
    services.batch_complete(batch=batch, actor=province_admin, today=batch.ends_on)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED


def test_completing_twice_is_refused(running, province_admin):
    batch, _made = running
    mark(batch, province_admin, batch.starts_on, all_present=True)
    services.batch_complete(batch=batch, actor=province_admin, today=AFTER_END)
    with pytest.raises(Conflict) as refused:
        services.batch_complete(batch=batch, actor=province_admin, today=AFTER_END)
    assert refused.value.code == "illegal_transition"


# --- who may do what -------------------------------------------------------------------------


@pytest.fixture
def tangshan_batch(regions):
    return BatchFactory(region=regions["ts"], capacity=5)


@pytest.fixture
def province_batch(regions):
    return BatchFactory(region=regions["province"], capacity=5)


def manage(batch, inspector, name):
    """One of the writes an admin makes on a batch, as a call taking the actor."""
    calls = {
        "batch_update": lambda actor: services.batch_update(actor=actor, batch=batch, data={"capacity": 9}),
        "enrollment_create": lambda actor: enroll(batch, inspector, actor),
        "batch_bulk_enroll": lambda actor: services.batch_bulk_enroll(batch=batch, actor=actor, today=TODAY),
        "attendance_mark": lambda actor: mark(batch, actor, batch.starts_on, all_present=True),
        "batch_complete": lambda actor: services.batch_complete(batch=batch, actor=actor, today=AFTER_END),
    }
    return calls[name]


MANAGE = ["batch_update", "enrollment_create", "batch_bulk_enroll", "attendance_mark", "batch_complete"]


@pytest.mark.parametrize("call", MANAGE)
@pytest.mark.parametrize("which", ["tangshan_batch", "province_batch"])
def test_a_city_admin_cannot_manage_a_batch_of_another_city_or_the_province(
    request, regions, city_admin, province_admin, which, call
):
    # given: a batch outside 石家庄, with one enrollment made by the province
    batch = request.getfixturevalue(which)
    inspector = InspectorFactory(region=regions["lunan"])
    enroll(batch, inspector, province_admin)
    # when / then
    with pytest.raises(AccessDenied):
        manage(batch, InspectorFactory(region=regions["lunan"]), call)(city_admin)
    batch.refresh_from_db()
    assert (batch.capacity, batch.status) == (5, BatchStatus.OPEN)
    assert statuses(batch) == [(inspector.pk, S.ENROLLED, None)]


@pytest.mark.parametrize("which", ["tangshan_batch", "province_batch"])
def test_a_city_admin_cannot_cancel_in_a_batch_of_another_city_or_the_province(
    request, regions, city_admin, province_admin, which
):
    # given
    batch = request.getfixturevalue(which)
    enrollment = enroll(batch, InspectorFactory(region=regions["lunan"]), province_admin)
    # when / then
    with pytest.raises(AccessDenied):
        services.enrollment_cancel(enrollment=enrollment, actor=city_admin)
    assert Enrollment.objects.get(pk=enrollment.pk).status == S.ENROLLED


def test_a_city_admin_manages_the_batches_of_their_city(regions, city_admin):
    batch = BatchFactory(region=regions["sjz"])
    inspector = InspectorFactory(region=regions["changan"])
    assert enroll(batch, inspector, city_admin).status == S.ENROLLED
    services.batch_update(actor=city_admin, batch=batch, data={"capacity": 9})


def test_an_inspector_enrolls_and_cancels_themself(province_batch, inspector_user):
    # given
    me = inspector_user.inspector
    # when
    enrollment = enroll(province_batch, me, inspector_user)
    cancelled = services.enrollment_cancel(enrollment=enrollment, actor=inspector_user)
    # then
    assert cancelled.status == S.CANCELLED
    assert set(EnrollmentEvent.objects.values_list("actor", flat=True)) == {inspector_user.pk}


def test_an_inspector_cannot_enroll_or_cancel_someone_else(province_batch, regions, inspector_user, province_admin):
    # given
    colleague = InspectorFactory(region=regions["changan"])
    theirs = enroll(province_batch, colleague, province_admin)
    # when / then
    with pytest.raises(AccessDenied):
        enroll(province_batch, InspectorFactory(region=regions["changan"]), inspector_user)
    with pytest.raises(AccessDenied):
        services.enrollment_cancel(enrollment=theirs, actor=inspector_user)
    assert Enrollment.objects.get(pk=theirs.pk).status == S.ENROLLED


@pytest.mark.parametrize("call", [c for c in MANAGE if c != "enrollment_create"])
def test_an_inspector_cannot_manage_a_batch(province_batch, inspector_user, call):
    with pytest.raises(AccessDenied):
        manage(province_batch, inspector_user.inspector, call)(inspector_user)


def test_courses_are_kept_by_the_province(city_admin, province_admin):
    data = {"code": "SZ-01", "title": "三项制度", "topics": ["publicity", "legal_review"], "hours": Decimal("8")}
    with pytest.raises(AccessDenied):
        services.course_save(actor=city_admin, data=data)
    course = services.course_save(actor=province_admin, data=data)
    assert course.topics == ["publicity", "legal_review"]
    assert not course.covers_three_systems


def test_hours_policy_only_by_an_admin_of_the_region(regions, city_admin):
    with pytest.raises(AccessDenied):
        services.hours_policy_set(actor=city_admin, region=regions["province"], year=2025, required_hours=Decimal(30))
    policy = services.hours_policy_set(actor=city_admin, region=regions["sjz"], year=2025, required_hours=Decimal(40))
    assert policy.required_hours == Decimal(40)
