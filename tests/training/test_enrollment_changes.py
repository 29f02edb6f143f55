"""Replacing an enrolled inspector by another (替换) and moving an enrollment to another
batch of the same course (转班), through the services: places kept or taken, waitlists
promoted and renumbered, the events written, every refusal, and the locking order.

Dates are fixed: every service that looks at the calendar gets ``today=``.
"""

import datetime as dt

import pytest

from core.errors import AccessDenied, Conflict, ValidationFailed
from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory, CourseFactory
from training import services
from training.models import BatchStatus, Enrollment, EnrollmentEvent, EnrollmentStatus

S = EnrollmentStatus
Kind = EnrollmentEvent.Kind
TODAY = dt.date(2025, 6, 1)  # BatchFactory's batch runs 2025-06-10..12, deadline 06-05


@pytest.fixture
def batch(regions):
    """An open batch of 石家庄 with two seats, for every sector."""
    return BatchFactory(region=regions["sjz"], capacity=2)


@pytest.fixture
def people(regions):
    places = ["changan", "changan", "qiaoxi", "sjz", "qiaoxi", "changan"]
    return [InspectorFactory(region=regions[p], sector=Sector.COAL, name=f"人员{i}") for i, p in enumerate(places)]


def enroll(batch, inspector, actor):
    return services.enrollment_create(batch=batch, inspector=inspector, actor=actor, today=TODAY)


def places(batch):
    """(inspector id, status, waitlist position) of each row of the batch, by id."""
    return list(batch.enrollments.order_by("id").values_list("inspector_id", "status", "waitlist_position"))


def last_event(enrollment):
    return EnrollmentEvent.objects.filter(enrollment=enrollment).order_by("id").last()


# --- replace ------------------------------------------------------------------------------------------


def test_replacing_keeps_the_seat_and_writes_both_events(batch, people, city_admin):
    # given
    first = enroll(batch, people[0], city_admin)
    enroll(batch, people[1], city_admin)
    # when
    new = services.enrollment_replace(enrollment=first, inspector=people[2], actor=city_admin, reason="出差")
    # then: the seat is the newcomer's, the old row cancelled
    first.refresh_from_db()
    assert (first.status, new.status, new.batch_id) == (S.CANCELLED, S.ENROLLED, batch.pk)
    assert batch.enrollments.filter(status=S.ENROLLED).count() == 2
    old_event, new_event = last_event(first), last_event(new)
    assert (old_event.kind, new_event.kind) == (Kind.REPLACED, Kind.REPLACED)
    assert "人员2" in old_event.reason and "出差" in old_event.reason
    assert "人员0" in new_event.reason
    assert old_event.actor == city_admin


def test_replacing_a_waitlisted_one_keeps_the_position(batch, people, city_admin):
    # given: two seated, three waiting
    made = [enroll(batch, p, city_admin) for p in people[:5]]
    middle = made[3]
    assert middle.waitlist_position == 2
    # when
    new = services.enrollment_replace(enrollment=middle, inspector=people[5], actor=city_admin, reason="换人")
    # then
    assert (new.status, new.waitlist_position) == (S.WAITLISTED, 2)
    assert [p for _i, s, p in places(batch) if s == S.WAITLISTED] == [1, 3, 2]  # by id: 2, 4, the newcomer
    middle.refresh_from_db()
    assert (middle.status, middle.waitlist_position) == (S.CANCELLED, None)


def test_replacing_with_someone_cancelled_earlier_reuses_their_row(batch, people, city_admin):
    # given: 人员2 enrolled, then cancelled
    first = enroll(batch, people[0], city_admin)
    earlier = enroll(batch, people[2], city_admin)
    services.enrollment_cancel(enrollment=earlier, actor=city_admin, reason="临时任务")
    # when
    new = services.enrollment_replace(enrollment=first, inspector=people[2], actor=city_admin, reason="回来了")
    # then: one row per batch and inspector
    assert new.pk == earlier.pk and new.status == S.ENROLLED
    assert Enrollment.objects.filter(batch=batch, inspector=people[2]).count() == 1


