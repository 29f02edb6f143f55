"""Capacity under concurrent writers, on PostgreSQL: every thread has its own connection
and its own transaction, as concurrent requests do.

Runs only with a PostgreSQL DATABASE_URL (fails instead of skipping under REQUIRE_SERVICES=1).
"""

import contextlib
import datetime as dt
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count

from core.errors import Conflict
from personnel.models import Sector
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory
from training import services
from training.models import Enrollment, EnrollmentEvent, EnrollmentStatus

pytestmark = [pytest.mark.services("db"), pytest.mark.django_db(transaction=True)]

S = EnrollmentStatus
TODAY = dt.date(2025, 6, 1)  # BatchFactory's batches take enrollments until 2025-06-05
WORKERS = 32


def run_all(calls, workers=WORKERS):
    """Run every call on a pool of threads, released together; return (result or
    exception) per call, in order. Each call closes its thread's connection."""
    start = threading.Event()

    def run(call):
        start.wait()
        try:
            return call()
        except Exception as exc:  # collected, and asserted on by the test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, call) for call in calls]
        start.set()
        return [f.result(timeout=120) for f in futures]


def enroll_call(batch, inspector, actor):
    return lambda: services.enrollment_create(batch=batch, inspector=inspector, actor=actor, today=TODAY)


def rows(batch):
    return list(batch.enrollments.order_by("id").values_list("id", "inspector_id", "status", "waitlist_position"))


def test_200_concurrent_enrollments_fill_50_seats_and_a_gapless_waitlist(regions, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], capacity=50)
    people = [InspectorFactory(region=regions[r]) for r in ("changan", "qiaoxi", "lunan", "sjz") for _ in range(50)]

    # when: 200 threads, one inspector each
    results = run_all([enroll_call(batch, p, province_admin) for p in people])

    # then: no errors, one row per inspector
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    got = rows(batch)
    assert len(got) == 200
    assert sorted(inspector for _id, inspector, _s, _p in got) == sorted(p.pk for p in people)
    statuses = Counter(status for _id, _i, status, _p in got)
    assert statuses == {S.ENROLLED: 50, S.WAITLISTED: 150}
    # the waitlist is 1..150 without gaps, handed out in the order the rows were written
    waiting = [position for _id, _i, status, position in got if status == S.WAITLISTED]
    assert waiting == list(range(1, 151))
    assert all(status == S.ENROLLED for _id, _i, status, _p in got[:50])
    assert EnrollmentEvent.objects.filter(enrollment__batch=batch).count() == 200

    # when: 10 seat holders cancel at once
    first_in_line = dict(batch.enrollments.filter(waitlist_position__lte=10).values_list("id", "waitlist_position"))
    leaving = list(batch.enrollments.filter(status=S.ENROLLED).order_by("?")[:10])
    results = run_all([lambda e=e: services.enrollment_cancel(enrollment=e, actor=province_admin) for e in leaving])

    # then: the first ten on the waitlist hold their seats, still 50 in all
    assert [r for r in results if isinstance(r, Exception)] == []
    statuses = Counter(batch.enrollments.values_list("status", flat=True))
    assert statuses == {S.ENROLLED: 50, S.WAITLISTED: 140, S.CANCELLED: 10}
    promoted = EnrollmentEvent.objects.filter(enrollment__batch=batch, kind=EnrollmentEvent.Kind.PROMOTED)
    assert sorted(promoted.values_list("enrollment_id", flat=True)) == sorted(first_in_line)
    assert set(batch.enrollments.filter(pk__in=first_in_line).values_list("status", flat=True)) == {S.ENROLLED}
    remaining = list(batch.enrollments.filter(status=S.WAITLISTED).order_by("waitlist_position"))
    # and those still waiting moved up: 1..140, in the order they came
    assert [e.waitlist_position for e in remaining] == list(range(1, 141))
    assert [e.pk for e in remaining] == sorted(e.pk for e in remaining)


