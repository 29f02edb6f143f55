"""The exam figures (``exams.figures``): each inspector and exam counts once in a scope, by
their latest attempt; an absence is not an attempt. Rows written directly (factories), so the
cases the services never produce (a failed attempt after a pass) are covered too."""

import datetime as dt

from exams import figures
from exams.models import Result
from tests.exams.factories import ExamFactory, ResultFactory, SittingFactory
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory


def counts(results=None, group=("exam_id",)):
    return figures.candidate_counts(results if results is not None else Result.objects.all(), group)


def test_each_inspector_and_exam_counts_once_by_the_latest_attempt(regions):
    # given: one exam, three sittings in a year
    exam = ExamFactory()
    spring, summer, autumn = (SittingFactory(exam=exam, held_on=dt.date(2025, m, 10)) for m in (3, 6, 9))
    passed_then_failed, failed_then_passed, absent_then_failed, failed_then_absent, always_absent = (
        InspectorFactory(region=regions["changan"]) for _ in range(5)
    )
    ResultFactory(sitting=spring, inspector=passed_then_failed, score=80, attempt=1)
    ResultFactory(sitting=summer, inspector=passed_then_failed, score=40, attempt=2)
    ResultFactory(sitting=spring, inspector=failed_then_passed, score=40, attempt=1)
    ResultFactory(sitting=autumn, inspector=failed_then_passed, score=70, attempt=2)
    ResultFactory(sitting=spring, inspector=absent_then_failed, absent=True)
    ResultFactory(sitting=summer, inspector=absent_then_failed, score=30, attempt=1)
    ResultFactory(sitting=spring, inspector=failed_then_absent, score=50, attempt=1)
    ResultFactory(sitting=summer, inspector=failed_then_absent, absent=True)
    ResultFactory(sitting=summer, inspector=always_absent, absent=True)
    ResultFactory(sitting=autumn, inspector=always_absent, absent=True)

    # when
    got = counts()[(exam.pk,)]

    # then: five candidates, four sat (an absence after a score leaves the score standing),
    # one never sat; only the one whose latest attempt passed has passed
    assert got == {"sat": 4, "absent": 1, "passed": 1}
    assert figures.pass_rate(got["passed"], got["sat"]) == 0.25


def test_two_exams_count_twice_and_a_batch_counts_its_own_sittings(regions):
    # given: a batch with two sittings of its course exam (the second a resit), and a
    # qualification exam the same inspector also sat
    batch = BatchFactory(starts_on=dt.date(2025, 12, 29))
    course_exam, qualification = ExamFactory(), ExamFactory()
    first = SittingFactory(exam=course_exam, batch=batch, held_on=dt.date(2025, 12, 31))
    resit = SittingFactory(exam=course_exam, batch=batch, held_on=dt.date(2026, 1, 15))
    person = InspectorFactory(region=regions["changan"])
    ResultFactory(sitting=first, inspector=person, score=40, attempt=1)
    ResultFactory(sitting=resit, inspector=person, score=75, attempt=2)
    ResultFactory(sitting=SittingFactory(exam=qualification, held_on=dt.date(2025, 5, 1)), inspector=person)

    # when
    per_batch = counts(Result.objects.filter(sitting__batch__isnull=False), ("sitting__batch_id",))
    in_2025 = counts(Result.objects.filter(figures.sitting_in_year(2025, "sitting__")), ("inspector_id",))
    in_2026 = counts(Result.objects.filter(figures.sitting_in_year(2026, "sitting__")), ("inspector_id",))

    # then: the batch has one candidate, who passed at the resit; the year of the batch (2025)
    # holds both of its sittings (the resit held in January too) and the qualification exam
    assert per_batch == {(batch.pk,): {"sat": 1, "absent": 0, "passed": 1}}
    assert in_2025 == {(person.pk,): {"sat": 2, "absent": 0, "passed": 2}}
    assert in_2026 == {}


def test_no_one_sat_no_pass_rate():
    assert figures.pass_rate(0, 0) is None
