"""Scores in bulk: a save of N rows (the grid and the API through ``scores_save``, the file
import, the service itself) costs the same number of SQL statements for 1 row as for 500 -
new results, corrections of existing ones, retakes that renumber earlier attempts, and
passes that issue certificates - and writes the same rows, history and numbers as before.

On SQLite, Django 5.2 splits a bulk insert or update into batches of 999 parameters (the
library's default before 3.32); the SQLite here allows many more, and the fixture below gives
Django the library's real limit (as Django 6.0 reads it), so the count shows the code's shape,
not Django's batching. PostgreSQL has no such batching.
"""

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exams import numbers, services
from exams.imports import Entry, scores_import, scores_save
from exams.models import Certificate, CertificateEvent, ExamKind, Result, ResultChange, SittingStatus
from personnel import access
from personnel.models import Inspector, Sector
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, national_id_for
from tests.personnel.test_roster_import import xlsx

MANY = 500
JUNE = dt.date(2025, 6, 20)


@pytest.fixture(autouse=True)
def _sqlite_real_variable_limit(db, monkeypatch):
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        monkeypatch.setattr(connection.features, "max_query_params", limit)


_made = iter(range(100_000))


def candidates(region, n: int) -> list[Inspector]:
    """``n`` active inspectors of ``region`` (written in one go: the state a test starts from)."""
    made = []
    for _ in range(n):
        i = next(_made)
        made.append(
            InspectorFactory.build(
                name=f"考生{i}",
                national_id=national_id_for(region.code, seq=i % 1000, birth=f"19{60 + i // 1000:02d}0101"),
                region=region,
                sector=Sector.COAL,
            )
        )
    for person in made:
        person.derive_from_national_id()
    Inspector.objects.bulk_create(made)
    return list(Inspector.objects.filter(pk__in=[p.pk for p in made]).select_related("region").order_by("pk"))


def entries(exam, people, general="30", special="40") -> list[Entry]:
    parts = parts_of(exam)
    keys = (str(parts[GENERAL].pk), str(parts[SPECIALIST].pk))
    return [Entry(inspector=p, scores={keys[0]: general, keys[1]: special}, absent=False, label=p.name) for p in people]


def statements(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        out = call()
    return len(captured.captured_queries), out


def grid_save(sitting, actor, items):
    outcome = scores_save(sitting=sitting, actor=actor, entries=items, source="grid")
    assert outcome.ok, outcome.errors
    return outcome


# --- one world per path, for n rows -----------------------------------------------------------


def new_results(regions, actor, n):
    exam = ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], n)
    count, outcome = statements(lambda: grid_save(sitting, actor, entries(exam, people)))
    assert outcome.created == n
    assert Result.objects.filter(sitting=sitting, attempt=1, score=Decimal("70.0"), passed=True).count() == n
    assert ResultChange.objects.filter(result__sitting=sitting, old_score=None, new_score=Decimal("70.0")).count() == n
    return count


def corrections(regions, actor, n):
    exam = ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], n)
    grid_save(sitting, actor, entries(exam, people, "10", "20"))
    count, outcome = statements(lambda: grid_save(sitting, actor, entries(exam, people, "30", "40")))
    assert (outcome.created, outcome.updated) == (0, n)
    changes = ResultChange.objects.filter(result__sitting=sitting, old_score=Decimal("30.0"), new_score=Decimal("70.0"))
    assert changes.count() == n
    assert Result.objects.filter(sitting=sitting, passed=True, attempt=1).count() == n
    return count


def retakes_before_a_later_sitting(regions, actor, n):
    """Each candidate already failed a later sitting; the earlier one is entered afterwards, so
    every later attempt moves from 1 to 2."""
    exam = ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL)
    later = SittingFactory(exam=exam, held_on=JUNE)
    earlier = SittingFactory(exam=exam, held_on=JUNE - dt.timedelta(days=60))
    people = candidates(regions["changan"], n)
    grid_save(later, actor, entries(exam, people, "10", "10"))
    count, outcome = statements(lambda: grid_save(earlier, actor, entries(exam, people, "10", "20")))
    assert outcome.created == n
    assert Result.objects.filter(sitting=earlier, attempt=1).count() == n
    assert Result.objects.filter(sitting=later, attempt=2).count() == n
    return count