def test_replacing_by_someone_already_in_the_batch_is_refused(batch, people, city_admin):
    # given
    first = enroll(batch, people[0], city_admin)
    enroll(batch, people[1], city_admin)
    # when / then
    with pytest.raises(Conflict) as refused:
        services.enrollment_replace(enrollment=first, inspector=people[1], actor=city_admin, reason="换人")
    assert refused.value.code == "already_enrolled"
    assert "inspector" in refused.value.fields
    first.refresh_from_db()
    assert first.status == S.ENROLLED


def test_replacing_by_someone_in_an_overlapping_batch_is_refused(batch, people, city_admin, regions):
    # given: 人员2 holds a seat in another batch on the same dates
    other = BatchFactory(region=regions["sjz"], starts_on=batch.starts_on)
    enroll(other, people[2], city_admin)
    first = enroll(batch, people[0], city_admin)
    # when / then
    with pytest.raises(Conflict) as refused:
        services.enrollment_replace(enrollment=first, inspector=people[2], actor=city_admin, reason="换人")
    assert refused.value.code == "date_overlap"
    assert "石家庄市" in refused.value.detail  # the other batch is named with its organiser


def test_replacing_needs_a_reason_a_running_batch_and_the_batch_s_admin(
    batch, people, city_admin, other_city_admin, regions
):
    # given
    first = enroll(batch, people[0], city_admin)
    # then
    with pytest.raises(ValidationFailed):
        services.enrollment_replace(enrollment=first, inspector=people[2], actor=city_admin, reason=" ")
    with pytest.raises(AccessDenied):
        services.enrollment_replace(enrollment=first, inspector=people[2], actor=other_city_admin, reason="换人")
    outsider = InspectorFactory(region=regions["lunan"])
    with pytest.raises(Conflict) as refused:
        services.enrollment_replace(enrollment=first, inspector=outsider, actor=city_admin, reason="换人")
    assert refused.value.code in ("out_of_region",)
    batch.status = BatchStatus.COMPLETED
    batch.save(update_fields=["status"])
    with pytest.raises(Conflict) as final:
        services.enrollment_replace(enrollment=first, inspector=people[2], actor=city_admin, reason="换人")
    assert final.value.code == "batch_final"
    assert list(first.events.values_list("kind", flat=True)) == [Kind.ENROLLED]


# --- move -----------------------------------------------------------------------------------------------


@pytest.fixture
def later(batch, regions):
    """Another 石家庄 batch of the same course, a week later, two seats."""
    return BatchFactory(region=regions["sjz"], course=batch.course, starts_on=dt.date(2025, 6, 17), capacity=2)


def test_moving_takes_a_free_seat_and_promotes_the_old_waitlist(batch, later, people, city_admin):
    # given: the batch full with one waiting
    first = enroll(batch, people[0], city_admin)
    enroll(batch, people[1], city_admin)
    waiting = enroll(batch, people[2], city_admin)
    # when
    moved = services.enrollment_move(enrollment=first, to_batch=later, actor=city_admin, reason="工作冲突", today=TODAY)
    # then
    assert (moved.batch_id, moved.status, moved.waitlist_position) == (later.pk, S.ENROLLED, None)
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert first.status == S.CANCELLED
    assert (waiting.status, waiting.waitlist_position) == (S.ENROLLED, None)  # promoted
    assert last_event(first).kind == Kind.MOVED and "转至" in last_event(first).reason
    assert last_event(moved).kind == Kind.MOVED and "转入" in last_event(moved).reason
    assert last_event(waiting).kind == Kind.PROMOTED


def test_moving_into_a_full_batch_waits_at_the_end(batch, later, people, city_admin):
    # given: the later batch full with one waiting
    for p in people[3:6]:
        enroll(later, p, city_admin)
    first = enroll(batch, people[0], city_admin)
    # when
    moved = services.enrollment_move(enrollment=first, to_batch=later, actor=city_admin, reason="改期", today=TODAY)
    # then
    assert (moved.status, moved.waitlist_position) == (S.WAITLISTED, 2)


