"""Score import (.xlsx/.csv) for one sitting: every bad cell is reported by row and column
and nothing is written; a good file records results with their history; a dry run writes
nothing; a pass of the qualification exam issues a certificate."""

import datetime as dt
from decimal import Decimal

import pytest

from exams.imports import grid_read, scores_import
from exams.models import Certificate, ExamKind, Result, ResultChange, SittingStatus
from personnel.models import InspectorStatus
from tests.exams.factories import (
    GENERAL,
    SPECIALIST,
    CertificateFactory,
    ExamFactory,
    ResultFactory,
    SittingFactory,
    parts_of,
)
from tests.factories import InspectorFactory, national_id_for
from tests.personnel.test_roster_import import csv_bytes, xlsx
from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import EnrollmentStatus

HEADER = ["序号", "身份证号", "姓名", GENERAL, SPECIALIST, "缺考"]


@pytest.fixture
def sitting(regions):
    """The province's qualification exam (通用法律知识 40 + 专门法律知识 60, pass 60)."""
    return SittingFactory(exam=ExamFactory(region=regions["province"]))


@pytest.fixture
def people(regions):
    return {
        "li": InspectorFactory(region=regions["changan"], name="李四"),
        "wang": InspectorFactory(region=regions["qiaoxi"], name="王五"),
        "zhao": InspectorFactory(region=regions["lunan"], name="赵六"),
    }


def row(n, person, general, special, absent=""):
    return [n, person.national_id, person.name, general, special, absent]


def errors_of(result):
    return {(e.row, e.column, e.message) for e in result.errors}


def cells(result):
    return {(e.row, e.column) for e in result.errors}


def test_good_file_records_results_with_history_from_import(sitting, people, province_admin):
    # given
    data = xlsx([row(1, people["li"], 35, 50.5), row(2, people["wang"], None, None, "是")], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert result.ok, result.errors
    assert (result.total, result.created, result.updated, result.absent) == (2, 2, 0, 1)
    li = Result.objects.get(inspector=people["li"])
    assert (li.score, li.passed, li.attempt, li.absent) == (Decimal("85.5"), True, 1, False)
    wang = Result.objects.get(inspector=people["wang"])
    assert (wang.score, wang.absent, wang.attempt) == (None, True, None)
    history = ResultChange.objects.order_by("id").values_list("result__inspector__name", "source", "actor__username")
    assert list(history) == [("李四", "import", "prov"), ("王五", "import", "prov")]
    sitting.refresh_from_db()
    assert sitting.status == SittingStatus.GRADING


def test_a_pass_of_the_qualification_exam_issues_a_certificate(sitting, people, province_admin):
    # given
    data = xlsx([row(1, people["li"], 30, 40), row(2, people["wang"], 10, 20)], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert result.ok, result.errors
    assert result.certificates == 1
    certificate = Certificate.objects.get()
    assert certificate.holder == people["li"]
    assert certificate.source_result == Result.objects.get(inspector=people["li"])


def test_dry_run_checks_everything_and_writes_nothing(sitting, people, province_admin):
    # given
    data = xlsx([row(1, people["li"], 30, 40), row(2, people["wang"], None, None, "√")], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx", dry_run=True)
    # then
    assert result.ok and result.dry_run
    assert (result.created, result.absent, result.certificates) == (2, 1, 1)
    assert not Result.objects.exists()
    assert not ResultChange.objects.exists()
    assert not Certificate.objects.exists()


def test_every_bad_cell_is_reported_by_row_and_column_and_nothing_is_written(sitting, people, province_admin, regions):
    # given
    nobody = national_id_for("130102", 999)
    rows = [
        row(1, people["li"], 41, 50),  # row 2: above the maximum (40)
        row(2, people["wang"], -1, 50),  # row 3: negative
        row(3, people["zhao"], "八十", 50),  # row 4: not a number
        [4, nobody, "无名", 30, 40, ""],  # row 5: nobody has this ID number
        row(5, people["li"], 30, 40),  # row 6: the same person as row 2
        [6, "13010219850315001", "某人", 30, 40, ""],  # row 7: 17 characters
    ]
    extra = [
        InspectorFactory(region=regions["changan"], name=f"考生{i}") for i in range(5)
    ]  # rows 8-12, one problem each
    rows += [
        row(7, extra[0], 30.25, 40),  # row 8: two decimals
        row(8, extra[1], 30, None),  # row 9: specialist missing, not absent
        row(9, extra[2], 30, 40, "是"),  # row 10: scores given with 缺考
        row(10, extra[3], 30, 40, "也许"),  # row 11: 缺考 unreadable
        [11, extra[4].national_id, "别人", 30, 40, ""],  # row 12: name does not match
    ]
    data = xlsx(rows, header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert not result.ok
    assert cells(result) == {
        (2, "D 通用法律知识"),
        (3, "D 通用法律知识"),
        (4, "D 通用法律知识"),
        (5, "B 身份证号"),
        (6, "B 身份证号"),
        (7, "B 身份证号"),
        (8, "D 通用法律知识"),
        (9, "E 专门法律知识"),
        (10, "D 通用法律知识"),
        (10, "E 专门法律知识"),
        (11, "F 缺考"),
        (12, "C 姓名"),
    }
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "超过满分" in messages[(2, "D 通用法律知识")]
    assert "负数" in messages[(3, "D 通用法律知识")]
    assert "不是数字" in messages[(4, "D 通用法律知识")]
    assert "未找到" in messages[(5, "B 身份证号")]
    assert "第2行" in messages[(6, "B 身份证号")] and "重复" in messages[(6, "B 身份证号")]
    assert "18位" in messages[(7, "B 身份证号")]
    assert "一位小数" in messages[(8, "D 通用法律知识")]
    assert "缺少" in messages[(9, "E 专门法律知识")]
    assert "缺考" in messages[(10, "E 专门法律知识")]
    assert "无法识别" in messages[(11, "F 缺考")]
    assert "不一致" in messages[(12, "C 姓名")]
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors)
    assert not Result.objects.exists()
    assert not ResultChange.objects.exists()


def test_wrong_headers_are_reported_on_the_header_row(sitting, people, province_admin):
    # given: a title row above; an unknown column; the specialist column missing
    header = ["身份证号", "姓名", GENERAL, "实操"]
    data = xlsx([[people["li"].national_id, "李四", 30, 20]], header=header, title="2025年执法资格考试成绩")
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert cells(result) == {(2, "D 实操"), (2, SPECIALIST)}
    assert not Result.objects.exists()


def test_a_file_without_an_identifier_column_is_refused(sitting, province_admin):
    data = xlsx([["李四", 30, 40]], header=["姓名", GENERAL, SPECIALIST])
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    assert [(e.row, e.column) for e in result.errors] == [(1, "")]
    assert "未找到表头" in result.errors[0].message


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"%PDF-1.4 not a sheet", "成绩.pdf"), (b"PK\x03\x04broken zip", "成绩.xlsx")],
)
def test_not_a_spreadsheet_is_one_file_error(sitting, province_admin, data, filename):
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename=filename)
    assert [(e.row, e.column) for e in result.errors] == [(0, "")]
    assert not Result.objects.exists()