def test_concurrent_enrollments_and_cancellations_leave_the_waitlist_1_to_n_in_lock_order(regions, province_admin):
    # given: 20 seats taken and 30 waiting; 40 more inspectors about to come
    batch = BatchFactory(region=regions["province"], capacity=20)
    people = [InspectorFactory(region=regions[r]) for r in ("changan", "qiaoxi", "lunan", "sjz") for _ in range(23)]
    made = [
        services.enrollment_create(batch=batch, inspector=p, actor=province_admin, today=TODAY) for p in people[:50]
    ]
    seated, waiting = made[:20], made[20:]

    # when: at once, 40 enroll, 8 seat holders and 12 of those waiting (head, middle, tail) cancel
    leaving = seated[::2][:8] + waiting[0:4] + waiting[12:16] + waiting[26:30]
    calls = [enroll_call(batch, p, province_admin) for p in people[50:90]]
    calls += [lambda e=e: services.enrollment_cancel(enrollment=e, actor=province_admin) for e in leaving]
    random.Random(11).shuffle(calls)  # enrolls and cancels interleaved
    results = run_all(calls)

    # then: nothing failed, the seats are full and the rest wait
    assert [r for r in results if isinstance(r, Exception)] == []
    counts = Counter(batch.enrollments.values_list("status", flat=True))
    assert counts == {S.ENROLLED: 20, S.WAITLISTED: 90 - 20 - 20, S.CANCELLED: 20}
    # the positions are exactly 1..n
    remaining = list(batch.enrollments.filter(status=S.WAITLISTED).order_by("waitlist_position"))
    assert [e.waitlist_position for e in remaining] == list(range(1, len(remaining) + 1))
    # in the order each joined the waitlist under the batch lock (its WAITLISTED event, written
    # under the lock, took the next id)
    joined = dict(
        EnrollmentEvent.objects.filter(enrollment__in=remaining, kind=EnrollmentEvent.Kind.WAITLISTED).values_list(
            "enrollment_id", "id"
        )
    )
    assert [e.pk for e in remaining] == sorted(joined, key=joined.get)


def test_the_same_inspector_enrolling_at_once_gets_one_row(regions, province_admin):
    # given
    batch = BatchFactory(region=regions["province"], capacity=5)
    inspector = InspectorFactory(region=regions["changan"])
    # when
    results = run_all([enroll_call(batch, inspector, province_admin) for _ in range(20)])
    # then
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 19
    assert {r.code for r in refused} == {"already_enrolled"}
    assert batch.enrollments.count() == 1


