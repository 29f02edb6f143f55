"""The yearly workbook as a program reads it: every sheet through its Excel table (found by
name with openpyxl's ``ws.tables``) and read with pandas from the table's header row, as
docs/workbook.md tells; the chart data on its own hidden sheet; rates stored as shown."""

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from django.conf import settings
from openpyxl.utils.cell import range_boundaries

from personnel.models import Region
from reports import figures, xlsx
from tests.reports.conftest import P, Y, count_by_hand, region_path

GROUP = [figures.LABELS[key] for key in figures.GROUP_FIGURES]
# sheet -> (table, the pandas ``header=`` row, the table's first headers): docs/workbook.md
LAYOUT = {
    "汇总": ("Summary", 2, ["指标", f"{Y}年", f"{P}年", "同比", "说明"]),
    "分行业": ("BySector", 1, ["行业", *GROUP]),
    "分地区": ("ByRegion", 2, ["排名", "地区", "级别", *GROUP]),
    "分批次": ("ByBatch", 1, ["批次", "课程", "专题", "行业", "组织单位"]),
    "学时达标": ("Hours", 1, ["姓名", "身份证号", "地区", "行业", "状态", f"{Y}年学时", "应修学时", "是否达标"]),
    "证件申请": ("Applications", 2, ["申请类别", "审批中", "已退回", "已办结", "已撤回", "合计"]),
    "年审进度": ("AnnualReview", 2, ["地区", "应年审", "已申请", "已通过", "已退回", "审批中", "逾期", "截止日期"]),
    "制卡": ("CardsPrinted", 2, ["地区", "制卡张数"]),
    "评教": ("Evaluations", 2, ["批次", "课程", "组织单位", "开始日期", "结束日期", "结业人数", "评价份数", "参评率"]),
    "评教(课程)": ("EvaluationsByCourse", 2, ["课程编号", "课程", "批次数", "结业人数", "评价份数", "参评率"]),
    "明细": ("Detail", 1, [label for label, _width in xlsx.DETAIL_HEADERS]),
    "_chart": ("ChartRegionRates", 0, ["地区", "结业率"]),
}


def write(tmp_path, actor) -> str:
    path = tmp_path / "book.xlsx"
    scope = figures.Scope(region=Region.objects.get(code="130000"), year=Y)
    xlsx.yearly_workbook(str(path), scope=scope, actor=actor)
    return str(path)


def read_tables(path: str) -> dict[str, pd.DataFrame]:
    """Each sheet's table, found by name and read with pandas: the header row and the rows of
    the table's range, nothing beside or below it."""
    book = openpyxl.load_workbook(path)
    frames = {}
    for ws in book.worksheets:
        assert len(ws.tables) == 1, ws.title
        (name, ref), *_ = ws.tables.items()
        first_col, first_row, last_col, last_row = range_boundaries(ref)
        frames[ws.title] = (
            name,
            first_row - 1,
            pd.read_excel(
                path,
                sheet_name=ws.title,
                header=first_row - 1,
                nrows=last_row - first_row,
                usecols=range(first_col - 1, last_col),
            ),
        )
    return frames


