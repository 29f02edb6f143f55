"""Exams and results through the services: creating an exam, recording scores per part,
the pass mark in force, absences, attempts across sittings, retakes, corrections with
their history, the bulk path, candidates of a batch sitting and closed sittings.

Certificates issued by a pass are in test_certificates.py.
"""

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import AccessDenied, Conflict, ValidationFailed
from exams import services
from exams.models import Certificate, Exam, ExamEvent, ExamKind, Result, ResultChange, SittingStatus
from personnel.models import Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import EnrollmentStatus

GENERAL, SPECIAL = "通用法律知识", "专门法律知识"
MARCH, JUNE, SEPTEMBER, DECEMBER = (dt.date(2025, m, 15) for m in (3, 6, 9, 12))


def make_exam(actor, region, *, kind=ExamKind.COURSE, title="结业考试", parts=((GENERAL, 40), (SPECIAL, 60)), **extra):
    return services.exam_create(
        actor=actor, title=title, kind=kind, region=region, parts=[(n, Decimal(m)) for n, m in parts], **extra
    )


def make_sitting(actor, exam, held_on, batch=None):
    return services.sitting_create(actor=actor, exam=exam, held_on=held_on, place="省应急管理厅考点", batch=batch)


def scores(exam, general, special):
    """Scores keyed by part id, as the grid and the API send them."""
    ids = {p.name: str(p.pk) for p in exam.parts.all()}
    return {ids[GENERAL]: general, ids[SPECIAL]: special}


def record(sitting, inspector, actor, general=None, special=None, *, absent=False):
    given = None if absent else scores(sitting.exam, general, special)
    return services.result_record(sitting=sitting, inspector=inspector, actor=actor, scores=given, absent=absent)


def history(result):
    return list(
        ResultChange.objects.filter(result=result)
        .order_by("id")
        .values_list("old_score", "new_score", "old_absent", "new_absent", "source", "actor__username")
    )


@pytest.fixture
def exam(regions, province_admin):
    """A province course exam: 通用法律知识 40 + 专门法律知识 60, pass 60, three attempts."""
    return make_exam(province_admin, regions["province"])


@pytest.fixture
def inspector(regions):
    return InspectorFactory(region=regions["changan"], name="李四")


# --- exam_create -----------------------------------------------------------------------------


def test_exam_create_keeps_the_parts_in_order_and_sums_the_maximum(regions, province_admin):
    # when
    exam = make_exam(province_admin, regions["province"], kind=ExamKind.QUALIFICATION, title="执法资格考试")
    # then
    assert [(p.name, p.max_score, p.order) for p in exam.parts.all()] == [
        (GENERAL, Decimal("40"), 0),
        (SPECIAL, Decimal("60"), 1),
    ]
    assert exam.max_score == Decimal("100")
    assert exam.pass_mark == Decimal("60")
    assert exam.max_attempts == 3


def test_exam_create_refuses_an_exam_without_parts(regions, province_admin):
    # when
    with pytest.raises(ValidationFailed) as caught:
        make_exam(province_admin, regions["province"], parts=())
    # then
    assert "parts" in caught.value.fields
    assert not Exam.objects.exists()


def test_exam_create_refuses_duplicate_part_names(regions, province_admin):
    # when
    with pytest.raises(ValidationFailed) as caught:
        make_exam(province_admin, regions["province"], parts=((GENERAL, 50), (GENERAL, 50)))
    # then
    assert "parts" in caught.value.fields
    assert not Exam.objects.exists()


def test_exam_create_refuses_a_pass_mark_above_the_total(regions, province_admin):
    # when
    with pytest.raises(ValidationFailed) as caught:
        make_exam(province_admin, regions["province"], parts=((GENERAL, 40), (SPECIAL, 40)), pass_mark=Decimal("81"))
    # then
    assert "pass_mark" in caught.value.fields
    assert not Exam.objects.exists()