def test_csv_with_certificate_numbers_identifies_the_holders(sitting, people, province_admin):
    # given: 赵六 holds a certificate already, and is identified by its number
    certificate = CertificateFactory(holder=people["zhao"])
    header = ["证号", GENERAL, SPECIALIST]
    data = csv_bytes([[certificate.number, 20, 30]], header=header)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.csv")
    # then
    assert result.ok, result.errors
    assert Result.objects.get().inspector == people["zhao"]


def test_a_certificate_number_with_a_wrong_check_character_is_reported(sitting, people, province_admin):
    certificate = CertificateFactory(holder=people["zhao"])
    wrong = certificate.number[:-1] + ("0" if certificate.number[-1] != "0" else "1")
    data = xlsx([[wrong, 20, 30]], header=["证号", GENERAL, SPECIALIST])
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    assert cells(result) == {(2, "A 证号")}


def test_someone_outside_the_admins_region_is_an_unknown_candidate(regions, people, city_admin):
    # given: a qualification exam of 石家庄; 赵六 works in 唐山
    sitting = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    data = xlsx([row(1, people["li"], 30, 40), row(2, people["zhao"], 30, 40)], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=city_admin, data=data, filename="成绩.xlsx")
    # then
    assert cells(result) == {(3, "B 身份证号")}
    assert "未找到" in result.errors[0].message
    assert not Result.objects.exists()


