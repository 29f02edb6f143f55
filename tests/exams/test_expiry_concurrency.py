"""The nightly expiry run, started more than once at the same moment on PostgreSQL (a beat
task delivered twice, or a manual run during the scheduled one): every certificate past its
date is changed once, with one 'expired' event, and the runs' counts add up.

Runs only with a PostgreSQL DATABASE_URL (fails instead of skipping under REQUIRE_SERVICES=1).
"""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection

from exams import numbers, services
from exams.models import Certificate, CertificateEvent, CertificateStatus
from personnel.models import Sector
from tests.factories import InspectorFactory, national_id_for

pytestmark = [pytest.mark.services("db"), pytest.mark.django_db(transaction=True)]

S = CertificateStatus
TODAY = dt.date(2025, 11, 1)
COUNT = 200


def past_due(region, count=COUNT, *, start=0):
    """``count`` certificates past their date, every third suspended, plus one still in date
    (written directly: the state the night starts from)."""
    people = [
        InspectorFactory(
            name=f"到期{start + i}",
            national_id=national_id_for(region.code, seq=start + i, birth=f"198{start // 1000}0101"),
            region=region,
            sector=Sector.COAL,
        )
        for i in range(count + 1)
    ]
    certificates = [
        Certificate(
            number=numbers.make(province_prefix="13", year=2020, serial=start + i + 1),
            holder=person,
            region=region,
            issued_on=dt.date(2020, 1, 1) + dt.timedelta(days=i % 300),
            valid_until=dt.date(2025, 1, 1) + dt.timedelta(days=i % 300),
            status=S.SUSPENDED if i % 3 == 0 else S.VALID,
        )
        for i, person in enumerate(people[:count])
    ]
    in_date = Certificate(
        number=numbers.make(province_prefix="13", year=2021, serial=start + 1),
        holder=people[-1],
        region=region,
        issued_on=dt.date(2021, 1, 1),
        valid_until=dt.date(2026, 1, 1),
    )
    Certificate.objects.bulk_create([*certificates, in_date])
    return Certificate.objects.exclude(number=in_date.number), Certificate.objects.get(number=in_date.number)


def run_together(workers: int) -> list:
    """Start ``workers`` expiry runs at the same moment, each on its own connection."""
    barrier = threading.Barrier(workers)
    results = [None] * workers

    def run(index):
        try:
            barrier.wait(timeout=30)
            results[index] = services.certificates_expire(today=TODAY)
        except Exception as exc:  # collected, and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("workers", [2, 8])
def test_concurrent_expiry_runs_change_each_certificate_once(regions, workers):
    # given
    due, in_date = past_due(regions["changan"])
    was = dict(due.values_list("pk", "status"))
    assert len(was) == COUNT
    # when
    results = run_together(workers)
    # then: no run failed, and together they changed every certificate exactly once
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(results) == COUNT
    assert set(due.values_list("status", flat=True)) == {S.EXPIRED}
    in_date.refresh_from_db()
    assert in_date.status == S.VALID
    expired = CertificateEvent.objects.filter(kind=CertificateEvent.Kind.EXPIRED)
    per_certificate = Counter(expired.values_list("certificate_id", flat=True))
    assert per_certificate == dict.fromkeys(was, 1)
    assert sorted(expired.values_list("certificate_id", "from_status")) == sorted(was.items())
    assert set(expired.values_list("to_status", flat=True)) == {S.EXPIRED}
    # and a later run finds nothing left to do
    assert services.certificates_expire(today=TODAY) == 0
    assert expired.count() == COUNT


def test_repeated_rounds_of_concurrent_runs_never_double_an_event(regions):
    # given / when: five nights, each with fresh certificates and four runs at once
    for night in range(5):
        past_due(regions["changan"], count=60, start=1000 * (night + 1))
        results = run_together(4)
        # then
        assert [r for r in results if isinstance(r, Exception)] == []
        assert sum(results) == 60
    counts = Counter(
        CertificateEvent.objects.filter(kind=CertificateEvent.Kind.EXPIRED).values_list("certificate_id", flat=True)
    )
    assert len(counts) == 5 * 60
    assert set(counts.values()) == {1}
