"""The batch lock of an enrollment (issue 13): every enrollment of a batch queues on it, so
``enrollment_create`` does all it can before taking it and holds it for two statements on
PostgreSQL: the narrow lock itself, and one write that counts the seats, inserts the
enrollment at its place and writes its event. The checks made before the lock are made again
when the batch changed after the caller read it.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import Conflict
from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training import services
from training.models import Batch, BatchStatus, EnrollmentEvent, EnrollmentStatus

S = EnrollmentStatus
TODAY = dt.date(2025, 6, 1)  # BatchFactory's batches take enrollments until 2025-06-05


def enroll(batch, inspector, actor):
    return services.enrollment_create(batch=batch, inspector=inspector, actor=actor, today=TODAY)


def locked_section(monkeypatch, call) -> tuple[list[str], list[str]]:
    """The statements ``call`` sends before the batch lock and from it on (the lock included),
    without the savepoints the test's own transaction turns the service's into (it commits)."""
    marks = []
    real = services._lock_batch_fields

    def spy(*args):
        marks.append(len(queries.captured_queries))
        return real(*args)

    monkeypatch.setattr(services, "_lock_batch_fields", spy)
    with CaptureQueriesContext(connection) as queries:
        call()
    assert len(marks) == 1
    sql = [q["sql"] for q in queries.captured_queries]
    before, locked = sql[: marks[0]], sql[marks[0] :]
    return [s for s in before if "SAVEPOINT" not in s], [s for s in locked if "SAVEPOINT" not in s]


@pytest.fixture
def batch(regions):
    return BatchFactory(region=regions["province"], capacity=1)


@pytest.fixture
def people(regions):
    return [InspectorFactory(region=regions["changan"]) for _ in range(4)]


@pytest.mark.services("db")
def test_the_batch_lock_is_held_for_two_statements_on_postgresql(batch, people, province_admin, monkeypatch):
    # given: the seat taken by the first; the second gets the first waitlist place; the
    # third was enrolled and cancelled (coming back reuses the row)
    enroll(batch, people[0], province_admin)
    services.enrollment_cancel(enrollment=enroll(batch, people[2], province_admin), actor=province_admin)
    for person in people[1:]:
        # when
        before, locked = locked_section(monkeypatch, lambda p=person: enroll(batch, p, province_admin))
        # then: the lock, one row of the batch, no join, no ordering (the overlap check a
        # subquery of it); then the one write
        assert len(locked) == 2, locked
        lock, write = locked
        assert lock.rstrip().endswith("FOR NO KEY UPDATE")
        overlap_check, locked_rows = lock.rsplit(") FROM ", 1)
        assert locked_rows.startswith('"training_batch" t WHERE')
        assert "JOIN" not in locked_rows and "ORDER BY" not in lock
        assert '"training_enrollment"' in overlap_check
        assert write.startswith("WITH seats AS") and write.count("INSERT INTO") == 2
        # the inspector is locked before the batch, alone
        assert len(before) == 1 and "FOR NO KEY UPDATE" in before[0] and '"personnel_inspector"' in before[0]
    assert dict(batch.enrollments.values_list("inspector_id", "waitlist_position")) == {
        people[0].pk: None,
        people[1].pk: 1,
        people[2].pk: 2,
        people[3].pk: 3,
    }
    assert EnrollmentEvent.objects.filter(enrollment__batch=batch).count() == 6


def test_the_locked_section_does_not_grow_with_the_waitlist(regions, province_admin, monkeypatch):
    def locked_statements(waiting: int) -> list[str]:
        batch = BatchFactory(region=regions["province"], capacity=1)
        for _ in range(waiting + 1):
            enroll(batch, InspectorFactory(region=regions["changan"]), province_admin)
        newcomer = InspectorFactory(region=regions["changan"])
        _before, locked = locked_section(monkeypatch, lambda: enroll(batch, newcomer, province_admin))
        assert batch.enrollments.get(inspector=newcomer).waitlist_position == waiting + 1
        return locked

    short, long = locked_statements(2), locked_statements(25)
    assert len(short) == len(long)
    # PostgreSQL: the lock and the write; SQLite (no row locks, no writes inside WITH): the
    # read that stands for the lock, the write, the event, the waitlist's length.
    assert len(long) == (2 if connection.vendor == "postgresql" else 4)


def test_a_batch_closed_after_the_caller_read_it_is_refused(batch, people, province_admin):
    # given: the caller's batch says open; the database says closed
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.CLOSED)
    assert batch.status == BatchStatus.OPEN
    # when
    with pytest.raises(Conflict) as refused:
        enroll(batch, people[0], province_admin)
    # then
    assert refused.value.code == "batch_not_open"
    assert not batch.enrollments.exists()


def test_capacity_lowered_after_the_caller_read_it_counts(batch, people, province_admin):
    # given: the caller read two seats; there is one
    batch.capacity = 2
    first = enroll(batch, people[0], province_admin)
    # when
    second = enroll(batch, people[1], province_admin)
    # then
    assert (first.status, second.status, second.waitlist_position) == (S.ENROLLED, S.WAITLISTED, 1)


def test_a_batch_whose_sector_changed_after_the_caller_read_it_is_checked_again(batch, people, province_admin):
    # given: the caller read a batch for every sector; it is now for coal only
    Batch.objects.filter(pk=batch.pk).update(sector=Sector.COAL)
    people[0].sector = Sector.HAZARDOUS_CHEMICALS
    people[0].save()
    # when
    with pytest.raises(Conflict) as refused:
        enroll(batch, people[0], province_admin)
    # then
    assert refused.value.code == "sector_mismatch"


def test_the_overlap_check_reads_the_dates_under_the_lock(batch, people, province_admin):
    # given: the inspector holds a seat in a batch of 06-20..22; the caller read this batch
    # on 06-10..12, and it has since been moved onto 06-21..23
    other = BatchFactory(region=batch.region, starts_on=dt.date(2025, 6, 20))
    EnrollmentFactory(batch=other, inspector=people[0])
    Batch.objects.filter(pk=batch.pk).update(starts_on=dt.date(2025, 6, 21), ends_on=dt.date(2025, 6, 23))
    # when
    with pytest.raises(Conflict) as refused:
        enroll(batch, people[0], province_admin)
    # then: refused against the dates the batch has, naming the other batch
    assert refused.value.code == "date_overlap"
    assert "2025-06-20" in str(refused.value)
    assert not batch.enrollments.exists()
    # and a batch moved off the dates the caller read takes the inspector
    later = BatchFactory(region=batch.region, starts_on=dt.date(2025, 6, 20))
    Batch.objects.filter(pk=later.pk).update(starts_on=dt.date(2025, 6, 24), ends_on=dt.date(2025, 6, 26))
    assert enroll(later, people[0], province_admin).status == S.ENROLLED


def test_an_enrolled_row_made_meanwhile_is_not_taken_over(batch, people, province_admin, monkeypatch):
    # given: the checks ran when the inspector's row was cancelled; by the write it is enrolled
    # again (a write that does not go through the inspector's lock, as a test's "given")
    cancelled = EnrollmentFactory(batch=batch, inspector=people[0], status=S.CANCELLED)
    real = services._lock_batch_fields

    def meanwhile(*args):
        type(cancelled).objects.filter(pk=cancelled.pk).update(status=S.ENROLLED)
        return real(*args)

    monkeypatch.setattr(services, "_lock_batch_fields", meanwhile)
    # when
    with pytest.raises(Conflict) as refused:
        enroll(batch, people[0], province_admin)
    # then: refused, nothing written (the change made meanwhile went with the transaction)
    assert refused.value.code == "already_enrolled"
    assert batch.enrollments.count() == 1
    assert not EnrollmentEvent.objects.filter(enrollment__batch=batch).exists()