def test_moving_a_waitlisted_one_renumbers_the_old_waitlist(batch, later, people, city_admin):
    # given
    made = [enroll(batch, p, city_admin) for p in people[:5]]
    # when: the first waiting leaves
    services.enrollment_move(enrollment=made[2], to_batch=later, actor=city_admin, reason="改期", today=TODAY)
    # then: those behind move up
    made[3].refresh_from_db()
    made[4].refresh_from_db()
    assert (made[3].waitlist_position, made[4].waitlist_position) == (1, 2)


def test_moving_to_an_overlapping_batch_of_the_same_course_ignores_the_one_left(batch, people, city_admin, regions):
    # given: the same course again, one day later (the dates overlap the batch left)
    overlapping = BatchFactory(region=regions["sjz"], course=batch.course, starts_on=dt.date(2025, 6, 11))
    first = enroll(batch, people[0], city_admin)
    # when
    moved = services.enrollment_move(
        enrollment=first, to_batch=overlapping, actor=city_admin, reason="改期", today=TODAY
    )
    # then
    assert moved.status == S.ENROLLED


def test_moving_is_refused_to_another_course_a_closed_batch_another_city_or_the_same_batch(
    batch, later, people, city_admin, regions
):
    # given
    first = enroll(batch, people[0], city_admin)
    other_course = BatchFactory(region=regions["sjz"], course=CourseFactory(), starts_on=dt.date(2025, 6, 24))
    closed = BatchFactory(
        region=regions["sjz"], course=batch.course, starts_on=dt.date(2025, 7, 1), status=BatchStatus.CLOSED
    )
    tangshan = BatchFactory(region=regions["ts"], course=batch.course, starts_on=dt.date(2025, 7, 8))

    def move(to):
        return services.enrollment_move(enrollment=first, to_batch=to, actor=city_admin, reason="改期", today=TODAY)

    # then
    with pytest.raises(ValidationFailed) as wrong_course:
        move(other_course)
    assert "同一课程" in wrong_course.value.detail
    with pytest.raises(Conflict) as not_open:
        move(closed)
    assert not_open.value.code == "batch_not_open"
    with pytest.raises(AccessDenied):
        move(tangshan)
    with pytest.raises(ValidationFailed):
        move(batch)
    with pytest.raises(Conflict) as too_late:
        services.enrollment_move(
            enrollment=first, to_batch=later, actor=city_admin, reason="改期", today=dt.date(2025, 6, 13)
        )
    assert too_late.value.code == "deadline_passed"
    first.refresh_from_db()
    assert first.status == S.ENROLLED and first.batch_id == batch.pk
    assert not later.enrollments.exists()


def test_both_batches_are_locked_in_id_order(batch, later, people, city_admin, monkeypatch):
    # given: a move from the later batch (higher id) back to the earlier one
    moved_there = enroll(later, people[0], city_admin)
    locked = []
    real_lock = services._lock_batch

    def spy(b):
        locked.append(b.pk if hasattr(b, "pk") else b)
        return real_lock(b)

    monkeypatch.setattr(services, "_lock_batch", spy)
    # when
    services.enrollment_move(enrollment=moved_there, to_batch=batch, actor=city_admin, reason="改期", today=TODAY)
    # then: the lower id first, whichever way the move goes
    assert locked[:2] == sorted([batch.pk, later.pk])
    assert batch.pk < later.pk


# --- the API --------------------------------------------------------------------------------------------


@pytest.fixture
def open_batch(regions):
    """The API's today is the real date: a batch a month ahead, two seats."""
    return BatchFactory(region=regions["sjz"], capacity=2, starts_on=in_days(30))


