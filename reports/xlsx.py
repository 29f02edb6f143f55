"""The formatter: writes the yearly totals (from ``reports.figures``) as a streamed workbook.

xlsxwriter in ``constant_memory`` mode: each sheet is written top to bottom and flushed
row by row, so memory stays flat however many enrollments the year has. Strings are
written with ``write_string`` (``strings_to_formulas`` off as well), so a name that starts
with ``=`` stays text.

For programs, each sheet's table is an Excel table with an ASCII name (``TABLES``: 汇总 is
``Summary``...; docs/workbook.md says how to read each with pandas), the chart data sits on
the hidden sheet ``_chart``, and every rate is stored rounded to what its ``0.0%`` format
shows (``shown_rate``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal

import xlsxwriter
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

from exams import figures as exam_rules
from exams.models import HELD, Certificate, CertificateStatus
from personnel import idcard
from personnel.models import InspectorStatus, Sector
from training import rules
from training.models import THREE_SYSTEMS, EnrollmentStatus
from training.selectors import hours_this_year, required_hours_expression

from . import figures as f
from .pipeline import Pipeline
from .selectors import coverage_missing_list, hours_shortfall_list

EXCEL_MAX_ROWS = 1_048_576
SECTOR_LABELS = {s.value: str(s.label) for s in Sector}
STATUS_LABELS = {s.value: str(s.label) for s in InspectorStatus}
ENROLLMENT_LABELS = {s.value: str(s.label) for s in EnrollmentStatus}
CERT_LABELS = {s.value: str(s.label) for s in CertificateStatus}

Progress = Callable[[float, str], None]

# The Excel table on each sheet, by sheet name (明细(2), 明细(3)... get Detail2, Detail3...).
TABLES = {
    "汇总": "Summary",
    "分行业": "BySector",
    "分地区": "ByRegion",
    "分批次": "ByBatch",
    "学时达标": "Hours",
    "明细": "Detail",
    "_chart": "ChartRegionRates",
    "名册": "Roster",
    "学时未达标": "HoursShortfall",
    "三项制度未覆盖": "CoverageMissing",
    "证件申请": "Applications",
    "年审进度": "AnnualReview",
    "制卡": "CardsPrinted",
    "评教": "Evaluations",
    "评教(课程)": "EvaluationsByCourse",
}
CHART_SHEET = "_chart"
# A rate is shown as 0.0%, i.e. to 3 decimals of the fraction; it is stored as shown.
RATE_PLACES = 3
# xlsxwriter's paper size for A4 (``set_paper``).
PAPER_A4 = 9
# 同比 (``figures.YearOnYear``): a count's as a signed percentage, a rate's in points; the
# cell shows exactly ``YearOnYear.text()`` (zero unsigned, as Excel's third section has it).
YOY_PERCENT_FORMAT = "+0.0%;-0.0%;0.0%"
YOY_POINTS_FORMAT = '+0.0" 个百分点";-0.0" 个百分点";0.0" 个百分点"'


def shown_rate(value) -> float:
    """A rate (a fraction) as the workbook's ``0.0%`` format shows it: 0.974, never
    0.9740000000000001 (``97.4 / 100``) nor 0.9743 (``rules.completion_rate`` keeps 4)."""
    return round(float(value), RATE_PLACES)


def _noop(_fraction: float, _message: str) -> None:
    return None


class Book:
    """A workbook with the house formats."""

    def __init__(self, target, *, scope_text: str = "", constant_memory: bool = True):
        self.scope_text = scope_text  # the year and region, in every page's footer
        self.wb = xlsxwriter.Workbook(
            target,
            {
                "constant_memory": constant_memory,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "default_date_format": "yyyy-mm-dd",
            },
        )
        add = self.wb.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.note = add({"italic": True, "font_color": "#666666"})
        self.header = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
        self.text = add({})
        self.indent = add({"indent": 2})
        self.bold = add({"bold": True})
        self.int = add({"num_format": "#,##0", "align": "right"})
        self.dec = add({"num_format": "#,##0.0", "align": "right"})
        self.pct = add({"num_format": "0.0%", "align": "right"})
        self.mean = add({"num_format": "0.00", "align": "right"})
        self.pct_change = add({"num_format": YOY_PERCENT_FORMAT, "align": "right"})
        self.points_change = add({"num_format": YOY_POINTS_FORMAT, "align": "right"})
        self.date = add({"num_format": "yyyy-mm-dd", "align": "right"})
        self.center = add({"align": "center"})

    def sheet(
        self,
        name: str,
        headers: list[tuple[str, int]],
        *,
        title: str | None = None,
        note: str | None = None,
        pages_tall: int = 0,
    ):
        """A sheet with a title line, an optional note, and a frozen header row (on the
        worksheet of that name when ``add_sheets`` made it already), set up for printing
        (``print_setup``): as many pages tall as it needs, or ``pages_tall``."""
        ws = self.wb.get_worksheet_by_name(name) or self.wb.add_worksheet(name)
        for col, (_label, width) in enumerate(headers):
            ws.set_column(col, col, width)
        row = 0
        if title:
            ws.write_string(row, 0, title, self.title)
            row += 1
        if note:
            ws.write_string(row, 0, note, self.note)
            row += 1
        for col, (label, _width) in enumerate(headers):
            ws.write_string(row, col, label, self.header)
        ws.freeze_panes(row + 1, 0)
        self.print_setup(ws, header_row=row, pages_tall=pages_tall)
        return ws, row

    def print_setup(self, ws, *, header_row: int, pages_tall: int = 0) -> None:
        """Print on A4 landscape, one page wide (as many tall as the rows need, or
        ``pages_tall``), the header row on every page, the sheet's name in the page header
        and the scope and "第 n 页，共 N 页" in the footer.

        Page setup is only recorded on the worksheet and written when the workbook closes,
        so in ``constant_memory`` mode it may come at any point, before or after the rows and
        the table (``table``)."""
        ws.set_paper(PAPER_A4)
        ws.set_landscape()
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.fit_to_pages(1, pages_tall)
        ws.repeat_rows(header_row)
        ws.set_header("&R&A", {"margin": 0.25})
        scope = self.scope_text.replace("&", "&&")
        ws.set_footer(f"&L{scope}&C第 &P 页，共 &N 页", {"margin": 0.25})

    def table(self, ws, name: str, top: int, last_row: int, headers: list[tuple[str, int]]) -> None:
        """Make the header row ``top`` (written by ``sheet``) and the rows under it down to
        ``last_row`` the Excel table ``name``, with its autofilter.

        xlsxwriter refuses ``add_table`` in ``constant_memory`` mode (it would write the
        header cells, and a streamed row cannot be written again). Here the rows are all
        written already and the header cells hold the same labels, so the table is added with
        the mode off for the call: only the table part is new; the header cells it would write
        again go to the row buffer of a row already flushed, which is dropped unwritten."""
        if last_row == top:
            # A table has at least one data row: an empty one, written so that the header
            # row is flushed before the table is added.
            last_row = top + 1
            ws.write_blank(last_row, 0, None, self.text)
        streamed = ws.constant_memory
        ws.constant_memory = False
        try:
            added = ws.add_table(
                top,
                0,
                last_row,
                len(headers) - 1,
                {
                    "name": name,
                    "columns": [{"header": label} for label, _width in headers],
                    "style": "Table Style Light 9",
                },
            )
        finally:
            ws.constant_memory = streamed
        if added:
            raise ValueError(f"table {name} not added ({added})")

    def rate(self, ws, row: int, col: int, value, cell_format=None) -> None:
        """A rate, stored as shown (``shown_rate``); blank when there is none."""
        if value is None:
            ws.write_blank(row, col, None, cell_format or self.pct)
        else:
            ws.write_number(row, col, shown_rate(value), cell_format or self.pct)

    def add_sheets(self, *names: str) -> None:
        """Fix the tabs' order up front; the sheets can then be written in any order (each
        one still top to bottom, as ``constant_memory`` wants)."""
        for name in names:
            self.wb.add_worksheet(name)

    def number(self, ws, row: int, col: int, value, kind: str = "int") -> None:
        if value is None:
            ws.write_blank(row, col, None, self.int)
            return
        if kind == "pct":
            self.rate(ws, row, col, value)
        elif kind == "hours" or isinstance(value, Decimal):
            ws.write_number(row, col, float(value), self.dec)
        else:
            ws.write_number(row, col, value, self.int)

    def close(self) -> None:
        self.wb.close()


# --- the yearly workbook ------------------------------------------------------------------------


def yearly_workbook(target, *, scope: f.Scope, actor, include_detail: bool = True, progress: Progress = _noop) -> dict:
    """Write the six sheets for a year and a region scope to ``target`` (path or file).

    The reads run beside the writing (``reports.pipeline``): the big sheets are written
    first, from row streams, while the aggregates for the small ones are computed."""
    where = f"{scope.region.name}（{scope.region.code}）"
    book = Book(target, scope_text=f"{scope.year}年度 · {where}")
    counts = {}
    book.add_sheets(
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
        *(("明细",) if include_detail else ()),
        CHART_SHEET,
    )
    book.wb.get_worksheet_by_name(CHART_SHEET).hide()
    with Pipeline() as reads:
        report = f.Report(scope)
        # The writer starts with the hours sheet, so its query runs alone until its first rows
        # are in; then the other readers start: the small results in the order they are
        # needed, and the two other row streams.
        hours = reads.rows("hours", lambda: f.hours_rows(scope))
        first = list(itertools.islice(hours, 1))
        total, exams, topics, prepared = reads.values(
            "figures",
            (lambda: f.detail_rows(scope).count()) if include_detail else (lambda: 0),
            lambda: f.batch_exams(scope),
            f.topic_labels,
            lambda: report.prepare(actor),
        )
        if include_detail:
            detail = reads.rows("detail", lambda: f.detail_rows(scope).iterator(chunk_size=2000))
        batches = reads.rows("batches", lambda: f.batch_rows(scope).iterator(chunk_size=2000))

        progress(0.02, "学时达标")
        counts["inspectors"] = _hours_sheet(book, scope, where, itertools.chain(first, hours))
        if include_detail:
            progress(0.15, "明细")
            counts["enrollments"] = _detail_sheets(book, scope, where, detail, total.get(), progress)
        progress(0.86, "分批次")
        counts["batches"] = _batch_sheet(book, scope, where, batches, exams.get(), topics.get())
        progress(0.88, "汇总")
        report = prepared.get()
        _summary_sheet(book, scope, where, report)
        progress(0.89, "分行业")
        _sector_sheet(book, scope, actor, where, report)
        progress(0.90, "分地区")
        _region_sheet(book, scope, where, report)
        progress(0.91, "证件申请")
        _applications_sheet(book, scope, actor, where)
        _annual_review_sheet(book, scope, actor, where)
        _cards_sheet(book, scope, where)
        progress(0.915, "评教")
        _evaluation_sheets(book, scope, where)
    progress(0.92, "压缩保存")
    book.close()
    progress(1.0, "完成")
    return counts


def _summary_sheet(book: Book, scope: f.Scope, where: str, report: f.Report) -> None:
    rows = report.summary()
    headers = [("指标", 26), (f"{scope.year}年", 14), (f"{scope.year - 1}年", 14), ("同比", 18), ("说明", 18)]
    ws, top = book.sheet(
        "汇总",
        headers,
        title=f"{scope.year}年度执法人员培训考核与持证情况汇总 · {where}",
        note="人次：一人参加多期计多人次；人数：同一人只计一次。比率类指标的同比为百分点差。",
        pages_tall=1,
    )
    r = top
    for row in rows:
        r += 1
        ws.write_string(r, 0, row["label"])
        book.number(ws, r, 1, row["current"], row["kind"])
        book.number(ws, r, 2, row["previous"], row["kind"])
        # 同比 as the overview page shows it (``figures.year_on_year``): a rate's in
        # percentage points ("+6.9 个百分点"), a count's relative ("+500.0%").
        yoy = f.year_on_year(row)
        if yoy.value is None:
            ws.write_blank(r, 3, None)
            ws.write_string(r, 4, "无可比数据" if yoy.points else ("上年为0，不计同比" if yoy.previous_zero else ""))
        else:
            ws.write_number(r, 3, yoy.value or 0.0, book.points_change if yoy.points else book.pct_change)
            if yoy.points:
                ws.write_string(r, 4, "百分点差")
    book.table(ws, TABLES["汇总"], top, r, headers)
    # A chart of the main counts, this year against last.
    main = [i for i, row in enumerate(rows) if row["key"] in CHART_FIGURES]
    chart = book.wb.add_chart({"type": "column"})
    first, last = top + 1 + main[0], top + 1 + main[-1]
    for col, name in ((1, f"{scope.year}年"), (2, f"{scope.year - 1}年")):
        chart.add_series(
            {
                "name": name,
                "categories": ["汇总", first, 0, last, 0],
                "values": ["汇总", first, col, last, col],
                "data_labels": {"value": True},
            }
        )
    chart.set_title({"name": f"主要指标同比（{scope.year}年 vs {scope.year - 1}年）"})
    chart.set_size({"width": SUMMARY_CHART[0], "height": SUMMARY_CHART[1]})
    ws.insert_chart(top + 1, len(headers) + 1, chart)
    # The page is the table and the chart beside it (a chart is not a cell: without the
    # area Excel may leave it out); one page, about 80% of the screen size.
    chart_cols = -(-SUMMARY_CHART[0] // DEFAULT_COLUMN_PX)
    chart_rows = -(-SUMMARY_CHART[1] // DEFAULT_ROW_PX)
    ws.print_area(0, 0, max(r, top + chart_rows), len(headers) + chart_cols)


# The 汇总 chart's size in pixels, and Excel's default column width and row height in pixels.
SUMMARY_CHART = (600, 380)
DEFAULT_COLUMN_PX, DEFAULT_ROW_PX = 64, 20


# Consecutive in SUMMARY_FIGURES, so the chart's range is one block.
CHART_FIGURES = {"person_times", "persons", "completions", "no_shows"}


def _group_headers() -> list[tuple[str, int]]:
    return [(f.LABELS[k], 11) for k in f.GROUP_FIGURES]


def _write_group(book: Book, ws, r: int, c: int, row: dict) -> int:
    for key in f.GROUP_FIGURES:
        book.number(ws, r, c, row.get(key), f.KINDS[key])
        c += 1
    return c


def _sector_sheet(book: Book, scope: f.Scope, actor, where: str, report: f.Report) -> None:
    rows = report.by_sector(actor)
    coverage_headers = []
    for label in ("公示制度", "全过程记录", "法制审核", "三项全部"):
        coverage_headers += [(f"{label}·已培训人数", 12), (f"{label}·覆盖率", 10)]
    headers = [("行业", 14), *_group_headers(), *coverage_headers]
    ws, top = book.sheet("分行业", headers, title=f"{scope.year}年度分行业情况 · {where}", pages_tall=1)
    for i, row in enumerate(rows, start=1):
        r = top + i
        ws.write_string(r, 0, row["label"])
        c = _write_group(book, ws, r, 1, row)
        for topic in ("publicity", "process_recording", "legal_review", "all_three"):
            book.number(ws, r, c, row[f"cov_{topic}"])
            book.number(ws, r, c + 1, row[f"cov_{topic}_rate"], "pct")
            c += 2
    book.table(ws, TABLES["分行业"], top, top + len(rows), headers)
    chart = book.wb.add_chart({"type": "bar"})
    col = 1 + f.GROUP_FIGURES.index("person_times")
    chart.add_series(
        {
            "name": "培训人次",
            "categories": ["分行业", top + 1, 0, top + len(rows), 0],
            "values": ["分行业", top + 1, col, top + len(rows), col],
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": "分行业培训人次"})
    chart.set_legend({"none": True})
    ws.insert_chart(top + len(rows) + 2, 0, chart)


def _region_sheet(book: Book, scope: f.Scope, where: str, report: f.Report) -> None:
    rows = report.by_region(include_own_office=True)
    headers = [("排名", 6), ("地区", 22), ("级别", 6), *_group_headers()]
    ws, top = book.sheet(
        "分地区",
        headers,
        title=f"{scope.year}年度分地区情况与量化排名 · {where}",
        note="排名依据：结业率，其次学时达标率。区县缩进列于所属市之下；“本级”为该地区机关本身（不含下辖地区）。",
    )
    cities = [row for row in rows if row["rank"] is not None]
    r = top
    for row in rows:
        r += 1
        if row["rank"] is not None:
            ws.write_number(r, 0, row["rank"], book.int)
        else:
            ws.write_blank(r, 0, None)
        region = row["region"]
        name = f"{region.name}本级" if row.get("own_office") else region.name
        ws.write_string(r, 1, name, book.bold if row["level"] == 0 else book.indent)
        ws.write_string(r, 2, f.region_level_label(region) if not row.get("own_office") else "本级")
        _write_group(book, ws, r, 3, row)
    book.table(ws, TABLES["分地区"], top, r, headers)
    # The chart's data, one city per row in rank order, on the hidden sheet (beside the
    # table it would sit in the rows of other regions).
    data = [("地区", 14), ("结业率", 10)]
    chart_ws, chart_top = book.sheet(CHART_SHEET, data)
    for i, city in enumerate(cities, start=1):
        chart_ws.write_string(chart_top + i, 0, city["region"].name)
        book.rate(chart_ws, chart_top + i, 1, city["completion_rate"])
    book.table(chart_ws, TABLES[CHART_SHEET], chart_top, chart_top + len(cities), data)
    if cities:
        chart = book.wb.add_chart({"type": "bar"})
        chart.add_series(
            {
                "name": "结业率",
                "categories": [CHART_SHEET, chart_top + 1, 0, chart_top + len(cities), 0],
                "values": [CHART_SHEET, chart_top + 1, 1, chart_top + len(cities), 1],
                "data_labels": {"value": True, "num_format": "0.0%"},
            }
        )
        chart.set_title({"name": "各地区结业率（按排名）"})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})
        chart.set_size({"width": 640, "height": max(320, 26 * len(cities))})
        # Below the table, not beside it: printed one page wide, a chart beside the table
        # shrank the table to half its size.
        ws.insert_chart(r + 2, 1, chart)


def _applications_sheet(book: Book, scope: f.Scope, actor, where: str) -> None:
    """证件申请: applications per kind and state (``figures.applications_by_kind_state``)."""
    from exams.models import ApplicationState

    headers = [("申请类别", 14), *((str(state.label), 10) for state in ApplicationState), ("合计", 10)]
    ws, top = book.sheet(
        "证件申请",
        headers,
        title=f"{scope.year}年度证件申请（按类别和状态） · {where}",
        note="按申请提出的年度统计；申请单位在本地区及其下级地区。",
    )
    r = top
    for row in f.applications_by_kind_state(scope, actor):
        r += 1
        ws.write_string(r, 0, row["label"], book.bold if row["kind"] is None else book.text)
        for c, state in enumerate(ApplicationState, start=1):
            book.number(ws, r, c, row[state.value])
        book.number(ws, r, len(headers) - 1, row["total"])
    book.table(ws, TABLES["证件申请"], top, r, headers)


ANNUAL_REVIEW_COLUMNS = (
    ("due", "应年审"),
    ("applied", "已申请"),
    ("approved", "已通过"),
    ("returned", "已退回"),
    ("pending", "审批中"),
    ("overdue", "逾期"),
)


def _annual_review_sheet(book: Book, scope: f.Scope, actor, where: str) -> None:
    """年审进度: the annual review per city (``figures.annual_review_by_city``)."""
    headers = [("地区", 14), *((label, 10) for _key, label in ANNUAL_REVIEW_COLUMNS), ("截止日期", 12)]
    ws, top = book.sheet(
        "年审进度",
        headers,
        title=f"{scope.year}年度年审进度（按市） · {where}",
        note="应年审：持有有效或暂扣证件的人数；逾期：截止日期已过仍未通过的人数。",
    )
    r = top
    for row in f.annual_review_by_city(scope, actor):
        r += 1
        ws.write_string(r, 0, row["region_name"])
        for c, (key, _label) in enumerate(ANNUAL_REVIEW_COLUMNS, start=1):
            book.number(ws, r, c, row[key])
        if row["deadline"] is not None:
            ws.write_datetime(r, len(headers) - 1, dt.datetime.combine(row["deadline"], dt.time()), book.date)
        else:
            ws.write_blank(r, len(headers) - 1, None)
    book.table(ws, TABLES["年审进度"], top, r, headers)


def _cards_sheet(book: Book, scope: f.Scope, where: str) -> None:
    """制卡: cards printed in the year per region (``figures.cards_printed_by_region``)."""
    headers = [("地区", 16), ("制卡张数", 10)]
    ws, top = book.sheet(
        "制卡", headers, title=f"{scope.year}年度制卡（按地区） · {where}", note="当年打印的执法证张数（含补办）。"
    )
    r = top
    for row in f.cards_printed_by_region(scope):
        r += 1
        ws.write_string(r, 0, row["label"], book.bold if row["region"] is None else book.text)
        book.number(ws, r, 1, row["cards"])
    book.table(ws, TABLES["制卡"], top, r, headers)


# 评教's columns after each sheet's own: (figure, header, kind); the means are numbers shown to two places.
EVALUATION_COLUMNS = (
    ("completers", "结业人数", "int"),
    ("evaluations", "评价份数", "int"),
    ("response_rate", "参评率", "pct"),
    ("content", "课程内容", "mean"),
    ("trainer", "授课教师", "mean"),
    ("organisation", "组织安排", "mean"),
    ("overall", "综合平均分", "mean"),
)
EVALUATION_NOTE = (
    "本地区及下级组织的当年批次（按批次年度）的全部结业学员；评分 1-5 分，匿名；参评率 = 评价份数 / 结业人数。"
)


def _evaluation_cells(book: Book, ws, r: int, c: int, row: dict) -> None:
    for offset, (key, _label, kind) in enumerate(EVALUATION_COLUMNS):
        value = row[key]
        if kind == "mean":
            if value is None:
                ws.write_blank(r, c + offset, None, book.mean)
            else:
                ws.write_number(r, c + offset, value, book.mean)
        else:
            book.number(ws, r, c + offset, value, kind)


def _evaluation_sheets(book: Book, scope: f.Scope, where: str) -> None:
    """评教: per batch (``figures.evaluations_by_batch``) and 评教(课程): per course, with the
    合计 row (``figures.evaluations_by_course``)."""
    figures_headers = [(label, 10) for _key, label, _kind in EVALUATION_COLUMNS]
    headers = [("批次", 14), ("课程", 36), ("组织单位", 14), ("开始日期", 12), ("结束日期", 12), *figures_headers]
    ws, top = book.sheet("评教", headers, title=f"{scope.year}年度评教（按批次） · {where}", note=EVALUATION_NOTE)
    r = top
    for row in f.evaluations_by_batch(scope):
        r += 1
        ws.write_string(r, 0, row["label"])
        ws.write_string(r, 1, row["course"])
        ws.write_string(r, 2, row["organiser"])
        ws.write_datetime(r, 3, dt.datetime.combine(row["starts_on"], dt.time()), book.date)
        ws.write_datetime(r, 4, dt.datetime.combine(row["ends_on"], dt.time()), book.date)
        _evaluation_cells(book, ws, r, 5, row)
    book.table(ws, TABLES["评教"], top, r, headers)

    headers = [("课程编号", 12), ("课程", 36), ("批次数", 8), *figures_headers]
    ws, top = book.sheet("评教(课程)", headers, title=f"{scope.year}年度评教（按课程） · {where}", note=EVALUATION_NOTE)
    r = top
    for row in f.evaluations_by_course(scope):
        r += 1
        total = row["course"] is None
        ws.write_string(r, 0, row["code"])
        ws.write_string(r, 1, row["title"], book.bold if total else book.text)
        book.number(ws, r, 2, row["batches"])
        _evaluation_cells(book, ws, r, 3, row)
    book.table(ws, TABLES["评教(课程)"], top, r, headers)


def _batch_sheet(book: Book, scope: f.Scope, where: str, batches: Iterable, exams: dict, topics: dict) -> int:
    headers = [
        ("批次", 14),
        ("课程", 36),
        ("专题", 22),
        ("行业", 12),
        ("组织单位", 14),
        ("开始日期", 12),
        ("结束日期", 12),
        ("名额", 8),
        ("报名人次", 10),
        ("结业", 8),
        ("缺席", 8),
        ("候补", 8),
        ("参考人次", 10),
        ("考试合格率", 10),
    ]
    ws, top = book.sheet("分批次", headers, title=f"{scope.year}年度分批次情况 · {where}")
    r = top
    for (
        label,
        course,
        topic,
        sector,
        organizer,
        starts_on,
        ends_on,
        capacity,
        enrolled,
        completed,
        no_show,
        waitlisted,
        sat,
        pass_rate,
    ) in (batch_values(row, exams, topics) for row in batches):
        r += 1
        ws.write_string(r, 0, label)
        ws.write_string(r, 1, course)
        ws.write_string(r, 2, topic)
        ws.write_string(r, 3, sector)
        ws.write_string(r, 4, organizer)
        ws.write_datetime(r, 5, starts_on, book.date)
        ws.write_datetime(r, 6, ends_on, book.date)
        ws.write_number(r, 7, capacity, book.int)
        ws.write_number(r, 8, enrolled, book.int)
        ws.write_number(r, 9, completed, book.int)
        ws.write_number(r, 10, no_show, book.int)
        ws.write_number(r, 11, waitlisted, book.int)
        ws.write_number(r, 12, sat, book.int)
        book.number(ws, r, 13, pass_rate, "pct")
    book.table(ws, TABLES["分批次"], top, r, headers)
    return r - top


def batch_values(row: tuple, exams: dict, topics: dict) -> tuple:
    """One ``figures.batch_rows`` tuple as the 分批次 sheet shows it, with its sittings'
    candidates who sat and pass rate (``figures.batch_exams``) and its course's topics."""
    batch_id, year, number, course_id, course, sector, organizer, *dates_and_counts = row
    sat, passed = exams.get(batch_id, (0, 0))
    return (
        f"{year}年第{number}批",
        course,
        topics.get(course_id, ""),
        SECTOR_LABELS.get(sector, "综合"),
        organizer,
        *dates_and_counts,
        sat,
        exam_rules.pass_rate(passed, sat),
    )