def test_a_batch_sitting_takes_only_the_batchs_completed_inspectors(regions, people, province_admin):
    # given
    batch = BatchFactory(region=regions["province"])
    EnrollmentFactory(batch=batch, inspector=people["li"], status=EnrollmentStatus.COMPLETED)
    EnrollmentFactory(batch=batch, inspector=people["wang"], status=EnrollmentStatus.ENROLLED)
    exam = ExamFactory(region=regions["province"], kind=ExamKind.COURSE, course=batch.course)
    sitting = SittingFactory(exam=exam, batch=batch)
    data = xlsx([row(1, people["li"], 30, 40), row(2, people["wang"], 30, 40)], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert cells(result) == {(3, "B 身份证号")}
    assert "不是本场考试的考生" in result.errors[0].message
    assert not Result.objects.exists()


def test_the_attempt_rules_are_reported_for_every_row_at_once(regions, people, province_admin):
    # given: one attempt allowed; 李四 failed it, 王五 passed it; 赵六's result here issued a certificate
    exam = ExamFactory(region=regions["province"], max_attempts=1)
    earlier = SittingFactory(exam=exam, held_on=dt.date(2025, 3, 1))
    sitting = SittingFactory(exam=exam, held_on=dt.date(2025, 6, 20))
    ResultFactory(sitting=earlier, inspector=people["li"], score=Decimal("30"))
    ResultFactory(sitting=earlier, inspector=people["wang"], score=Decimal("90"))
    locked = ResultFactory(sitting=sitting, inspector=people["zhao"], score=Decimal("90"))
    CertificateFactory(holder=people["zhao"], source_result=locked)
    data = xlsx(
        [row(1, people["li"], 30, 40), row(2, people["wang"], 30, 40), row(3, people["zhao"], 30, 31)],
        header=HEADER,
    )
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    messages = {e.row: e.message for e in result.errors}
    assert cells(result) == {(2, "B 身份证号"), (3, "B 身份证号"), (4, "B 身份证号")}
    assert "用完" in messages[2]
    assert "已通过" in messages[3]
    assert "发证" in messages[4]
    assert Result.objects.filter(sitting=sitting).count() == 1
    assert not ResultChange.objects.exists()


def test_reimporting_the_same_file_changes_nothing_even_after_a_certificate(sitting, people, province_admin):
    # given: 李四 passed and holds the certificate issued from this very result
    data = xlsx([row(1, people["li"], 30, 40), row(2, people["wang"], 10, 20)], header=HEADER)
    scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # when
    again = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert again.ok, again.errors
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert ResultChange.objects.count() == 2


def test_a_correction_updates_the_score_and_keeps_old_and_new(sitting, people, province_admin):
    # given
    scores_import(
        sitting=sitting,
        actor=province_admin,
        data=xlsx([row(1, people["wang"], 10, 20)], header=HEADER),
        filename="a.xlsx",
    )
    # when
    result = scores_import(
        sitting=sitting,
        actor=province_admin,
        data=xlsx([row(1, people["wang"], 12, 20)], header=HEADER),
        filename="a.xlsx",
    )
    # then
    assert (result.created, result.updated) == (0, 1)
    change = ResultChange.objects.order_by("-id").first()
    assert (change.old_score, change.new_score, change.source) == (Decimal("30.0"), Decimal("32.0"), "import")


def test_a_total_column_must_match_the_parts(sitting, people, province_admin):
    data = xlsx([[people["li"].national_id, 30, 40, 71]], header=["身份证号", GENERAL, SPECIALIST, "总分"])
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    assert cells(result) == {(2, "D 总分")}


def test_a_closed_sitting_takes_no_file(sitting, people, province_admin):
    sitting.status = SittingStatus.CLOSED
    sitting.save()
    data = xlsx([row(1, people["li"], 30, 40)], header=HEADER)
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    assert [(e.row, e.column) for e in result.errors] == [(0, "")]
    assert "成绩已确认" in result.errors[0].message


def test_an_admin_of_another_region_may_not_import(regions, people, other_city_admin):
    sitting = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    data = xlsx([row(1, people["li"], 30, 40)], header=HEADER)
    result = scores_import(sitting=sitting, actor=other_city_admin, data=data, filename="成绩.xlsx")
    assert [(e.row, e.column) for e in result.errors] == [(0, "")]
    assert not Result.objects.exists()


def test_parts_are_found_by_their_names(regions, people, province_admin):
    # given: an exam with one part; its column may simply be called 分数
    exam = ExamFactory(region=regions["province"], kind=ExamKind.ANNUAL, parts=[("综合", 100)])
    sitting = SittingFactory(exam=exam)
    data = xlsx([[people["li"].national_id, 75]], header=["身份证号", "分数"])
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert result.ok, result.errors
    assert Result.objects.get().part_scores == {str(parts_of(exam)["综合"].pk): "75.0"}


def test_a_refusal_by_the_service_after_the_check_is_reported_against_its_row(
    regions, people, province_admin, monkeypatch
):
    # given: 王五 passed earlier, but the check reads the results before that was written
    # (as when another admin records it in between); the service still refuses the row
    exam = ExamFactory(region=regions["province"])
    earlier = SittingFactory(exam=exam, held_on=dt.date(2025, 3, 1))
    sitting = SittingFactory(exam=exam, held_on=dt.date(2025, 6, 20))
    ResultFactory(sitting=earlier, inspector=people["wang"], score=Decimal("90"))
    monkeypatch.setattr("exams.imports._previous_results", lambda **kwargs: {})
    data = xlsx([row(1, people["li"], 10, 20), row(2, people["wang"], 30, 40)], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert cells(result) == {(3, "B 身份证号")}
    assert "已通过" in result.errors[0].message
    assert not Result.objects.filter(sitting=sitting).exists()
    assert not ResultChange.objects.exists()


def test_a_pass_by_an_inspector_on_leave_is_recorded(sitting, people, province_admin):
    # given
    people["li"].status = InspectorStatus.ON_LEAVE
    people["li"].save()
    data = xlsx([row(1, people["li"], 30, 40)], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then
    assert result.ok, result.errors
    assert Result.objects.get(inspector=people["li"]).passed


def test_odd_numbers_are_cell_errors_not_crashes(sitting, people, province_admin):
    # given: a 总分 of sNaN (a 500 before), a score in exponent notation, Infinity, a NUL
    header = [*HEADER, "总分"]
    data = xlsx(
        [
            [*row(1, people["li"], 30, 40), "sNaN"],
            [*row(2, people["wang"], "4E+1", 40), ""],
            [*row(3, people["zhao"], "Infinity", "3\x000"), ""],
        ],
        header=header,
    )
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then: each cell by row and column, and nothing written
    assert cells(result) == {(2, "G 总分"), (3, f"D {GENERAL}"), (4, f"D {GENERAL}"), (4, f"E {SPECIALIST}")}
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "科学计数法" in messages[(3, f"D {GENERAL}")]
    assert "控制字符" in messages[(4, f"E {SPECIALIST}")]
    assert not Result.objects.exists()


def test_full_width_digits_are_read_and_messages_print_plain_numbers(sitting, people, province_admin):
    # given: full-width digits, and a score over the full marks of 40
    data = xlsx([row(1, people["li"], "３０", "４０"), row(2, people["wang"], "50", "40")], header=HEADER)
    # when
    result = scores_import(sitting=sitting, actor=province_admin, data=data, filename="成绩.xlsx")
    # then: never "4E+1"
    assert [e.message for e in result.errors] == ["分数 50 超过满分 40"]


def test_a_candidate_who_moved_away_leaves_the_grid_of_the_admin_who_no_longer_sees_them(
    regions, people, city_admin, province_admin, client_for
):
    # given: a 石家庄 batch sitting; 王五 completed the batch, then moved to 唐山
    batch = BatchFactory(region=regions["sjz"])
    for person in (people["li"], people["wang"]):
        EnrollmentFactory(batch=batch, inspector=person, status=EnrollmentStatus.COMPLETED)
    exam = ExamFactory(region=regions["sjz"], kind=ExamKind.COURSE, course=batch.course)
    sitting = SittingFactory(exam=exam, batch=batch)
    moved = people["wang"]
    moved.region = regions["lunan"]
    moved.save(update_fields=["region"])
    # when
    _, city_rows = grid_read(sitting=sitting, actor=city_admin)
    _, province_rows = grid_read(sitting=sitting, actor=province_admin)
    body = client_for(city_admin).get(f"/api/v1/sittings/{sitting.pk}/results/").json()
    data = xlsx([row(1, moved, 30, 40)], header=HEADER)
    result = scores_import(sitting=sitting, actor=city_admin, data=data, filename="成绩.xlsx")
    # then: the city sees only 李四, by the role it holds now; the province sees both
    assert [r.inspector.name for r in city_rows] == ["李四"]
    assert sorted(r.inspector.name for r in province_rows) == ["李四", "王五"]
    assert [r["inspector"]["name"] for r in body["rows"]] == ["李四"], body
    assert "王五" not in str(body), body
    assert cells(result) == {(2, "B 身份证号")}
    assert not Result.objects.exists()