def test_replace_by_api(client_for, open_batch, people, city_admin, other_city_admin):
    # given
    first = services.enrollment_create(batch=open_batch, inspector=people[0], actor=city_admin)
    services.enrollment_create(batch=open_batch, inspector=people[1], actor=city_admin)
    url = f"/api/v1/enrollments/{first.pk}/replace/"
    api = client_for(city_admin)
    # when / then: the reason is required
    assert api.post(url, {"inspector": people[2].pk}, format="json").status_code == 400
    # someone already in the batch: 409 with the code
    refused = api.post(url, {"inspector": people[1].pk, "reason": "出差"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "already_enrolled"
    # done: the newcomer's enrollment, in the same seat, the batch named with its organiser
    done = api.post(url, {"inspector": people[2].pk, "reason": "出差"}, format="json")
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["inspector"]["id"], body["status"]) == (people[2].pk, "enrolled")
    assert body["batch"]["display_name"] == str(open_batch) and "石家庄市" in body["batch"]["display_name"]
    assert body["batch"]["label"] == open_batch.label
    kinds = api.get(f"/api/v1/enrollments/{first.pk}/events/").json()
    assert [e["kind"] for e in kinds] == ["enrolled", "replaced"]
    # another city's admin does not see it
    outside = client_for(other_city_admin).post(url, {"inspector": people[3].pk, "reason": "x"}, format="json")
    assert outside.status_code == 404


def test_move_by_api(client_for, open_batch, people, city_admin, regions):
    # given
    later = BatchFactory(region=regions["sjz"], course=open_batch.course, starts_on=in_days(40), capacity=1)
    services.enrollment_create(batch=later, inspector=people[3], actor=city_admin)
    other_course = BatchFactory(region=regions["sjz"], starts_on=in_days(50))
    ts = BatchFactory(region=regions["ts"], course=open_batch.course, starts_on=in_days(45))
    first = services.enrollment_create(batch=open_batch, inspector=people[0], actor=city_admin)
    url = f"/api/v1/enrollments/{first.pk}/move/"
    api = client_for(city_admin)
    # then
    assert api.post(url, {"batch": later.pk}, format="json").status_code == 400  # no reason
    assert api.post(url, {"batch": other_course.pk, "reason": "改期"}, format="json").status_code == 400
    assert api.post(url, {"batch": ts.pk, "reason": "改期"}, format="json").status_code == 404  # not in scope
    done = api.post(url, {"batch": later.pk, "reason": "改期"}, format="json")
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["batch"]["id"], body["status"], body["waitlist_position"]) == (later.pk, "waitlisted", 1)


# --- concurrency (PostgreSQL) ------------------------------------------------------------------------------


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_moves_in_both_directions_at_once_neither_deadlock_nor_overfill(regions, city_admin):
    # given: two batches of one course, 6 seats each, 8 people in each (2 waiting)
    from tests.training.test_concurrency import run_all

    first = BatchFactory(region=regions["sjz"], capacity=6)
    second = BatchFactory(region=regions["sjz"], course=first.course, starts_on=dt.date(2025, 6, 20), capacity=6)
    people = [InspectorFactory(region=regions["changan"]) for _ in range(16)]
    there = {
        b.pk: [enroll(b, p, city_admin) for p in people[i * 8 : (i + 1) * 8]] for i, b in enumerate((first, second))
    }

    def move(enrollment, to):
        return lambda: services.enrollment_move(
            enrollment=enrollment, to_batch=to, actor=city_admin, reason="对调", today=TODAY
        )

    # when: 5 from each batch to the other, all at once (each locks both batches)
    calls = [move(e, second) for e in there[first.pk][:5]] + [move(e, first) for e in there[second.pk][:5]]
    results = run_all(calls, workers=10)

    # then: every move went through, seats within capacity, each waitlist 1..n
    assert [r for r in results if isinstance(r, Exception)] == []
    for b in (first, second):
        held = list(b.enrollments.exclude(status=S.CANCELLED).values_list("status", "waitlist_position"))
        assert len(held) == 8
        assert sum(1 for s, _p in held if s == S.ENROLLED) == 6
        assert sorted(p for s, p in held if s == S.WAITLISTED) == [1, 2]