def certificates_issued(regions, actor, n):
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], n)
    count, outcome = statements(lambda: grid_save(sitting, actor, entries(exam, people)))
    assert outcome.certificates == n
    issued = Certificate.objects.filter(source_result__sitting=sitting)
    assert issued.count() == n
    assert CertificateEvent.objects.filter(certificate__in=issued, kind=CertificateEvent.Kind.ISSUED).count() == n
    assert all(numbers.is_valid(number) for number in issued.values_list("number", flat=True))
    return count


def file_import(regions, actor, n):
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], n)
    data = xlsx([[p.national_id, p.name, 30, 40] for p in people], header=["身份证号", "姓名", GENERAL, SPECIALIST])
    count, result = statements(lambda: scores_import(sitting=sitting, actor=actor, data=data, filename="成绩.xlsx"))
    assert result.ok, result.errors[:3]
    assert (result.created, result.certificates) == (n, n)
    return count


def service_itself(regions, actor, n):
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], n)
    parts = parts_of(exam)
    rows = [
        {"inspector": p, "scores": {str(parts[GENERAL].pk): Decimal("30"), str(parts[SPECIALIST].pk): Decimal("40")}}
        for p in people
    ]
    count, results = statements(
        lambda: services.results_record_many(sitting=sitting, actor=actor, rows=rows, source="grid")
    )
    assert len(results) == n and all(r.pk for r in results)
    sitting.refresh_from_db()
    assert sitting.status == SittingStatus.GRADING
    return count


PATHS = [new_results, corrections, retakes_before_a_later_sitting, certificates_issued, file_import, service_itself]


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_a_save_costs_the_same_statements_for_one_row_and_for_five_hundred(regions, province_admin, path):
    # given: the admin's scope is read once per request, as in a real one
    access.scope_for(province_admin)
    # when
    one = path(regions, province_admin, 1)
    many = path(regions, province_admin, MANY)
    # then
    assert one == many, f"{path.__name__}: {one} statements for 1 row, {many} for {MANY}"


def test_bulk_certificate_numbers_run_on_without_gaps_after_single_issues(regions, province_admin):
    # given: two certificates issued one by one this year
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    alone = candidates(regions["changan"], 2)
    for person in alone:
        services.certificate_issue(holder=person, region=regions["province"], actor=None, issued_on=JUNE)
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], 30)
    # when
    grid_save(sitting, province_admin, entries(exam, people))
    # then: the serials are 1..32, each once, the bulk ones in the order of the rows
    serials = sorted(numbers.serial_of(n) for n in Certificate.objects.values_list("number", flat=True))
    assert serials == list(range(1, 33))
    by_holder = dict(Certificate.objects.values_list("holder_id", "number"))
    assert [numbers.serial_of(by_holder[p.pk]) for p in people] == list(range(3, 33))


def test_a_pass_while_holding_or_on_leave_issues_nothing_in_bulk(regions, province_admin):
    # given: one candidate holds a certificate, one is on leave, one is free to be certified
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION)
    holding, on_leave, free = candidates(regions["changan"], 3)
    services.certificate_issue(holder=holding, region=regions["province"], actor=None, issued_on=JUNE)
    Inspector.objects.filter(pk=on_leave.pk).update(status="on_leave")
    on_leave.refresh_from_db()
    sitting = SittingFactory(exam=exam)
    # when
    outcome = grid_save(sitting, province_admin, entries(exam, [holding, on_leave, free]))
    # then
    assert outcome.certificates == 1
    assert Certificate.objects.get(source_result__sitting=sitting).holder == free
    assert Result.objects.filter(sitting=sitting, passed=True).count() == 3


def test_every_refused_row_is_named_by_the_service_and_nothing_is_written(regions, province_admin):
    # given: one attempt allowed; the second and third candidates have used it elsewhere
    exam = ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL, max_attempts=1)
    first = SittingFactory(exam=exam, held_on=JUNE - dt.timedelta(days=30))
    sitting = SittingFactory(exam=exam)
    people = candidates(regions["changan"], 3)
    grid_save(first, province_admin, entries(exam, people[1:], "10", "10"))
    parts = parts_of(exam)
    rows = [
        {"inspector": p, "scores": {str(parts[GENERAL].pk): Decimal("30"), str(parts[SPECIALIST].pk): Decimal("40")}}
        for p in people
    ]
    # when
    with pytest.raises(services.Conflict) as caught:
        services.results_record_many(sitting=sitting, actor=province_admin, rows=rows)
    # then
    assert caught.value.code == "attempts_exhausted"
    assert set(caught.value.fields["rows"]) == {"1", "2"}
    assert not Result.objects.filter(sitting=sitting).exists()