def _hours_sheet(book: Book, scope: f.Scope, where: str, rows: Iterable[tuple]) -> int:
    headers = [
        ("姓名", 10),
        ("身份证号", 20),
        ("地区", 14),
        ("行业", 12),
        ("状态", 8),
        (f"{scope.year}年学时", 10),
        ("应修学时", 10),
        ("是否达标", 8),
    ]
    ws, top = book.sheet("学时达标", headers, title=f"{scope.year}年度执法人员学时达标情况 · {where}")
    r = top
    write_string, write_number = ws.write_string, ws.write_number
    dec, mask = book.dec, idcard.mask
    for name, national_id, region, sector, status, hours, required in rows:
        r += 1
        write_string(r, 0, name)
        write_string(r, 1, mask(national_id))
        write_string(r, 2, region)
        write_string(r, 3, SECTOR_LABELS.get(sector, sector))
        write_string(r, 4, STATUS_LABELS.get(status, status))
        write_number(r, 5, float(hours), dec)
        write_number(r, 6, float(required), dec)
        write_string(r, 7, "达标" if rules.hours_met(hours, required) else "未达标")
    book.table(ws, TABLES["学时达标"], top, r, headers)
    return r - top


DETAIL_HEADERS = [
    ("年度", 6),
    ("批次", 6),
    ("课程", 36),
    ("组织单位", 14),
    ("开始日期", 12),
    ("结束日期", 12),
    ("姓名", 10),
    ("身份证号", 20),
    ("所属地区", 14),
    ("行业", 12),
    ("状态", 8),
    ("认定学时", 8),
]