def test_bulk_enroll_racing_single_enrollments(regions, province_admin):
    # given: 120 inspectors; the bulk lists the first 100, single calls the last 60,
    # so 40 are asked for by both
    batch = BatchFactory(region=regions["province"], sector=Sector.COAL, capacity=50)
    people = [InspectorFactory(region=regions["changan"], sector=Sector.COAL) for _ in range(120)]
    bulk_ids = [p.pk for p in people[:100]]
    singles = people[60:]

    def bulk():
        return services.batch_bulk_enroll(batch=batch, actor=province_admin, inspector_ids=bulk_ids, today=TODAY)

    calls = [enroll_call(batch, p, province_admin) for p in singles]
    calls.insert(len(calls) // 3, bulk)  # the bulk lands while single calls are queued on the lock

    # when
    results = run_all(calls)

    # then: each inspector got in exactly once, whichever call came first
    outcomes = results.pop(len(singles) // 3)
    assert not isinstance(outcomes, Exception), outcomes
    unexpected = [r for r in results if isinstance(r, Exception) and getattr(r, "code", "") != "already_enrolled"]
    assert unexpected == []
    by_single = {e.inspector_id for e in results if isinstance(e, Enrollment)}
    by_bulk = {o.inspector_id for o in outcomes if o.status != "refused"}
    assert {o.code for o in outcomes if o.status == "refused"} <= {"already_enrolled"}
    assert by_single.isdisjoint(by_bulk)
    assert by_single | by_bulk == {p.pk for p in people}

    got = rows(batch)
    assert len(got) == 120
    assert Counter(status for _id, _i, status, _p in got) == {S.ENROLLED: 50, S.WAITLISTED: 70}
    assert sorted(p for _id, _i, status, p in got if status == S.WAITLISTED) == list(range(1, 71))
    assert not batch.enrollments.values("inspector").annotate(n=Count("id")).filter(n__gt=1).exists()


@pytest.mark.parametrize("first_call", ["enrollment_create", "batch_bulk_enroll"])
def test_one_inspector_racing_into_two_batches_on_the_same_dates_gets_one(regions, province_admin, first_call):
    # given: ten inspectors, each trying two batches on the same dates at once (the first
    # by a single enrollment or a bulk enroll of them, the second by a single one). The two
    # calls of a pair meet right after their overlap checks (a single enrollment's is read
    # with its batch lock, a bulk enroll's by _overlapping), so the interleaving the race
    # needs happens every run (with the inspector locked, the second call waits for the
    # first to commit, and the first waits out the timeout alone).
    people = [InspectorFactory(region=regions["changan"]) for _ in range(10)]
    pairs = {p.pk: (BatchFactory(region=regions["province"]), BatchFactory(region=regions["province"])) for p in people}
    barriers = {p.pk: threading.Barrier(2) for p in people}
    real_overlapping, real_lock = services._overlapping, services._lock_batch_fields

    def meet(inspector_id):
        with contextlib.suppress(threading.BrokenBarrierError):
            barriers[inspector_id].wait(timeout=3)

    def overlapping_then_meet(batch, inspector_ids):
        found = real_overlapping(batch, inspector_ids)
        meet(next(iter(inspector_ids)))
        return found

    def lock_then_meet(batch_id, inspector_id):
        locked = real_lock(batch_id, inspector_id)
        meet(inspector_id)
        return locked

    def single(batch, inspector):
        return enroll_call(batch, inspector, province_admin)

    def bulk(batch, inspector):
        return lambda: services.batch_bulk_enroll(
            batch=batch, actor=province_admin, inspector_ids=[inspector.pk], today=TODAY
        )

    first = single if first_call == "enrollment_create" else bulk
    calls = [call for p in people for call in (first(pairs[p.pk][0], p), single(pairs[p.pk][1], p))]
    # when
    with (
        mock.patch.object(services, "_overlapping", overlapping_then_meet),
        mock.patch.object(services, "_lock_batch_fields", lock_then_meet),
    ):
        results = run_all(calls, workers=len(calls))
    # then: per inspector one enrollment and one date_overlap refusal
    unexpected = [r for r in results if isinstance(r, Exception) and getattr(r, "code", "") != "date_overlap"]
    assert unexpected == []
    bulk_refusals = [o.code for r in results if isinstance(r, list) for o in r if o.status == "refused"]
    assert set(bulk_refusals) <= {"date_overlap"}
    per_inspector = Counter(Enrollment.objects.values_list("inspector_id", flat=True))
    assert per_inspector == dict.fromkeys((p.pk for p in people), 1)


def test_two_reminder_runs_at_once_send_each_reminder_once(regions, province_admin, mailoutbox):
    # given: 30 enrolled inspectors with an address, batch starting in two days
    batch = BatchFactory(region=regions["province"], starts_on=TODAY + dt.timedelta(days=2), capacity=30)
    for n in range(30):
        user = UserFactory(username=f"r{n}", email=f"r{n}@example.gov.cn")
        services.enrollment_create(
            batch=batch,
            inspector=InspectorFactory(region=regions["changan"], user=user),
            actor=province_admin,
            today=batch.enrollment_deadline,
        )
    # when
    results = run_all([lambda: services.batch_reminders_send(today=TODAY) for _ in range(4)], workers=4)
    # then
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.sent for r in results) == 30
    assert sum(r.failed for r in results) == 0
    assert sorted(m.to[0] for m in mailoutbox) == sorted(f"r{n}@example.gov.cn" for n in range(30))