def test_exam_create_accepts_a_pass_mark_equal_to_the_total(regions, province_admin):
    # when
    exam = make_exam(province_admin, regions["province"], parts=((GENERAL, 40), (SPECIAL, 40)), pass_mark=80)
    # then
    assert exam.pass_mark == Decimal("80")


def test_a_city_admin_may_not_create_an_exam_of_the_province(regions, city_admin):
    # when
    with pytest.raises(AccessDenied):
        make_exam(city_admin, regions["province"])
    # then
    assert not Exam.objects.exists()


# --- result_record: scores, total, pass mark --------------------------------------------------


def test_result_record_keeps_scores_per_part_and_the_total(exam, inspector, province_admin):
    # given
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    result = record(sitting, inspector, province_admin, "35.5", "40")
    # then
    by_name = {p.name: str(p.pk) for p in exam.parts.all()}
    assert result.part_scores == {by_name[GENERAL]: "35.5", by_name[SPECIAL]: "40.0"}
    assert result.score == Decimal("75.5")
    assert result.passed is True
    assert result.pass_mark == Decimal("60")
    assert result.attempt == 1
    assert result.absent is False
    assert history(result) == [(None, Decimal("75.5"), None, False, "entry", "prov")]


def test_a_total_below_the_pass_mark_fails(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    result = record(sitting, inspector, province_admin, "20", "39.5")
    # then
    assert result.score == Decimal("59.5")
    assert result.passed is False


def test_a_total_equal_to_the_pass_mark_passes(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    result = record(sitting, inspector, province_admin, "20", "40")
    # then
    assert result.passed is True


def test_each_result_keeps_the_pass_mark_in_force_when_it_was_recorded(exam, regions, province_admin):
    # given: one candidate recorded at pass mark 60, then the mark is raised to 70
    first, second = InspectorFactory(region=regions["changan"]), InspectorFactory(region=regions["qiaoxi"])
    sitting = make_sitting(province_admin, exam, JUNE)
    before = record(sitting, first, province_admin, "30", "35")
    Exam.objects.filter(pk=exam.pk).update(pass_mark=Decimal("70"))
    # when: the same score for another candidate
    after = record(sitting, second, province_admin, "30", "35")
    # then
    before.refresh_from_db()
    assert (before.score, before.pass_mark, before.passed) == (Decimal("65"), Decimal("60"), True)
    assert (after.score, after.pass_mark, after.passed) == (Decimal("65"), Decimal("70"), False)


def test_full_width_digits_are_read_as_a_score(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    result = record(sitting, inspector, province_admin, "３５", "４０．５")
    # then
    assert result.score == Decimal("75.5")


@pytest.mark.parametrize(
    ("general", "special"),
    [("41", "40"), ("-1", "40"), ("abc", "40"), ("30", "60.5"), ("30.25", "40"), ("30", "NaN"), (True, "40")],
)
def test_a_bad_score_is_refused_and_nothing_is_written(exam, inspector, province_admin, general, special):
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    with pytest.raises(ValidationFailed) as caught:
        record(sitting, inspector, province_admin, general, special)
    # then
    assert "scores" in caught.value.fields
    assert not Result.objects.exists()
    assert not ResultChange.objects.exists()


def test_a_missing_part_is_refused(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    general = str(exam.parts.get(name=GENERAL).pk)
    # when
    with pytest.raises(ValidationFailed):
        services.result_record(sitting=sitting, inspector=inspector, actor=province_admin, scores={general: "30"})
    # then
    assert not Result.objects.exists()


def test_a_part_of_another_exam_is_refused(exam, regions, inspector, province_admin):
    other = make_exam(province_admin, regions["province"], title="另一场考试")
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    with pytest.raises(ValidationFailed):
        services.result_record(
            sitting=sitting, inspector=inspector, actor=province_admin, scores=scores(other, "30", "40")
        )
    # then
    assert not Result.objects.exists()


def test_the_first_result_moves_a_scheduled_sitting_to_grading(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    assert sitting.status == SittingStatus.SCHEDULED
    # when
    record(sitting, inspector, province_admin, "30", "40")
    # then
    sitting.refresh_from_db()
    assert sitting.status == SittingStatus.GRADING


# --- absences and attempts ------------------------------------------------------------------


def test_absent_is_not_a_zero_and_uses_no_attempt(exam, inspector, province_admin):
    # given
    march, june = make_sitting(province_admin, exam, MARCH), make_sitting(province_admin, exam, JUNE)
    # when
    absent = record(march, inspector, province_admin, absent=True)
    sat = record(june, inspector, province_admin, "10", "20")
    # then
    absent.refresh_from_db()
    assert (absent.absent, absent.score, absent.passed, absent.attempt, absent.part_scores) == (
        True,
        None,
        None,
        None,
        {},
    )
    assert sat.attempt == 1
    assert history(absent) == [(None, None, None, True, "entry", "prov")]


def test_absences_do_not_count_towards_the_maximum_attempts(regions, inspector, province_admin):
    # given: two attempts allowed; absent twice, failed once
    exam = make_exam(province_admin, regions["province"], max_attempts=2)
    sittings = [make_sitting(province_admin, exam, day) for day in (MARCH, JUNE, SEPTEMBER, DECEMBER)]
    record(sittings[0], inspector, province_admin, absent=True)
    record(sittings[1], inspector, province_admin, "10", "10")
    record(sittings[2], inspector, province_admin, absent=True)
    # when
    last = record(sittings[3], inspector, province_admin, "30", "40")
    # then
    assert (last.attempt, last.passed) == (2, True)


def test_attempts_are_numbered_across_sittings_in_date_order(exam, inspector, province_admin):
    # given: the September sitting is graded before the March one
    september, march = make_sitting(province_admin, exam, SEPTEMBER), make_sitting(province_admin, exam, MARCH)
    june = make_sitting(province_admin, exam, JUNE)
    late = record(september, inspector, province_admin, "10", "10")
    # when
    early = record(march, inspector, province_admin, "10", "20")
    middle = record(june, inspector, province_admin, absent=True)
    # then
    attempts = dict(Result.objects.filter(inspector=inspector).values_list("sitting__held_on", "attempt"))
    assert attempts == {MARCH: 1, JUNE: None, SEPTEMBER: 2}
    assert early.attempt == 1
    assert middle.attempt is None
    late.refresh_from_db()
    assert late.attempt == 2


def test_attempts_of_another_exam_do_not_count(exam, regions, inspector, province_admin):
    other = make_exam(province_admin, regions["province"], title="另一场考试")
    record(make_sitting(province_admin, other, MARCH), inspector, province_admin, "10", "10")
    # when
    result = record(make_sitting(province_admin, exam, JUNE), inspector, province_admin, "10", "10")
    # then
    assert result.attempt == 1


def test_a_retake_is_refused_once_the_maximum_attempts_are_used(regions, inspector, province_admin):
    # given: two attempts allowed, both failed
    exam = make_exam(province_admin, regions["province"], max_attempts=2)
    march, june, september = (make_sitting(province_admin, exam, d) for d in (MARCH, JUNE, SEPTEMBER))
    record(march, inspector, province_admin, "10", "10")
    record(june, inspector, province_admin, "20", "20")
    # when
    with pytest.raises(Conflict) as caught:
        record(september, inspector, province_admin, "40", "60")
    # then
    assert caught.value.code == "attempts_exhausted"
    assert not Result.objects.filter(sitting=september).exists()


def test_an_absence_recorded_after_the_attempts_are_used_cannot_be_turned_into_a_score(
    regions, inspector, province_admin
):
    # given: two attempts allowed, both failed, then absent from a third sitting
    exam = make_exam(province_admin, regions["province"], max_attempts=2)
    march, june, september = (make_sitting(province_admin, exam, d) for d in (MARCH, JUNE, SEPTEMBER))
    record(march, inspector, province_admin, "10", "10")
    record(june, inspector, province_admin, "20", "20")
    record(september, inspector, province_admin, absent=True)
    # when: the absence is "corrected" into a score
    with pytest.raises(Conflict) as caught:
        record(september, inspector, province_admin, "40", "60")
    # then: a third scored attempt is still refused
    assert caught.value.code == "attempts_exhausted"
    assert Result.objects.get(sitting=september).absent is True


def test_a_retake_after_a_pass_is_refused(exam, inspector, province_admin):
    # given
    march, june = make_sitting(province_admin, exam, MARCH), make_sitting(province_admin, exam, JUNE)
    record(march, inspector, province_admin, "30", "40")
    # when
    with pytest.raises(Conflict) as caught:
        record(june, inspector, province_admin, "40", "60")
    # then
    assert caught.value.code == "already_passed"
    assert not Result.objects.filter(sitting=june).exists()


def test_an_absence_after_a_pass_cannot_be_turned_into_a_second_pass(exam, inspector, province_admin):
    # given
    march, june = make_sitting(province_admin, exam, MARCH), make_sitting(province_admin, exam, JUNE)
    record(march, inspector, province_admin, "30", "40")
    record(june, inspector, province_admin, absent=True)
    # when
    with pytest.raises(Conflict) as caught:
        record(june, inspector, province_admin, "40", "60")
    # then
    assert caught.value.code == "already_passed"


def test_failing_then_passing_on_a_retake(exam, inspector, province_admin):
    march, june = make_sitting(province_admin, exam, MARCH), make_sitting(province_admin, exam, JUNE)
    # when
    first = record(march, inspector, province_admin, "20", "30")
    second = record(june, inspector, province_admin, "30", "40")
    # then
    assert [(first.attempt, first.passed), (second.attempt, second.passed)] == [(1, False), (2, True)]


# --- corrections and history -----------------------------------------------------------------


def test_correcting_a_score_writes_a_history_row_with_old_new_and_actor(exam, inspector, province_admin, superuser):
    # given
    sitting = make_sitting(province_admin, exam, JUNE)
    record(sitting, inspector, province_admin, "20", "35")
    # when
    result = record(sitting, inspector, superuser, "25", "35")
    # then
    assert (result.score, result.passed, result.attempt) == (Decimal("60"), True, 1)
    assert history(result) == [
        (None, Decimal("55"), None, False, "entry", "prov"),
        (Decimal("55"), Decimal("60"), False, False, "entry", "root"),
    ]
    change = ResultChange.objects.filter(result=result).order_by("id").last()
    general = str(exam.parts.get(name=GENERAL).pk)
    assert change.old_parts[general] == "20.0"
    assert change.new_parts[general] == "25.0"
    assert change.at is not None


def test_recording_the_same_score_again_writes_no_history(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    first = record(sitting, inspector, province_admin, "20", "35")
    # when
    again = record(sitting, inspector, province_admin, "20.0", "35")
    # then
    assert again.pk == first.pk
    assert ResultChange.objects.filter(result=first).count() == 1


def test_correcting_a_score_to_absent_frees_the_attempt(exam, inspector, province_admin):
    # given
    march, june = make_sitting(province_admin, exam, MARCH), make_sitting(province_admin, exam, JUNE)
    wrong = record(march, inspector, province_admin, "10", "10")
    later = record(june, inspector, province_admin, "20", "20")
    assert later.attempt == 2
    # when
    record(march, inspector, province_admin, absent=True)
    # then
    later.refresh_from_db()
    wrong.refresh_from_db()
    assert (wrong.absent, wrong.attempt, wrong.score) == (True, None, None)
    assert later.attempt == 1
    assert history(wrong)[-1] == (Decimal("20"), None, False, True, "entry", "prov")


def test_a_result_that_issued_a_certificate_cannot_be_changed(regions, inspector, province_admin):
    # given: a pass of the qualification exam issued a certificate
    exam = make_exam(province_admin, regions["province"], kind=ExamKind.QUALIFICATION, title="执法资格考试")
    sitting = make_sitting(province_admin, exam, JUNE)
    result = record(sitting, inspector, province_admin, "30", "40")
    assert Certificate.objects.filter(source_result=result).exists()
    # when
    with pytest.raises(Conflict) as caught:
        record(sitting, inspector, province_admin, "10", "10")
    # then
    assert caught.value.code == "result_locked"
    result.refresh_from_db()
    assert result.score == Decimal("70")
    assert ResultChange.objects.filter(result=result).count() == 1


# --- who may record, candidates, closed sittings -------------------------------------------


def test_an_admin_of_another_city_may_not_record_scores(regions, inspector, city_admin, other_city_admin):
    # given: an exam organised by 石家庄
    exam = make_exam(city_admin, regions["sjz"])
    sitting = make_sitting(city_admin, exam, JUNE)
    # when
    with pytest.raises(AccessDenied):
        record(sitting, inspector, other_city_admin, "30", "40")
    # then
    assert not Result.objects.exists()


def test_a_batch_sitting_takes_only_the_batchs_completed_inspectors(regions, province_admin):
    # given: a course exam at the end of a batch with one completed, one no-show inspector
    batch = BatchFactory(region=regions["province"], sector=Sector.COAL)
    done = EnrollmentFactory(batch=batch, status=EnrollmentStatus.COMPLETED).inspector
    missed = EnrollmentFactory(batch=batch, status=EnrollmentStatus.NO_SHOW).inspector
    stranger = InspectorFactory(region=regions["changan"])
    exam = make_exam(province_admin, regions["province"], course=batch.course)
    sitting = make_sitting(province_admin, exam, batch.ends_on, batch=batch)
    # when
    result = record(sitting, done, province_admin, "30", "40")
    refused = []
    for outsider in (missed, stranger):
        with pytest.raises(ValidationFailed) as caught:
            record(sitting, outsider, province_admin, "30", "40")
        refused.append(caught.value.code)
    # then
    assert result.passed is True
    assert refused == ["not_a_candidate", "not_a_candidate"]
    assert list(services.sitting_candidates(sitting=sitting)) == [done]
    assert list(Result.objects.values_list("inspector_id", flat=True)) == [done.pk]


def test_a_sitting_for_a_batch_of_another_course_is_refused(regions, province_admin):
    batch = BatchFactory(region=regions["province"])
    other = BatchFactory(region=regions["province"])
    exam = make_exam(province_admin, regions["province"], course=batch.course)
    # when
    with pytest.raises(ValidationFailed):
        make_sitting(province_admin, exam, other.ends_on, batch=other)


@pytest.mark.parametrize("status", [SittingStatus.CLOSED, SittingStatus.CANCELLED])
def test_a_closed_or_cancelled_sitting_takes_no_scores(exam, inspector, province_admin, status):
    # given
    sitting = make_sitting(province_admin, exam, JUNE)
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=status)
    # when
    with pytest.raises(Conflict) as caught:
        record(sitting, inspector, province_admin, "30", "40")
    # then
    assert caught.value.code == "sitting_closed"
    assert not Result.objects.exists()


def test_a_closed_sitting_reopened_for_grading_takes_corrections(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    record(sitting, inspector, province_admin, "10", "40")
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.CLOSED)
    # when
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.GRADING)
    result = record(sitting, inspector, province_admin, "20", "40")
    # then
    assert result.passed is True


def test_a_sitting_with_results_cannot_be_cancelled(exam, inspector, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    record(sitting, inspector, province_admin, "10", "40")
    # when
    with pytest.raises(Conflict) as caught:
        services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.CANCELLED)
    # then
    assert caught.value.code == "has_results"


# --- results_record_many (the grid and the import) ------------------------------------------


def test_the_bulk_path_writes_one_history_row_per_changed_row(exam, regions, province_admin):
    # given: three candidates entered in the grid
    people = [InspectorFactory(region=regions["changan"], name=f"考生{i}") for i in range(3)]
    sitting = make_sitting(province_admin, exam, JUNE)

    def rows(first, second):
        return [
            {"inspector": people[0], "scores": scores(exam, *first)},
            {"inspector": people[1], "scores": scores(exam, *second)},
            {"inspector": people[2], "absent": True},
        ]

    services.results_record_many(sitting=sitting, actor=province_admin, rows=rows(("30", "40"), ("10", "10")))
    assert ResultChange.objects.filter(source="grid").count() == 3
    # when: the grid is saved again with one row changed
    services.results_record_many(sitting=sitting, actor=province_admin, rows=rows(("30", "40"), ("20", "45")))
    # then
    assert ResultChange.objects.count() == 4
    second = Result.objects.get(sitting=sitting, inspector=people[1])
    assert history(second) == [
        (None, Decimal("20"), None, False, "grid", "prov"),
        (Decimal("20"), Decimal("65"), False, False, "grid", "prov"),
    ]
    assert second.passed is True


def test_the_bulk_path_writes_all_rows_or_none(exam, regions, province_admin):
    # given: two attempts allowed and the second candidate has used them
    exam = make_exam(province_admin, regions["province"], max_attempts=1, title="一次机会")
    first, second = InspectorFactory(region=regions["changan"]), InspectorFactory(region=regions["changan"])
    record(make_sitting(province_admin, exam, MARCH), second, province_admin, "10", "10")
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    with pytest.raises(Conflict):
        services.results_record_many(
            sitting=sitting,
            actor=province_admin,
            rows=[
                {"inspector": first, "scores": scores(exam, "30", "40")},
                {"inspector": second, "scores": scores(exam, "30", "40")},
            ],
        )
    # then
    assert not Result.objects.filter(sitting=sitting).exists()
    assert ResultChange.objects.count() == 1


def test_the_bulk_path_issues_a_certificate_on_a_qualification_pass(regions, inspector, province_admin):
    exam = make_exam(province_admin, regions["province"], kind=ExamKind.QUALIFICATION, title="执法资格考试")
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    (result,) = services.results_record_many(
        sitting=sitting, actor=province_admin, rows=[{"inspector": inspector, "scores": scores(exam, "30", "40")}]
    )
    # then
    assert Certificate.objects.get(holder=inspector).source_result == result


# --- exams and sittings change through services, each with its event row ---------------------


def events(**where):
    return list(ExamEvent.objects.filter(**where).order_by("id").values_list("kind", "changes", "actor__username"))


def test_exam_create_and_sitting_create_write_their_events(exam, province_admin):
    # when
    sitting = make_sitting(province_admin, exam, JUNE)
    # then
    ((kind, changes, who),) = events(exam=exam, sitting=None)
    assert (kind, who) == (ExamEvent.Kind.EXAM_CREATED, "prov")
    assert changes["parts"] == [None, [[GENERAL, "40"], [SPECIAL, "60"]]]
    assert events(sitting=sitting) == [
        (
            ExamEvent.Kind.SITTING_CREATED,
            {"held_on": [None, "2025-06-15"], "place": [None, "省应急管理厅考点"], "batch": [None, None]},
            "prov",
        )
    ]


def test_exam_update_before_any_result_changes_the_paper_and_records_old_and_new(exam, province_admin):
    # when
    services.exam_update(
        exam=exam, actor=province_admin, parts=[(GENERAL, Decimal("30")), ("案例分析", Decimal("70"))], pass_mark=65
    )
    # then
    exam.refresh_from_db()
    assert [(p.name, p.max_score) for p in exam.parts.all()] == [(GENERAL, Decimal("30")), ("案例分析", Decimal("70"))]
    assert exam.pass_mark == Decimal("65")
    (_kind, changes, _who) = events(kind=ExamEvent.Kind.EXAM_CHANGED)[0]
    assert changes == {
        "pass_mark": ["60.0", 65],
        "parts": [[[GENERAL, "40.0"], [SPECIAL, "60.0"]], [[GENERAL, "30"], ["案例分析", "70"]]],
    }


def test_exam_update_without_a_change_writes_no_event(exam, province_admin):
    services.exam_update(exam=exam, actor=province_admin, title=exam.title, pass_mark=Decimal("60"))
    assert events(kind=ExamEvent.Kind.EXAM_CHANGED) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pass_mark": Decimal("50")}, "pass_mark"),
        ({"parts": [(GENERAL, Decimal("50")), (SPECIAL, Decimal("50"))]}, "parts"),
        ({"kind": ExamKind.ANNUAL}, "kind"),
    ],
)
def test_once_results_exist_the_paper_and_the_pass_mark_are_refused(exam, inspector, province_admin, change, field):
    # given
    record(make_sitting(province_admin, exam, JUNE), inspector, province_admin, "30", "40")
    # when
    with pytest.raises(Conflict) as caught:
        services.exam_update(exam=exam, actor=province_admin, **change)
    # then
    assert caught.value.code == "exam_has_results"
    assert field in caught.value.fields
    exam.refresh_from_db()
    assert (exam.pass_mark, exam.kind, exam.max_score) == (Decimal("60"), ExamKind.COURSE, Decimal("100"))
    assert events(kind=ExamEvent.Kind.EXAM_CHANGED) == []


def test_once_results_exist_the_title_and_attempts_may_still_change(exam, inspector, province_admin):
    record(make_sitting(province_admin, exam, JUNE), inspector, province_admin, "30", "40")
    # when
    services.exam_update(exam=exam, actor=province_admin, title="结业考试（补）", max_attempts=4)
    # then
    exam.refresh_from_db()
    assert (exam.title, exam.max_attempts) == ("结业考试（补）", 4)
    assert events(kind=ExamEvent.Kind.EXAM_CHANGED)[0][1] == {
        "title": ["结业考试", "结业考试（补）"],
        "max_attempts": [3, 4],
    }


def test_exam_update_checks_the_paper_rule(exam, province_admin):
    with pytest.raises(ValidationFailed) as caught:
        services.exam_update(exam=exam, actor=province_admin, pass_mark=Decimal("101"))
    assert "pass_mark" in caught.value.fields


def test_exam_update_by_an_admin_of_another_region_is_refused(regions, city_admin, other_city_admin):
    exam = make_exam(city_admin, regions["sjz"])
    with pytest.raises(AccessDenied):
        services.exam_update(exam=exam, actor=other_city_admin, title="改名")


def test_sitting_update_moves_the_date_until_results_exist(exam, inspector, province_admin):
    # given
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    services.sitting_update(sitting=sitting, actor=province_admin, held_on=SEPTEMBER, place="唐山考点")
    record(sitting, inspector, province_admin, "30", "40")
    with pytest.raises(Conflict) as caught:
        services.sitting_update(sitting=sitting, actor=province_admin, held_on=DECEMBER)
    # then
    assert caught.value.code == "sitting_has_results"
    sitting.refresh_from_db()
    assert (sitting.held_on, sitting.place) == (SEPTEMBER, "唐山考点")
    changed = events(sitting=sitting, kind=ExamEvent.Kind.SITTING_CHANGED)
    assert [c for _k, c, _w in changed] == [
        {"held_on": ["2025-06-15", "2025-09-15"], "place": ["省应急管理厅考点", "唐山考点"]}
    ]


def test_sitting_status_moves_write_events(exam, province_admin):
    sitting = make_sitting(province_admin, exam, JUNE)
    # when
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.GRADING)
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.CLOSED)
    # then
    assert [c["status"] for _k, c, _w in events(sitting=sitting, kind=ExamEvent.Kind.SITTING_STATUS)] == [
        ["scheduled", "grading"],
        ["grading", "closed"],
    ]
