"""Question bank import (.xlsx/.xls/.csv): every bad cell reported by row and column,
duplicates within the file and against the bank, nothing written if any row is bad, hostile
files refused with a reason (4xx through the API) within the upload reader's memory bound."""

import io
import tracemalloc

import openpyxl
import pytest
import xlsxwriter
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exams.models import Question, QuestionEvent, QuestionVersion
from exams.question_imports import MAX_ROWS, question_template, questions_import
from exams.questions import question_create
from tests.core.hostile import cell, one_sheet, row
from tests.core.test_uploads import HOSTILE, MEMORY_BOUND_MB

HEADER = ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "解析", "分类", "难度", "启用"]


def xlsx(rows, header=HEADER, above=()):
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("题库")
    r = 0
    for line in above:
        sheet.write_row(r, 0, line)
        r += 1
    sheet.write_row(r, 0, header)
    for i, values in enumerate(rows, start=r + 1):
        for j, value in enumerate(values):
            if isinstance(value, int | float):
                sheet.write_number(i, j, value)
            elif value is not None:
                sheet.write_string(i, j, value)
    book.close()
    return buffer.getvalue()


def good_rows():
    return [
        ["单选题", "安全生产法自何时起施行修正后的版本？", "2021年9月1日", "2021年6月10日", "2020年1月1日", "", "A",
         "2021年6月10日通过，9月1日起施行。", "安全生产法", 1, "是"],
        ["多选题", "行政执法三项制度包括哪些？", "行政执法公示制度", "执法全过程记录制度", "重大执法决定法制审核制度",
         "执法责任追究制度", "A,B,C", "", "行政执法三项制度", "中", ""],
        ["判断题", "行政强制措施可以委托其他行政机关实施。", "", "", "", "", "错误", "不得委托。", "行政强制法", "难", "否"],
    ]  # fmt: skip


def test_a_good_file_adds_every_question_with_version_and_event(regions, province_admin):
    # when
    result = questions_import(actor=province_admin, data=xlsx(good_rows()), filename="题库.xlsx")
    # then
    assert result.ok, result.errors
    assert (result.total, result.created) == (3, 3)
    single, multiple, judge = Question.objects.order_by("id")
    assert (single.kind, single.options, single.answer, single.difficulty, single.active) == (
        "single",
        ["2021年9月1日", "2021年6月10日", "2020年1月1日"],
        "A",
        1,
        True,
    )
    assert (multiple.answer, multiple.difficulty, multiple.active) == ("ABC", 2, True)
    assert (judge.options, judge.answer, judge.difficulty, judge.active) == (["正确", "错误"], "B", 3, False)
    assert {q.region.code for q in (single, multiple, judge)} == {"130000"}  # the admin's own region
    assert QuestionVersion.objects.filter(version=1).count() == 3
    events = QuestionEvent.objects.filter(kind=QuestionEvent.Kind.IMPORTED)
    assert events.count() == 3 and {e.actor_id for e in events} == {province_admin.pk}


def test_dry_run_checks_and_writes_nothing(regions, province_admin):
    result = questions_import(actor=province_admin, data=xlsx(good_rows()), filename="a.xlsx", dry_run=True)
    assert result.ok and result.created == 3 and result.dry_run
    assert not Question.objects.exists()


def test_every_bad_cell_is_named_by_row_and_column_and_nothing_is_written(regions, province_admin):
    # given: the good rows, then one problem per row
    rows = [
        *good_rows(),
        ["问答题", "题干甲", "甲", "乙", "", "", "A", "", "分类", 2, ""],  # row 5: kind
        ["单选题", "", "甲", "乙", "", "", "A", "", "分类", 2, ""],  # row 6: stem
        ["单选题", "题干乙", "甲", "", "丙", "", "A", "", "分类", 2, ""],  # row 7: a gap at 选项B
        ["单选题", "题干丙", "甲", "乙", "", "", "AB", "", "分类", 2, ""],  # row 8: two answers
        ["多选题", "题干丁", "甲", "乙", "丙", "", "AD", "", "分类", 2, ""],  # row 9: D is no option
        ["单选题", "题干戊", "甲", "乙", "", "", "A", "", "", 2, ""],  # row 10: category
        ["单选题", "题干己", "甲", "乙", "", "", "A", "", "分类", 5, ""],  # row 11: difficulty
        ["单选题", "题干庚", "甲", "乙", "", "", "A", "", "分类", 2, "也许"],  # row 12: active
        ["单选题", "题干辛", "甲", "甲", "", "", "A", "", "分类", 2, ""],  # row 13: 选项B = 选项A
        ["判断题", "题干壬", "对", "错", "", "", "A", "", "分类", 2, ""],  # row 14: true/false options
    ]
    # when
    result = questions_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    # then
    assert not result.ok
    found = {(e.row, e.column) for e in result.errors}
    assert found == {
        (5, "A 题型"),
        (6, "B 题干"),
        (7, "D 选项B"),
        (8, "G 答案"),
        (9, "G 答案"),
        (10, "I 分类"),
        (11, "J 难度"),
        (12, "K 启用"),
        (13, "D 选项B"),
        (14, "C 选项A"),
    }, result.errors
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors)
    assert not Question.objects.exists() and not QuestionEvent.objects.exists()


