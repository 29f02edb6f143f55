"""Certificate numbers under concurrency on PostgreSQL: score saves of several sittings at once
(each issuing certificates in bulk) and single issues at the same moment share one number
series per province and year; every number is used once and the serials have no gap.

Runs only with a PostgreSQL DATABASE_URL (fails instead of skipping under REQUIRE_SERVICES=1).
"""

import datetime as dt
import threading

import pytest
from django.db import connection

from exams import numbers, services
from exams.imports import Entry, scores_save
from exams.models import Certificate, CertificateEvent, ExamKind
from personnel.models import Inspector, Sector
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, national_id_for

pytestmark = [pytest.mark.services("db"), pytest.mark.django_db(transaction=True)]

JUNE = dt.date(2025, 6, 20)


def people(region, n: int, start: int) -> list[Inspector]:
    made = [
        InspectorFactory.build(
            name=f"并发{start + i}",
            national_id=national_id_for(region.code, seq=(start + i) % 1000, birth=f"{1950 + (start + i) // 1000}0101"),
            region=region,
            sector=Sector.COAL,
        )
        for i in range(n)
    ]
    for person in made:
        person.derive_from_national_id()
    return Inspector.objects.bulk_create(made)


def together(calls) -> list:
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index):
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:  # collected, and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("rounds", [3])
def test_bulk_saves_and_single_issues_at_once_number_every_certificate_once_without_gaps(
    regions, province_admin, rounds
):
    province = regions["province"]
    total = 0
    for night in range(rounds):
        # given: four sittings of the qualification exam, 40 passing candidates each, and
        # four people certified one by one at the same moment
        exam = ExamFactory(region=province, kind=ExamKind.QUALIFICATION)
        parts = parts_of(exam)
        keys = (str(parts[GENERAL].pk), str(parts[SPECIALIST].pk))
        saves = []
        for s in range(4):
            sitting = SittingFactory(exam=exam, held_on=JUNE)
            candidates = people(regions["changan"], 40, start=5_000 * night + 100 * s)
            items = [
                Entry(inspector=p, scores={keys[0]: "30", keys[1]: "40"}, absent=False, label=p.name)
                for p in candidates
            ]
            saves.append(
                lambda sitting=sitting, items=items: scores_save(sitting=sitting, actor=province_admin, entries=items)
            )
        singles = [
            lambda person=person: services.certificate_issue(holder=person, region=province, actor=None, issued_on=JUNE)
            for person in people(regions["changan"], 4, start=5_000 * night + 900)
        ]
        # when
        results = together(saves + singles)
        # then: nothing failed, and the series has no duplicate and no gap
        assert [r for r in results if isinstance(r, Exception)] == []
        assert all(r.ok and r.certificates == 40 for r in results[:4])
        total += 4 * 40 + 4
        found = list(Certificate.objects.values_list("number", flat=True))
        assert len(found) == len(set(found)) == total
        assert all(numbers.is_valid(n) for n in found)
        assert sorted(numbers.serial_of(n) for n in found) == list(range(1, total + 1))
    assert CertificateEvent.objects.filter(kind=CertificateEvent.Kind.ISSUED).count() == total
