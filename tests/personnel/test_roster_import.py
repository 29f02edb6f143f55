"""Roster import: every kind of bad row is reported by row and column, and nothing is written."""

import datetime as dt
import io

import pytest
import xlsxwriter
from django.core.management import call_command
from django.core.management.base import CommandError

from personnel.imports import roster_import
from personnel.models import Inspector, Sector
from personnel.services import national_id_not_here_message
from tests.factories import InspectorFactory, national_id_for

HEADER = ["姓名", "身份证号", "所属地区", "行业", "职务", "手机", "状态", "入职日期"]


def xlsx(rows, header=HEADER, title=None):
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("名册")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    r = 0
    if title:
        sheet.write_string(0, 0, title)
        r = 1
    sheet.write_row(r, 0, header)
    for i, row in enumerate(rows, start=r + 1):
        for j, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(i, j, dt.datetime.combine(value, dt.time()), date_format)
            elif isinstance(value, int | float):
                sheet.write_number(i, j, value)
            elif value is not None:
                sheet.write_string(i, j, value)
    book.close()
    return buffer.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig"):
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def good_rows(n=3):
    return [
        [f"人员{i}", national_id_for("130102", i), "130102", "危化", "科员", "13800000000", "在岗", dt.date(2015, 3, 1)]
        for i in range(n)
    ]


def test_good_file_creates_everyone(province_admin):
    # when
    result = roster_import(actor=province_admin, data=xlsx(good_rows(3)), filename="名册.xlsx")
    # then
    assert result.ok, result.errors
    assert (result.total, result.created, result.updated) == (3, 3, 0)
    first = Inspector.objects.get(name="人员0")
    assert first.sector == Sector.HAZARDOUS_CHEMICALS
    assert first.hired_on == dt.date(2015, 3, 1)
    assert first.region.code == "130102"
    assert first.birth_date == dt.date(1985, 3, 15)


def test_reimport_updates_by_id_and_counts_unchanged(province_admin):
    # given
    roster_import(actor=province_admin, data=xlsx(good_rows(3)), filename="a.xlsx")
    rows = good_rows(3)
    rows[1][4] = "科长"
    rows[2][2] = "长安区"  # the same region by its unique name
    # when
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    # then
    assert result.ok
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert Inspector.objects.get(name="人员1").position == "科长"
    assert Inspector.objects.count() == 3


def test_dry_run_reports_but_writes_nothing(province_admin):
    result = roster_import(actor=province_admin, data=xlsx(good_rows(2)), filename="a.xlsx", dry_run=True)
    assert result.ok and result.dry_run and result.created == 2
    assert Inspector.objects.count() == 0


@pytest.mark.parametrize(
    ("mutate", "column", "fragment"),
    [
        (lambda r: r.__setitem__(1, r[1][:-1] + ("0" if r[1][-1] != "0" else "1")), "B", "校验位"),
        (lambda r: r.__setitem__(2, "999999"), "C", "不存在"),
        (lambda r: r.__setitem__(2, "火星"), "C", "未知地区"),
        (lambda r: r.__setitem__(3, "渔业"), "D", "未知行业"),
        (lambda r: r.__setitem__(7, "去年春天"), "H", "不是有效日期"),
        (lambda r: r.__setitem__(0, None), "A", "必填项为空"),
        (lambda r: r.__setitem__(1, None), "B", "必填项为空"),
        (lambda r: r.__setitem__(6, "摸鱼"), "G", "未知状态"),
        (lambda r: r.__setitem__(5, "call me"), "F", "手机"),
        (lambda r: r.__setitem__(1, 130102198503150011), "B", "文本格式"),
    ],
)
def test_each_bad_cell_is_reported_and_nothing_written(province_admin, mutate, column, fragment):
    # given: three good rows, the middle one (spreadsheet row 3) spoiled
    rows = good_rows(3)
    mutate(rows[1])
    # when
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    # then
    assert not result.ok
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert error.row == 3
    assert error.column.startswith(column + " ")
    assert fragment in error.message
    assert Inspector.objects.count() == 0