def detail_values(row: tuple) -> tuple:
    """One ``figures.detail_rows`` tuple as the 明细 sheet (and the CSV detail) shows it: the
    ID number masked, sector and status as their labels, hours a float; the rest as read."""
    year, number, course, organizer, start, end, name, nid, region, sector, status, hours = row
    return (
        year,
        number,
        course,
        organizer,
        start,
        end,
        name,
        idcard.mask(nid),
        region,
        SECTOR_LABELS.get(sector, sector),
        ENROLLMENT_LABELS.get(status, status),
        float(hours),
    )


def detail_table(sheet_no: int) -> str:
    """The table of 明细 (``Detail``) and of its continuations 明细(2)... (``Detail2``...)."""
    return TABLES["明细"] if sheet_no == 1 else f"{TABLES['明细']}{sheet_no}"


def _detail_sheets(book: Book, scope: f.Scope, where: str, rows: Iterable[tuple], total: int, progress) -> int:
    return write_detail(book, rows, total=total, title=f"{scope.year}年度报名明细 · {where}", progress=progress)


def write_detail(book: Book, rows: Iterable[tuple], *, total: int, title: str, progress: Progress = _noop) -> int:
    """Stream detail rows, continuing on 明细(2), 明细(3)... past Excel's row limit."""
    sheet_no = 1
    ws, top = book.sheet("明细", DETAIL_HEADERS, title=title)
    limit = EXCEL_MAX_ROWS - 1
    r = top
    written = 0
    write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
    date_fmt, dec = book.date, book.dec
    step = max(total // 40, 1)
    for year, number, course, organizer, start, end, name, nid, region, sector, status, hours in map(
        detail_values, rows
    ):
        if r >= limit:
            book.table(ws, detail_table(sheet_no), top, r, DETAIL_HEADERS)
            sheet_no += 1
            ws, top = book.sheet(f"明细({sheet_no})", DETAIL_HEADERS, title=f"{title}（续{sheet_no - 1}）")
            write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
            r = top
        r += 1
        write_number(r, 0, year)
        write_number(r, 1, number)
        write_string(r, 2, course)
        write_string(r, 3, organizer)
        write_datetime(r, 4, start, date_fmt)
        write_datetime(r, 5, end, date_fmt)
        write_string(r, 6, name)
        write_string(r, 7, nid)
        write_string(r, 8, region)
        write_string(r, 9, sector)
        write_string(r, 10, status)
        write_number(r, 11, hours, dec)
        written += 1
        if written % step == 0 and total:
            progress(0.15 + 0.7 * written / total, "明细")
    book.table(ws, detail_table(sheet_no), top, r, DETAIL_HEADERS)
    return written


# --- the roster export ------------------------------------------------------------------------------


def roster_workbook(target, *, scope: f.Scope, progress: Progress = _noop) -> int:
    """Inspectors in scope with sector, region, certificate status and hours this year."""
    book = Book(target, scope_text=f"{scope.year}年 · {scope.region.name}（{scope.region.code}）")
    headers = [
        ("姓名", 10),
        ("身份证号", 20),
        ("所属地区", 14),
        ("行业", 12),
        ("职务", 16),
        ("状态", 8),
        ("执法证号", 16),
        ("证件状态", 8),
        ("有效期至", 12),
        (f"{scope.year}年学时", 10),
        ("应修学时", 10),
    ]
    ws, top = book.sheet("名册", headers, title=f"执法人员名册（{scope.year}年学时） · {scope.region.name}")
    # The certificate shown is the one held (valid or suspended), else the latest one.
    held = Certificate.objects.filter(holder=OuterRef("pk"), status__in=HELD).order_by("-issued_on")
    latest = Certificate.objects.filter(holder=OuterRef("pk")).order_by("-issued_on", "-id")

    def pick(field):
        return Coalesce(Subquery(held.values(field)[:1]), Subquery(latest.values(field)[:1]))

    rows = (
        f._inspectors(scope)
        .annotate(
            cert_number=pick("number"),
            cert_status=pick("status"),
            cert_until=pick("valid_until"),
            h=hours_this_year(scope.year),
            req=required_hours_expression(year=scope.year),
        )
        .order_by("region__path", "name", "id")
        .values_list(
            "name",
            "national_id",
            "region__name",
            "sector",
            "position",
            "status",
            "cert_number",
            "cert_status",
            "cert_until",
            "h",
            "req",
        )
    )
    r = top
    with Pipeline() as reads:
        stream = reads.rows("roster", lambda: rows.iterator(chunk_size=2000))
        for name, nid, region, sector, position, status, number, cstatus, until, hours, req in stream:
            r += 1
            ws.write_string(r, 0, name)
            ws.write_string(r, 1, idcard.mask(nid))
            ws.write_string(r, 2, region)
            ws.write_string(r, 3, SECTOR_LABELS.get(sector, sector))
            ws.write_string(r, 4, position or "")
            ws.write_string(r, 5, STATUS_LABELS.get(status, status))
            ws.write_string(r, 6, number or "")
            ws.write_string(r, 7, CERT_LABELS.get(cstatus, "无证") if cstatus else "无证")
            if until:
                ws.write_datetime(r, 8, until, book.date)
            else:
                ws.write_blank(r, 8, None)
            ws.write_number(r, 9, float(hours), book.dec)
            ws.write_number(r, 10, float(req), book.dec)
    book.table(ws, TABLES["名册"], top, r, headers)
    progress(0.9, "压缩保存")
    book.close()
    return r - top


# --- the office's lists -----------------------------------------------------------------------------

COVERED, MISSING = "✓", "✗"


def hours_shortfall_workbook(target, *, scope: f.Scope, actor) -> int:
    """学时未达标名单: the active inspectors of the scope short of their required hours in the
    year (``reports.selectors.hours_shortfall_list``), with how many hours they lack."""
    where = f"{scope.region.name}（{scope.region.code}）"
    book = Book(target, scope_text=f"{scope.year}年度 · {where}")
    headers = [
        ("姓名", 10),
        ("所属单位", 16),
        ("行业", 12),
        ("身份证号", 20),
        (f"{scope.year}年学时", 10),
        ("应修学时", 10),
        ("差额", 10),
    ]
    ws, top = book.sheet(
        "学时未达标",
        headers,
        title=f"{scope.year}年度学时未达标名单 · {where}",
        note="在岗执法人员中本年度学时未达到应修学时者；差额 = 应修学时 - 已修学时。身份证号已脱敏。",
    )
    rows = hours_shortfall_list(actor=actor, scope=scope).values_list(
        "name", "region__name", "sector", "national_id", "hours", "required"
    )
    r = top
    for name, region, sector, national_id, hours, required in rows.iterator(chunk_size=2000):
        r += 1
        ws.write_string(r, 0, name)
        ws.write_string(r, 1, region)
        ws.write_string(r, 2, SECTOR_LABELS.get(sector, sector))
        ws.write_string(r, 3, idcard.mask(national_id))
        ws.write_number(r, 4, float(hours), book.dec)
        ws.write_number(r, 5, float(required), book.dec)
        ws.write_number(r, 6, float(required - hours), book.dec)
    book.table(ws, TABLES["学时未达标"], top, r, headers)
    book.close()
    return r - top


def coverage_missing_workbook(target, *, scope: f.Scope, actor) -> int:
    """三项制度未覆盖名单: the active inspectors of the scope who did not complete a course on
    one or more of the three systems in the year (``reports.selectors.coverage_missing_list``),
    one row each, a column per system: ✓ completed, ✗ missing."""
    where = f"{scope.region.name}（{scope.region.code}）"
    book = Book(target, scope_text=f"{scope.year}年度 · {where}")
    topics = [str(topic) for topic in THREE_SYSTEMS]
    headers = [
        ("姓名", 10),
        ("所属单位", 16),
        ("行业", 12),
        ("身份证号", 20),
        *((str(topic.label), 14) for topic in THREE_SYSTEMS),
        ("缺少项数", 8),
    ]
    ws, top = book.sheet(
        "三项制度未覆盖",
        headers,
        title=f"{scope.year}年度“三项制度”培训未覆盖名单 · {where}",
        note=f"在岗执法人员中本年度未完成其中至少一项制度培训者：{COVERED} 已培训，{MISSING} 未培训。身份证号已脱敏。",
    )
    rows = coverage_missing_list(actor=actor, scope=scope).values_list(
        "name", "region__name", "sector", "national_id", *(f"lacks_{topic}" for topic in topics)
    )
    r = top
    for name, region, sector, national_id, *lacks in rows.iterator(chunk_size=2000):
        r += 1
        ws.write_string(r, 0, name)
        ws.write_string(r, 1, region)
        ws.write_string(r, 2, SECTOR_LABELS.get(sector, sector))
        ws.write_string(r, 3, idcard.mask(national_id))
        for i, lacking in enumerate(lacks):
            ws.write_string(r, 4 + i, MISSING if lacking else COVERED, book.center)
        ws.write_number(r, 4 + len(lacks), sum(lacks), book.int)
    book.table(ws, TABLES["三项制度未覆盖"], top, r, headers)
    book.close()
    return r - top