def test_duplicates_within_the_file_and_against_the_bank_are_named(regions, province_admin):
    # given: the bank holds the first question; the file repeats the second (other spacing)
    existing = question_create(
        actor=province_admin,
        region=regions["province"],
        kind="single",
        stem="安全生产法自何时起施行修正后的版本？",
        options=["2021年6月10日", "2021年9月1日", "2020年1月1日"],
        answer="B",
        category="安全生产法",
        difficulty=1,
    )
    rows = good_rows()
    rows.append(["多选题", " 行政执法三项制度包括哪些？ ", *rows[1][2:]])
    # when
    result = questions_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    # then
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert set(messages) == {(2, "B 题干"), (5, "B 题干")}
    assert f"编号 {existing.pk}" in messages[(2, "B 题干")]
    assert "与第3行是同一道题" in messages[(5, "B 题干")]
    assert Question.objects.count() == 1


def test_another_regions_bank_may_hold_the_same_question(regions, province_admin, city_admin):
    assert questions_import(actor=province_admin, data=xlsx(good_rows()), filename="a.xlsx").ok
    result = questions_import(actor=city_admin, data=xlsx(good_rows()), filename="a.xlsx")
    assert result.ok and result.region == regions["sjz"]
    assert Question.objects.filter(region=regions["sjz"]).count() == 3


def test_headers_title_rows_aliases_and_csv(regions, province_admin):
    header = ["序号", "类型", "题目", "A", "B", "C", "正确答案", "知识点"]
    rows = [[1, "单选", "题干一", "甲", "乙", "丙", "c", "分类一"]]
    result = questions_import(
        actor=province_admin, data=xlsx(rows, header=header, above=[["题库导入表"]]), filename="a.xlsx"
    )
    assert result.ok, result.errors
    assert Question.objects.get().answer == "C"
    csv = "题型,题干,答案,分类\n判断题,题干二,正确,分类二\n".encode("gb18030")
    assert questions_import(actor=province_admin, data=csv, filename="a.csv").ok
    assert Question.objects.get(stem="题干二").answer == "A"


def test_wrong_and_missing_headers_are_reported_on_the_header_row(regions, province_admin):
    result = questions_import(
        actor=province_admin, data=xlsx([], header=["题型", "题干", "选项A", "备注X", "选项A"]), filename="a.xlsx"
    )
    assert {(e.row, e.column) for e in result.errors} == {(1, "D 备注X"), (1, "E 选项A"), (1, "答案"), (1, "分类")}
    result = questions_import(actor=province_admin, data=xlsx([], header=["姓名"]), filename="a.xlsx")
    assert "未找到表头" in result.errors[0].message


def test_a_control_character_is_the_cells_error(regions, province_admin):
    rows = [["单选题", "题干\x01", "甲", "乙", "", "", "A", "", "分类", 2, ""]]
    result = questions_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    assert [(e.row, e.column) for e in result.errors] == [(2, "B 题干")]
    assert "控制字符" in result.errors[0].message


def test_an_inspector_and_another_regions_admin_may_not_import(regions, inspector_user, city_admin):
    result = questions_import(actor=inspector_user, data=xlsx(good_rows()), filename="a.xlsx")
    assert "只有管理员" in result.errors[0].message
    result = questions_import(actor=city_admin, data=xlsx(good_rows()), filename="a.xlsx", region=regions["ts"])
    assert "无权管理" in result.errors[0].message
    assert not Question.objects.exists()


def test_rows_past_the_cap_are_refused(regions, province_admin, monkeypatch):
    monkeypatch.setattr("exams.question_imports.MAX_ROWS", 2)
    result = questions_import(actor=province_admin, data=xlsx(good_rows()), filename="a.xlsx")
    assert "行数超过上限 2 行" in result.errors[-1].message
    assert MAX_ROWS == 10_000