def test_every_problem_is_reported_at_once(province_admin):
    rows = good_rows(4)
    rows[0][3] = "渔业"
    rows[2][2] = "火星"
    rows[3][1] = rows[1][1]  # duplicate of row 3
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx")
    assert {(e.row, e.column[0]) for e in result.errors} == {(2, "D"), (4, "C"), (5, "B")}
    dup = next(e for e in result.errors if e.row == 5)
    assert "第3行重复" in dup.message
    assert Inspector.objects.count() == 0


def test_wrong_headers_are_reported(province_admin):
    header = ["姓名", "身份证号", "地区代码", "工种"]
    result = roster_import(actor=province_admin, data=xlsx([], header=header), filename="a.xlsx")
    messages = [str(e) for e in result.errors]
    assert any("D 工种" in m and "无法识别的表头" in m for m in messages)
    assert any("缺少必填列“行业”" in m for m in messages)


def test_file_without_a_header_row(province_admin):
    result = roster_import(actor=province_admin, data=xlsx([["a", "b"]], header=["x", "y"]), filename="a.xlsx")
    assert not result.ok and "未找到表头" in result.errors[0].message


def test_not_a_spreadsheet(province_admin):
    result = roster_import(actor=province_admin, data=b"%PDF-1.4 not a roster", filename="roster.pdf")
    assert not result.ok and "不支持的文件类型" in result.errors[0].message
    result = roster_import(actor=province_admin, data=b"PK\x03\x04garbage", filename="roster.xlsx")
    assert not result.ok and "不是有效的 Excel" in result.errors[0].message


def test_title_row_above_header_and_serial_column(province_admin):
    header = ["序号", *HEADER]
    rows = [[i + 1, *r] for i, r in enumerate(good_rows(2))]
    result = roster_import(
        actor=province_admin, data=xlsx(rows, header=header, title="石家庄市执法人员名册"), filename="a.xlsx"
    )
    assert result.ok, result.errors
    assert result.created == 2


def test_english_headers_and_csv_in_gb18030(province_admin):
    header = ["name", "national_id", "region", "sector"]
    rows = [["Li Lei", national_id_for("130104", 5), "130104", "工贸"]]
    result = roster_import(actor=province_admin, data=csv_bytes(rows, header, "gb18030"), filename="r.csv")
    assert result.ok, result.errors
    assert Inspector.objects.get(name="Li Lei").sector == Sector.INDUSTRY_TRADE


def test_sector_variants(province_admin):
    rows = good_rows(4)
    for row, text in zip(rows, ["危险化学品", "工商贸", "煤矿", "非煤矿山"], strict=True):
        row[3] = text
    assert roster_import(actor=province_admin, data=xlsx(rows), filename="a.xlsx").ok
    assert sorted(Inspector.objects.values_list("sector", flat=True)) == sorted(
        ["hazardous_chemicals", "industry_trade", "coal", "non_coal_mine"]
    )


def test_city_admin_cannot_import_into_another_city(city_admin):
    rows = good_rows(2)
    rows[1][2] = "130202"
    result = roster_import(actor=city_admin, data=xlsx(rows), filename="a.xlsx")
    assert [(e.row, e.column[0]) for e in result.errors] == [(3, "C")]
    assert "管辖范围" in result.errors[0].message
    assert Inspector.objects.count() == 0


def test_city_admin_cannot_overwrite_someone_registered_elsewhere(city_admin, regions):
    outsider = InspectorFactory(region=regions["lunan"], name="唐山人")
    rows = good_rows(2)
    rows[1][1] = outsider.national_id
    result = roster_import(actor=city_admin, data=xlsx(rows), filename="a.xlsx")
    assert not result.ok
    outsider.refresh_from_db()
    assert outsider.region.code == "130202" and outsider.name == "唐山人"
    assert Inspector.objects.count() == 1