def test_every_sheet_reads_with_pandas_by_its_table(tmp_path, known, province_admin):
    # given: the known years
    path = write(tmp_path, province_admin)

    # when: each sheet is read through its table
    tables = read_tables(path)

    # then: every sheet has its named table, its header row where the docs say, the headers
    assert set(tables) == set(LAYOUT)
    for sheet, (name, header, first_headers) in LAYOUT.items():
        got_name, got_header, frame = tables[sheet]
        assert (got_name, got_header) == (name, header), sheet
        assert list(frame.columns[: len(first_headers)]) == first_headers, sheet
        assert not any(str(c).startswith("Unnamed") for c in frame.columns), sheet
        # and the plain ``header=`` reading of the docs gives the same columns
        plain = pd.read_excel(path, sheet_name=sheet, header=header)
        assert list(plain.columns[: len(frame.columns)]) == list(frame.columns), sheet

    # a few totals, against the independent count
    want = count_by_hand(year=Y, path="130000/")
    summary = tables["汇总"][2].set_index("指标")[f"{Y}年"]
    assert summary["培训人次"] == want["person_times"] == 9
    assert summary["结业人次"] == want["completions"] == 8
    assert summary["结业率"] == round(want["completion_rate"], 3)
    sectors = tables["分行业"][2]
    assert sectors["培训人次"].sum() == want["person_times"]
    batches = tables["分批次"][2]
    assert batches["报名人次"].sum() == want["person_times"]
    hours = tables["学时达标"][2]
    active = hours[hours["状态"] == "在岗"]
    assert len(active) == want["inspectors"]
    assert (active["是否达标"] == "达标").sum() == want["hours_met"]
    assert hours[f"{Y}年学时"].sum() == want["hours"]
    detail = tables["明细"][2]
    assert detail["认定学时"].sum() == want["hours"]
    assert (detail["状态"] == "已结业").sum() == want["completions"]
    regions = tables["分地区"][2].set_index("地区")
    for name, code in (("石家庄市", "130100"), ("唐山市", "130200")):
        city = count_by_hand(year=Y, path=region_path(code))
        assert regions.loc[name, "培训人次"] == city["person_times"], name
        assert regions.loc[name, "结业率"] == round(city["completion_rate"], 3), name


def test_the_chart_data_is_on_a_hidden_sheet_in_rank_order(tmp_path, known, province_admin):
    # given: the known years
    path = write(tmp_path, province_admin)

    # when
    book = openpyxl.load_workbook(path)
    regions = pd.read_excel(path, sheet_name="分地区", header=2)
    chart = pd.read_excel(path, sheet_name="_chart", header=0)

    # then: nothing beside the 分地区 table; the chart's sheet is hidden and pairs each city
    # with its own completion rate, in rank order
    assert book["_chart"].sheet_state == "hidden"
    assert book["分地区"].max_column == len(LAYOUT["分地区"][2])
    cities = regions[regions["排名"].notna()].sort_values("排名")
    assert list(chart["地区"]) == list(cities["地区"])
    assert list(chart["结业率"]) == list(cities["结业率"])


def test_rates_are_stored_as_shown(tmp_path, known, province_admin):
    # given: the known years, whose rates have more decimals than 0.0% shows (4/7)
    path = write(tmp_path, province_admin)

    # when: every rate cell of the workbook is read
    book = openpyxl.load_workbook(path)
    rates = [
        cell.value
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if isinstance(cell.value, float) and "%" in cell.number_format
    ]

    # then: each is its own rounding to 3 decimals of the fraction (0.571, not 0.5714)
    assert 0.571 in rates
    assert rates and all(value == round(value, 3) for value in rates)


@pytest.mark.parametrize("value, stored", [(97.4 / 100, 0.974), (0.5714, 0.571), (4 / 7 - 0.5, 0.071), (1.0, 1.0)])
def test_shown_rate(value, stored):
    # given: a rate with float noise or more places than shown
    # when / then
    assert xlsx.shown_rate(value) == stored


def test_the_docs_examples_run_as_written(tmp_path, known, province_admin, capsys, monkeypatch):
    # given: the workbook of the known years, under the file name the docs use
    assert Y == 2024  # the docs' examples read the 2024 columns
    written = write(tmp_path, province_admin)
    path = tmp_path / "2024年度统计汇总.xlsx"
    Path(written).rename(path)
    docs = (Path(settings.BASE_DIR) / "docs" / "workbook.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    assert len(blocks) == 2

    # when: each example runs, in the directory of the file
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(block, namespace)  # noqa: S102 - the docs' own examples

    # then: they read what the independent count says
    want = count_by_hand(year=Y, path="130000/")
    printed = [float(value) for value in capsys.readouterr().out.split()]
    assert printed == [want["person_times"], round(want["completion_rate"], 3), want["hours_met"]]
    assert len(namespace["detail"]) == len(namespace["read_table"](path, "Detail"))
    assert list(namespace["detail"].columns) == [label for label, _width in xlsx.DETAIL_HEADERS]