def test_the_statements_of_an_import_do_not_grow_with_its_rows(regions, province_admin):
    def many(start, n):
        return [["单选题", f"第{i}题", "甲", "乙", "丙", "", "A", "", "分类", 2, ""] for i in range(start, start + n)]

    def statements(rows):
        with CaptureQueriesContext(connection) as queries:
            result = questions_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
        assert result.ok, result.errors
        return len(queries)

    statements(many(0, 2))  # warm the caches
    # under one insert batch of every backend (SQLite's is the smallest)
    assert statements(many(100, 10)) == statements(many(200, 60))
    assert Question.objects.count() == 72


def test_the_template_uploads_back_once_filled_in(regions, province_admin):
    # given the template
    data = question_template()
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    header = [c.value for c in sheet[3]]
    assert header[:3] == ["题型", "题干", "选项A"] and header[-4:] == ["解析", "分类", "难度", "启用"]
    # empty: no rows
    assert "没有任何数据行" in questions_import(actor=province_admin, data=data, filename="t.xlsx").errors[0].message
    # when a question is typed under the header
    for column, value in enumerate(["判断题", "行政处罚法规定的时效一般为二年。", None], start=1):
        sheet.cell(row=4, column=column, value=value)
    sheet.cell(row=4, column=header.index("答案") + 1, value="正确")
    sheet.cell(row=4, column=header.index("分类") + 1, value="行政处罚法")
    buffer = io.BytesIO()
    book.save(buffer)
    # then it imports
    result = questions_import(actor=province_admin, data=buffer.getvalue(), filename="t.xlsx")
    assert result.ok, result.errors
    assert Question.objects.get().category == "行政处罚法"


# --- the API -------------------------------------------------------------------------------------


def upload(client, data, filename="题库.xlsx", **extra):
    return client.post("/api/v1/questions/import/", {"file": io.BytesIO(data) | _named(filename), **extra})


class _named:
    def __init__(self, name):
        self.name = name

    def __ror__(self, handle):
        handle.name = self.name
        return handle


def test_api_import_dry_run_errors_and_success(client_for, regions, province_admin, inspector_user):
    client = client_for(province_admin)
    dry = upload(client, xlsx(good_rows()), dry_run="true")
    assert dry.status_code == 200 and dry.json()["created"] == 3 and not Question.objects.exists()
    bad = upload(client, xlsx([["单选题", "题干", "甲", "", "", "", "A", "", "分类", 2, ""]]))
    assert bad.status_code == 400
    body = bad.json()
    assert body["code"] == "invalid_file" and body["errors"][0]["column"] == "D 选项B"
    assert "第2行" in body["detail"]
    ok = upload(client, xlsx(good_rows()), region="130100")
    assert ok.status_code == 200 and ok.json()["created"] == 3
    assert set(Question.objects.values_list("region__code", flat=True)) == {"130100"}
    assert upload(client_for(inspector_user), xlsx(good_rows())).status_code == 403


def test_api_template_is_a_workbook_for_admins_only(client_for, regions, province_admin, inspector_user):
    response = client_for(province_admin).get("/api/v1/questions/template/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client_for(inspector_user).get("/api/v1/questions/template/").status_code == 403


HOSTILE_CASES = [
    "cell at XFD1048576, lying <dimension>",
    "shared strings unpacking to 1 GB, size header lying (1 KB)",
    "one cell of 200 MB of text",
    "entities (billion laughs)",
    "a second sheet with data",
    "1,500 sheets",
    "not a zip",
]


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_hostile_files_are_a_400_with_a_reason_within_the_memory_bound(client_for, regions, province_admin, name):
    # given a hostile file of the upload reader's tests
    build, words = HOSTILE[name]
    data = build()
    client = client_for(province_admin)
    # when it is uploaded as a question file
    tracemalloc.start()
    try:
        response = upload(client, data)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # then it is refused with the reader's reason, and what Python held stayed within the bound
    assert response.status_code == 400, response.content[:300]
    assert words in response.json()["detail"]
    assert peak / (1 << 20) < MEMORY_BOUND_MB
    assert not Question.objects.exists()


def test_a_stray_cell_far_away_is_named_by_its_place(client_for, regions, province_admin):
    data = one_sheet(row(1, cell("A1", "题型"), cell("B1", "题干")) + row(250000, cell("C250000", "x")))
    response = upload(client_for(province_admin), data)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["row"] == 250000 and error["column"].startswith("C")
