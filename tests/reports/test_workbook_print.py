"""The workbooks print: every sheet on A4 landscape, one page wide, the header row on every
page, the scope and page numbers in the footer; the summary sheets on one page each.

Read back from the file with openpyxl (what Excel and LibreOffice read)."""

import os
import shutil
import subprocess

import pytest

from personnel.models import Region
from reports import figures, xlsx
from tests.reports.conftest import Y, open_book

A4 = "9"


def write_yearly(tmp_path, actor, *, code="130100", name="book.xlsx"):
    path = tmp_path / name
    scope = figures.Scope(region=Region.objects.get(code=code), year=Y)
    xlsx.yearly_workbook(str(path), scope=scope, actor=actor, include_detail=True)
    return open_book(path)


def header_row(ws) -> int:
    """The row (1-based) of the sheet's table header: the first row of its Excel table."""
    (table,) = ws.tables.values()
    return int("".join(ch for ch in table.ref.split(":")[0] if ch.isdigit()))


def assert_prints_on_a4_landscape_one_page_wide(ws, *, scope_text: str, pages_tall: int = 0) -> None:
    setup = ws.page_setup
    assert (setup.orientation, str(setup.paperSize)) == ("landscape", A4), ws.title
    assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    # (an attribute left out is the file format's default: 1)
    fit = tuple(1 if value is None else int(value) for value in (setup.fitToWidth, setup.fitToHeight))
    assert fit == (1, pages_tall), ws.title
    row = header_row(ws)
    assert ws.print_title_rows == f"${row}:${row}", ws.title
    assert ws.oddFooter.left.text == scope_text, ws.title
    assert ws.oddFooter.center.text == "第 &P 页，共 &N 页", ws.title
    assert ws.oddHeader.right.text == "&A", ws.title


def test_every_sheet_of_the_yearly_workbook_prints_on_a4_landscape(tmp_path, known, city_admin, monkeypatch):
    # given: detail sheets of 6 rows, so that 明细 continues on further sheets
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 6)

    # when
    book = write_yearly(tmp_path, city_admin)

    # then: every sheet, the continuations included; the summary sheets on one page each
    assert [ws.title for ws in book.worksheets if ws.title.startswith("明细")] == ["明细", "明细(2)"]
    one_page = {"汇总", "分行业"}
    for ws in book.worksheets:
        assert_prints_on_a4_landscape_one_page_wide(
            ws, scope_text=f"{Y}年度 · 石家庄市（130100）", pages_tall=1 if ws.title in one_page else 0
        )


def test_the_summary_page_holds_the_table_and_the_chart_beside_it(tmp_path, known, city_admin):
    # when
    book = write_yearly(tmp_path, city_admin)

    # then: the print area runs from A1 past the chart's right edge and below the table
    ws = book["汇总"]
    (area,) = ws.print_area if isinstance(ws.print_area, list) else [ws.print_area]
    first, last = area.replace("$", "").split("!")[-1].split(":")
    assert first == "A1"
    last_col = "".join(ch for ch in last if ch.isalpha())
    last_row = int("".join(ch for ch in last if ch.isdigit()))
    (chart,) = ws._charts
    assert chart.anchor._from.col == 6  # G, beside the five columns of the table
    columns_needed = 6 + -(-xlsx.SUMMARY_CHART[0] // xlsx.DEFAULT_COLUMN_PX)  # G and the ones the chart covers
    assert openpyxl_column_index(last_col) >= columns_needed
    assert last_row >= len(figures.SUMMARY_FIGURES) + 3  # title, note, header and the figures


def openpyxl_column_index(letters: str) -> int:
    from openpyxl.utils import column_index_from_string

    return column_index_from_string(letters)


def test_the_region_chart_sits_below_the_table(tmp_path, known, province_admin):
    # when
    book = write_yearly(tmp_path, province_admin, code="130000")

    # then: under the last row of the table, so the page is the table's width
    ws = book["分地区"]
    (table,) = ws.tables.values()
    last_row = int("".join(ch for ch in table.ref.split(":")[1] if ch.isdigit()))
    (chart,) = ws._charts
    assert chart.anchor._from.row >= last_row  # 0-based row index: at least one row below


@pytest.mark.parametrize("name", ["A&B 区"])
def test_an_ampersand_in_the_scope_is_printed_as_itself(tmp_path, regions, city_admin, name):
    # given: a county whose name has "&" (a code in the footer)
    Region.objects.filter(code="130102").update(name=name)

    # when
    book = write_yearly(tmp_path, city_admin, code="130102")

    # then: written doubled, as Excel wants a literal "&"
    assert book["汇总"].oddFooter.left.text == f"{Y}年度 · A&&B 区（130102）"


def test_the_roster_prints_on_a4_landscape(tmp_path, known):
    # given
    path = tmp_path / "roster.xlsx"
    scope = figures.Scope(region=Region.objects.get(code="130100"), year=Y)

    # when
    xlsx.roster_workbook(str(path), scope=scope)

    # then
    assert_prints_on_a4_landscape_one_page_wide(open_book(path)["名册"], scope_text=f"{Y}年 · 石家庄市（130100）")


def pages_per_sheet(pdf) -> dict[str, int]:
    """{sheet name: pages} of a workbook printed to PDF: each page's header names its sheet
    (``&A``, at the right of the first line)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    counts: dict[str, int] = {}
    for page in text.split("\f"):
        lines = [line for line in page.splitlines() if line.strip()]
        if lines:
            name = lines[0].split()[-1]
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext")), reason="needs LibreOffice and poppler")
def test_printed_by_libreoffice_the_summary_sheets_take_one_page_each(tmp_path, known, province_admin):
    # given: the province's workbook
    write_yearly(tmp_path, province_admin, code="130000")

    # when: LibreOffice prints it to PDF
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(tmp_path / "book.xlsx")],
        capture_output=True,
        check=True,
        timeout=240,
        env={**os.environ, "HOME": str(tmp_path)},  # a profile of its own
    )

    # then: 汇总 (the chart included) and 分行业 on one page each; the hidden sheet not at all
    pages = pages_per_sheet(tmp_path / "book.pdf")
    assert pages["汇总"] == 1 and pages["分行业"] == 1
    assert "_chart" not in pages
    assert set(pages) == {
        "汇总",
        "分行业",
        "分地区",
        "分批次",
        "学时达标",
        "证件申请",
        "年审进度",
        "制卡",
        "评教",
        "评教(课程)",
        "明细",
    }