def test_an_id_number_held_outside_the_scope_gets_the_same_answer_as_registering_it_by_hand(county_admin, regions):
    # given: three rows whose numbers are held in 桥西区, by 石家庄 itself and in 唐山's 路南区
    held = [InspectorFactory(region=regions[key], name=f"外{n}") for n, key in enumerate(("qiaoxi", "sjz", "lunan"))]
    rows = good_rows(3)
    for row, person in zip(rows, held, strict=True):
        row[1], row[2] = person.national_id, "长安区"
    # when
    result = roster_import(actor=county_admin, data=xlsx(rows), filename="a.xlsx")
    # then: each row says it cannot be registered here and who can resolve it, in the same
    # words as the service; nothing about whether or where the person is registered
    assert not result.ok
    assert [(e.row, e.column[0], e.message) for e in result.errors] == [
        (2, "B", national_id_not_here_message()),
        (3, "B", national_id_not_here_message()),
        (4, "B", national_id_not_here_message()),
    ]
    assert all(p.name not in e.message and p.region.name not in e.message for p in held for e in result.errors)
    assert "管辖范围以外" not in national_id_not_here_message()
    assert {p.region_id for p in Inspector.objects.filter(pk__in=[p.pk for p in held])} == {
        regions["qiaoxi"].pk,
        regions["sjz"].pk,
        regions["lunan"].pk,
    }


def test_inspector_may_not_import(inspector_user):
    result = roster_import(actor=inspector_user, data=xlsx(good_rows(1)), filename="a.xlsx")
    assert not result.ok and Inspector.objects.count() == 1


def test_api_import_reports_rows_and_writes_nothing(client_for, province_admin):
    rows = good_rows(2)
    rows[0][3] = "渔业"
    upload = io.BytesIO(xlsx(rows))
    upload.name = "r.xlsx"
    response = client_for(province_admin).post("/api/v1/inspectors/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_file"
    assert body["errors"][0]["row"] == 2 and body["errors"][0]["column"].startswith("D")
    assert Inspector.objects.count() == 0


def test_api_import_success_and_inspector_forbidden(client_for, province_admin, inspector_user):
    upload = io.BytesIO(xlsx(good_rows(2)))
    upload.name = "r.xlsx"
    response = client_for(province_admin).post("/api/v1/inspectors/import/", {"file": upload}, format="multipart")
    assert response.status_code == 200 and response.json()["created"] == 2
    upload.seek(0)
    response = client_for(inspector_user).post("/api/v1/inspectors/import/", {"file": upload}, format="multipart")
    assert response.status_code == 403


def test_command_exit_code_and_messages(regions, tmp_path, capsys):
    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx(good_rows(2)))
    call_command("import_roster", str(good), "--dry-run")
    assert Inspector.objects.count() == 0
    call_command("import_roster", str(good))
    assert Inspector.objects.count() == 2

    rows = good_rows(3)
    rows[2][2] = "火星"
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx(rows))
    with pytest.raises(CommandError):
        call_command("import_roster", str(bad))
    assert "第4行 C 所属地区" in capsys.readouterr().err


def test_a_control_character_is_the_cells_error_not_a_crash(province_admin):
    # given: a NUL in a name, a bell character in a position
    rows = good_rows(3)
    rows[0][0] = "张\x00三"
    rows[2][4] = "科员\x07"
    # when
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="r.xlsx")
    # then: each cell named by row and column, only once, and nothing written
    where = sorted((e.row, e.column) for e in result.errors)
    assert where == [(2, "A 姓名"), (4, "E 职务")], result.errors
    assert all("控制字符" in e.message for e in result.errors)
    assert Inspector.objects.count() == 0


def test_a_control_character_in_a_required_cell_is_not_also_called_empty(province_admin):
    # given
    rows = good_rows(1)
    rows[0][0] = "\x01"
    # when
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="r.xlsx")
    # then
    assert [(e.row, e.column) for e in result.errors] == [(2, "A 姓名")]


def test_a_file_refused_while_its_rows_are_read_is_an_error_with_its_place(province_admin):
    # given: a CSV whose third data row has a value far to the right, past the column limit
    rows = good_rows(3)
    rows[2] = rows[2] + [""] * 140 + ["x"]
    # when
    result = roster_import(actor=province_admin, data=csv_bytes(rows), filename="r.csv")
    # then: an answer, not an exception, and nothing written
    assert not result.ok
    assert result.errors[0].row == 4, result.errors
    assert Inspector.objects.count() == 0


def test_api_answers_400_for_a_nul_on_any_database(client_for, province_admin):
    # given
    rows = good_rows(2)
    rows[1][0] = "李\x00四"
    upload = io.BytesIO(xlsx(rows))
    upload.name = "r.xlsx"
    # when
    response = client_for(province_admin).post("/api/v1/inspectors/import/", {"file": upload}, format="multipart")
    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 3
    assert Inspector.objects.count() == 0
