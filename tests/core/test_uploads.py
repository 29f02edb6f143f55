"""The upload reader against hostile files: each is refused with a clear message (an
UploadError, never another exception), and the process that reads it stays under
MEMORY_BOUND_MB of peak RSS, measured in a child process whose address space is capped so a
bug fails the test instead of eating the machine (one child reads them all, its peak reset
before each file; see ``in_child`` at the end)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import python_calamine
import xlsxwriter

import core.uploads.xlsx as xlsx_reader
from core.uploads import (
    CellValueError,
    RowError,
    UploadError,
    UploadLimits,
    cell_text,
    column_letter,
    decimal_value,
    read_rows,
    text_value,
)
from tests.core import hostile
from tests.core.hostile import cell, member, one_sheet, row, sheet_xml, workbook_parts, xlsx, zip_of

REPO = Path(__file__).resolve().parents[2]
MEMORY_BOUND_MB = 160  # peak RSS of the reading process, Django and python-calamine loaded
ADDRESS_SPACE_MB = 2048  # the child's RLIMIT_AS: a blow-up raises MemoryError and fails the test

CHILD = r"""
import ctypes, gc, json, resource, sys
cap = int(sys.argv[2]) << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from django.conf import settings
settings.configure(USE_I18N=True, LANGUAGE_CODE="zh-hans", LOCALE_PATHS=[sys.argv[3]])
import django
django.setup()
from core.uploads import UploadError, UploadLimits, read_rows


def peak_mb():
    # VmHWM: the peak RSS since exec or since the last reset (ru_maxrss would also count
    # the parent's pages at the fork, and cannot be reset).
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


for case in json.load(open(sys.argv[1])):
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")  # start this file's peak from what the process holds now
    outcome = {"rows": 0, "held_mb": peak_mb()}
    data = open(case["path"], "rb").read()
    try:
        for row in read_rows(data, case["filename"], limits=UploadLimits(**case["limits"])):
            outcome["rows"] += 1
    except UploadError as exc:
        outcome.update(error=str(exc), row=exc.row, column=exc.column)
    del data
    outcome["peak_mb"] = peak_mb()
    print(json.dumps({case["key"]: outcome}), flush=True)
"""


def read_in_child(tmp_path, cases: dict[str, tuple]) -> dict[str, dict]:
    """Read each file, one after the other, in one fresh process with a capped address
    space: per file its outcome (rows read, or the UploadError) and its peak RSS. Any other
    exception, or a crash, fails every test that asks for a file not read."""
    listing = []
    for number, (key, (data, filename, overrides)) in enumerate(cases.items()):
        path = tmp_path / f"upload{number}.bin"
        path.write_bytes(data)
        limits = dataclasses.asdict(UploadLimits.from_settings(**overrides))
        listing.append({"key": key, "path": str(path), "filename": filename, "limits": limits})
    (tmp_path / "cases.json").write_text(json.dumps(listing))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "cases.json"), str(ADDRESS_SPACE_MB), str(REPO / "locale")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    outcomes = {}
    for line in done.stdout.splitlines():
        outcomes.update(json.loads(line))
    for key in cases:
        outcomes.setdefault(key, {"crashed": done.returncode, "stderr": done.stderr[-3000:]})
    return outcomes


def read(data: bytes, filename: str = "upload.xlsx", **overrides) -> list[list]:
    return list(read_rows(data, filename, limits=UploadLimits.from_settings(**overrides)))


def refusal(data: bytes, filename: str = "upload.xlsx", **overrides) -> UploadError:
    with pytest.raises(UploadError) as caught:
        read(data, filename, **overrides)
    assert caught.value.message
    return caught.value


@pytest.fixture(params=["dense", "stream"])
def path(request, monkeypatch):
    """Run a test through both ways of reading an .xlsx: python-calamine on a checked small
    sheet, and the expat stream (forced by making no sheet small enough)."""
    if request.param == "stream":
        monkeypatch.setattr(xlsx_reader, "DENSE_CELLS", -1)
    return request.param


def calamine_rows(data: bytes) -> list[list]:
    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    rows = []
    for values in sheet.to_python(skip_empty_area=False):
        values = list(values)
        while values and values[-1] == "":
            values.pop()
        rows.append(values)
    return rows


# --- good files: the values python-calamine gave, by either path ------------------------------


def varied_workbook() -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("名册")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    clock = book.add_format({"num_format": "hh:mm"})
    chinese = book.add_format({"num_format": 'yyyy"年"m"月"d"日"'})
    sheet.write_row(0, 0, ["序号", "姓名", "身份证号", "分数", "在岗", "备注"])
    sheet.write_row(1, 0, [1, "张三", "130102199001010011", 85.5, True, "a_x0041_b"])
    sheet.write_row(2, 0, [2, "李四 ", "13010219900101002X", 60, False, "  "])
    sheet.write_datetime(3, 1, dt.datetime(2019, 3, 1), date)
    sheet.write_datetime(3, 2, dt.datetime(2019, 3, 1, 10, 30), moment)
    sheet.write_datetime(3, 3, dt.datetime(1899, 12, 31, 8, 15), clock)
    sheet.write_datetime(3, 4, dt.datetime(2020, 2, 29), chinese)
    sheet.write_formula(4, 0, "=1+1", None, 2)
    sheet.write_formula(4, 1, '="x"&"y"', None, "xy")
    sheet.write(7, 3, "far but within")
    sheet.write_rich_string(8, 1, "富", book.add_format({"bold": True}), "文本")
    sheet.write_number(9, 2, 1e16)
    book.close()
    return buffer.getvalue()


def test_a_good_workbook_reads_as_python_calamine_reads_it(path):
    # given
    data = varied_workbook()
    # when
    rows = read(data, "名册.xlsx")
    # then
    assert rows == calamine_rows(data)
    assert rows[1][:4] == [1.0, "张三", "130102199001010011", 85.5]
    assert rows[3][1:5] == [
        dt.date(2019, 3, 1),
        dt.datetime(2019, 3, 1, 10, 30),
        dt.time(8, 15),
        dt.date(2020, 2, 29),
    ]
    assert rows[5] == rows[6] == []


def test_hand_made_cells_without_places_and_with_prefixes_read_by_position(path):
    # given: cells and rows without r="", names with a prefix, the strict namespace
    rows_xml = (
        '<x:row><x:c t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c><x:c><x:v>2</x:v></x:c></x:row>'
        '<x:row r="3"><x:c r="C3" t="s"><x:v>0</x:v></x:c></x:row>'
    )
    sheet = (f'<x:worksheet xmlns:x="{hostile.MAIN}"><x:sheetData>{rows_xml}</x:sheetData></x:worksheet>').encode()
    data = xlsx(workbook_parts([("S", sheet)], strings=["共享"]))
    # when
    rows = read(data)
    # then
    assert rows == [["a", 2.0], [], ["", "", "共享"]]


def test_rows_without_places_take_their_cells_places(path):
    # given: <row> without r="", its cells with theirs (rows 1 and 4)
    data = one_sheet(row(None, cell("A1", "a")) + row(None, cell("B4", "b"), cell("C4", "c")))
    # when / then
    assert read(data) == [["a"], [], [], ["", "b", "c"]] == calamine_rows(data)


def test_a_shared_string_index_outside_the_table_is_damage(monkeypatch):
    # given: the stream (python-calamine gives such a cell as empty, which is as safe)
    monkeypatch.setattr(xlsx_reader, "DENSE_CELLS", -1)
    for index in (-1, 1, 10**12):
        error = refusal(one_sheet(row(1, cell("A1", ("s", index))), strings=["a"]))
        assert "无法读取" in error.message


def test_rich_text_and_phonetic_runs_keep_only_the_text(path):
    # given
    strings = (
        f'<sst xmlns="{hostile.MAIN}"><si><r><rPr><b/></rPr><t>张</t></r><r><t>三</t></r>'
        "<rPh sb='0' eb='1'><t>zhang</t></rPh></si></sst>"
    ).encode()
    data = one_sheet(row(1, cell("A1", ("s", 0)), cell("B1", "x")), strings=strings)
    # when / then
    assert read(data) == [["张三", "x"]]


@pytest.mark.parametrize("date1904", [False, True])
def test_date_formatted_numbers_are_the_dates_python_calamine_gives(path, date1904):
    # given: times, the 1900 leap-year bug, the last day Excel knows and past it, negatives
    values = [0, 0.5, 1, 1.25, 59, 60, 61, 2958465, 2958466, -1, 1e10]
    data = one_sheet("".join(row(i, cell(f"A{i}", v, style=1)) for i, v in enumerate(values, 1)), date1904=date1904)
    # when / then
    assert read(data) == calamine_rows(data)


def test_the_only_sheet_with_data_is_read_even_when_not_first(path):
    # given: an empty first sheet, the people on the second
    sheets = [("说明", sheet_xml("")), ("名册", sheet_xml(row(1, cell("A1", "姓名"))))]
    # when / then
    assert read(xlsx(workbook_parts(sheets))) == [["姓名"]]


def test_existing_callers_api_is_unchanged():
    # given: the call the imports make, no limits given
    data = one_sheet(row(1, cell("A1", "姓名"), cell("B1", 1.0)))
    # when
    rows = read_rows(data, "名册.xlsx")
    # then
    assert next(rows) == ["姓名", 1.0]
    assert cell_text(1.0) == "1" and column_letter(27) == "AB"
    assert str(RowError(3, "B 身份证号", "坏")) == "第3行 B 身份证号: 坏"
    assert UploadError("x").as_row_error() == RowError(0, "", "x")


# --- hostile .xlsx: refused before or while reading, memory bounded ------------------------------


def far_cell(dimension: str | None, ref: str = "XFD1048576") -> bytes:
    return one_sheet(row(1, cell("A1", "姓名")) + row(int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), cell(ref, 1)),
                     dimension=dimension)  # fmt: skip


def strings_bomb(*, declared: int | None = None, gigabytes: float = 1.0) -> bytes:
    block = (b"<si><t>" + b"a" * 4000 + b"</t></si>") * 262  # ~1 MiB, long runs: ~1000:1
    head = f'<sst xmlns="{hostile.MAIN}">'.encode()
    bomb = hostile.bomb_member("xl/sharedStrings.xml", head, block, int(gigabytes * 1024), b"</sst>",
                               declared_size=declared)  # fmt: skip
    parts = workbook_parts([("Sheet1", sheet_xml(row(1, cell("A1", ("s", 0)))))], strings=b"")
    del parts["xl/sharedStrings.xml"]
    return zip_of([member(n, c) for n, c in parts.items()] + [bomb])


def many_sheets(count: int) -> bytes:
    sheets = [(f"S{i}", sheet_xml("")) for i in range(count - 1)] + [("data", sheet_xml(row(1, cell("A1", "x"))))]
    return xlsx(workbook_parts(sheets))


def lying_size(data: bytes, name: str, size: int) -> bytes:
    """The same zip with ``name``'s declared unpacked size changed in both headers."""
    raw = bytearray(data)
    encoded = name.encode()
    local = raw.find(b"PK\x03\x04")
    while local >= 0:
        name_len = int.from_bytes(raw[local + 26 : local + 28], "little")
        if raw[local + 30 : local + 30 + name_len] == encoded:
            raw[local + 22 : local + 26] = size.to_bytes(4, "little")
        local = raw.find(b"PK\x03\x04", local + 4)
    central = raw.find(b"PK\x01\x02")
    while central >= 0:
        name_len = int.from_bytes(raw[central + 28 : central + 30], "little")
        if raw[central + 46 : central + 46 + name_len] == encoded:
            raw[central + 24 : central + 28] = size.to_bytes(4, "little")
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def duplicate_names(upper: bool) -> bytes:
    parts = workbook_parts([("Sheet1", sheet_xml(row(1, cell("A1", "x"))))])
    twin = "XL/WORKSHEETS/SHEET1.XML" if upper else "xl/worksheets/sheet1.xml"
    return zip_of([member(n, c) for n, c in parts.items()] + [member(twin, sheet_xml(row(1, cell("A1", "y"))))])


def without(part: str) -> bytes:
    parts = workbook_parts([("Sheet1", sheet_xml(row(1, cell("A1", "x"))))])
    del parts[part]
    return xlsx(parts)


def endless_cell_text(megabytes: int = 200) -> bytes:
    head = sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t>SPLIT').split(b"SPLIT")[0]
    tail = b"</t></is></c></row></sheetData></worksheet>"
    sheet = hostile.bomb_member("xl/worksheets/sheet1.xml", head, b"a" * (1 << 20), megabytes, tail)
    parts = workbook_parts([("Sheet1", b"")])
    del parts["xl/worksheets/sheet1.xml"]
    return zip_of([member(n, c) for n, c in parts.items()] + [sheet])


def deep_nesting() -> bytes:
    depth = 200_000
    return one_sheet(row(1, cell("A1", ("raw", "<v>1</v>" + "<x>" * depth + "</x>" * depth))))


def entity_bomb() -> bytes:
    doctype = '<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    sheet = sheet_xml(row(1, cell("A1", ("raw", "<v>&b;</v>"))))
    return xlsx(workbook_parts([("Sheet1", doctype.encode() + sheet)]))


def entries_claimed(count: int) -> bytes:
    data = bytearray(one_sheet(row(1, cell("A1", "x"))))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = count.to_bytes(2, "little") * 2
    return bytes(data)


HOSTILE = {
    # name: (file, words the message must hold)
    "cell at XFD1048576, true <dimension>": (lambda: far_cell("A1:XFD1048576"), "A1:XFD1048576"),
    "cell at XFD1048576, lying <dimension>": (lambda: far_cell("A1:B2"), "XFD"),
    "cell at XFD1048576, no <dimension>": (lambda: far_cell(None), "XFD"),
    "cell at Z1000000, lying <dimension>": (lambda: far_cell("A1:B2", "Z1000000"), "1000000"),
    "a row of 20,000 cells without places": (
        lambda: one_sheet("<row>" + "<c><v>1</v></c>" * 20_000 + "</row>"),
        "列数上限",
    ),
    "shared strings unpacking to 1 GB (1.5 MB file)": (lambda: strings_bomb(), "sharedStrings.xml"),
    "shared strings unpacking to 1 GB, size header lying (1 KB)": (
        lambda: strings_bomb(declared=1000),
        "sharedStrings.xml",
    ),
    "shared strings 60 MB from 60 KB (ratio)": (lambda: strings_bomb(gigabytes=60 / 1024), "压缩比"),
    "styles part unpacking to 1 GB": (
        lambda: zip_of(
            [member(n, c) for n, c in workbook_parts([("S", sheet_xml(""))], styles=None).items()]
            + [hostile.bomb_member("xl/styles.xml", b"<styleSheet>", b" " * (1 << 20), 1024, b"</styleSheet>")]
        ),
        "styles.xml",
    ),
    "1,500 sheets": (lambda: many_sheets(1_500), "部件过多"),
    "central directory claiming 65,000 members": (lambda: entries_claimed(65_000), "部件过多"),
    "a second sheet with data": (
        lambda: xlsx(
            workbook_parts([("名册", sheet_xml(row(1, cell("A1", "a")))), ("补充", sheet_xml(row(1, cell("A1", "b"))))])
        ),
        "“补充”",
    ),
    "sheet size header lying (smaller)": (
        lambda: lying_size(one_sheet(row(1, cell("A1", "x"))), "xl/worksheets/sheet1.xml", 10),
        "sheet1.xml",
    ),
    "duplicate member names": (lambda: duplicate_names(upper=False), "重名"),
    "member names differing in case only": (lambda: duplicate_names(upper=True), "重名"),
    "not a zip": (lambda: b"PK\x03\x04" + bytes(range(256)) * 8, "不是有效的 Excel"),
    "truncated zip": (lambda: one_sheet(row(1, cell("A1", "x")))[:700], "Excel"),
    "no workbook.xml": (lambda: without("xl/workbook.xml"), "缺少工作簿"),
    "no [Content_Types].xml": (lambda: without("[Content_Types].xml"), "不是有效的 Excel"),
    "no sheet part": (lambda: without("xl/worksheets/sheet1.xml"), "没有工作表"),
    "one cell of 200 MB of text": (endless_cell_text, "sheet1.xml"),
    "elements nested 200,000 deep": (deep_nesting, "sheet1.xml"),
    "entities (billion laughs)": (entity_bomb, "sheet1.xml"),
    "shared string index out of range": (lambda: one_sheet(row(1, cell("A1", ("s", 7))), strings=["a"]), "无法读取"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_xlsx_is_refused_within_the_memory_bound(in_child, name):
    # given: the file HOSTILE[name] builds, read in the child process
    _build, words = HOSTILE[name]
    # when
    outcome = in_child[f"xlsx: {name}"]
    # then
    assert "error" in outcome, outcome
    assert words in outcome["error"], outcome["error"]
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


# With the ratio check off, the checks made while unpacking and reading must hold by themselves.
NO_RATIO = {"max_compression_ratio": 10**9}
GUARDS = {
    "one cell of 100 MB of text": (lambda: endless_cell_text(100), "32767"),
    "elements nested 200,000 deep": (deep_nesting, "sheet1.xml"),
    "shared strings unpacking to 1 GB, size header saying 60 MB": (
        lambda: strings_bomb(declared=60 << 20),
        "sharedStrings.xml",
    ),
    "shared strings of 70 MB, size header saying 60 MB": (
        lambda: strings_bomb(declared=60 << 20, gigabytes=70 / 1024),
        "sharedStrings.xml",
    ),
}


@pytest.mark.parametrize("name", list(GUARDS))
def test_what_is_found_while_reading_is_refused_within_the_memory_bound(in_child, name):
    _build, words = GUARDS[name]
    outcome = in_child[f"guard: {name}"]
    assert "error" in outcome, outcome
    assert words in outcome["error"], outcome["error"]
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


def test_shared_strings_at_their_cap_are_read_within_the_memory_bound(in_child):
    # given: 63 MB of shared strings (the cap is 64 MB), held while the sheet is read
    # when
    outcome = in_child["shared strings of 63 MB"]
    # then
    assert outcome.get("rows") == 1, outcome
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


def test_the_bombs_are_what_they_say(tmp_path):
    # given: the files of the memory tests really are small and really unpack that far
    bomb = strings_bomb()
    # then
    assert len(bomb) < 1_600_000
    info = {i.filename: i for i in __import__("zipfile").ZipFile(io.BytesIO(bomb)).infolist()}
    assert info["xl/sharedStrings.xml"].file_size > 1_000_000_000


@pytest.mark.parametrize(
    "rows_xml, expected",
    [
        (row(1, cell("A1", 1)) + row(1_000_000, cell("Z1000000", 1)), (1_000_000, "Z")),
        (row(1, cell("A1", 1)) + row(5, cell("XFD5", 1)), (5, "XFD")),
        (row(3, cell("A3", 1), cell("DA3", 1)), (3, "DA")),
    ],
)
def test_a_stray_cell_past_the_limits_is_named_by_row_and_column(path, rows_xml, expected):
    # when
    error = refusal(one_sheet(rows_xml))
    # then
    assert (error.row, error.column) == expected
    assert error.as_row_error().row == expected[0]


def test_a_size_header_larger_than_the_part_is_harmless(path):
    # given: the header declares more than the part holds (the CRC still checks the data)
    data = lying_size(one_sheet(row(1, cell("A1", "x"))), "xl/worksheets/sheet1.xml", 50_000)
    # when / then
    assert read(data) == [["x"]]


ODD_DIMENSIONS = ["XFD1048576:A1", "B2:A1", "A0", "A1:B2:C3", "junk"]


@pytest.mark.parametrize("dimension", ODD_DIMENSIONS)
def test_a_dimension_that_is_no_range_is_not_trusted(in_child, dimension):
    # given: python-calamine sizes its range by <dimension>: an upside-down one must not reach it
    # when
    outcome = in_child[f"dimension: {dimension}"]
    # then
    assert outcome.get("rows") == 1, outcome
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


def test_formatted_empty_cells_far_away_are_no_data(path):
    # given: styled cells without values past the limits (Excel writes these)
    data = one_sheet(row(1, cell("A1", "x"), '<c r="XFD1" s="1"/>') + row(900_000, '<c r="A900000" s="1"/>'))
    # when / then
    assert read(data) == [["x"]]


def test_a_cell_longer_than_the_limit_is_named(path):
    # when
    error = refusal(one_sheet(row(2, cell("A2", "x"), cell("C2", "长" * 40_000))))
    # then
    assert (error.row, error.column) == (2, "C")


def test_the_peak_memory_of_a_good_roster_is_bounded_too(in_child):
    # given: 20,000 rows (bench.roster_import's generator), read to the end in the child
    # when
    outcome = in_child["good roster of 20,000 rows"]
    # then
    assert outcome.get("rows") == 20_001, outcome
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


# --- odd values: cell errors, not exceptions ---------------------------------------------------------


def test_a_nul_written_as_x0000_is_read_and_refused_as_text(path):
    # given
    data = one_sheet(row(1, cell("A1", "张_x0000_三"), cell("B1", ("t", "str", "_x0007_"))))
    # when
    values = read(data)[0]
    # then
    assert values == ["张\x00三", "\x07"]
    for value in values:
        with pytest.raises(CellValueError, match="控制字符"):
            text_value(value)


@pytest.mark.parametrize(
    "written, read_as",
    [("a_xD800_b", "a_xD800_b"), ("_xD83D__xDE00_", "_xD83D__xDE00_"), ("_x00e9_", "é"), ("_x005F_x0041_", "_x0041_")],
)
def test_escapes_decode_as_python_calamine_decodes_them(path, written, read_as):
    # given: no surrogate ever comes out (PostgreSQL and UTF-8 refuse them)
    data = one_sheet(
        row(1, cell("A1", written), cell("B1", ("s", 0)), cell("C1", ("t", "str", written))), strings=[written]
    )
    # when / then
    assert read(data) == [[read_as] * 3] == calamine_rows(data)


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-inf", "1E+999"])
def test_not_a_number_in_a_number_cell_is_a_cell_error(path, text):
    # given: the value as a typed number (<v>) and as text
    data = one_sheet(row(1, cell("A1", ("raw", f"<v>{text}</v>")), cell("B1", text)))
    # when
    values = read(data)[0]
    # then
    for value in values:
        with pytest.raises(CellValueError):
            decimal_value(value)


def test_formulas_give_their_cached_values(path):
    # given
    cells = (
        cell("A1", ("raw", "<f>1+1</f><v>2</v>")),
        '<c r="B1" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
        '<c r="C1" t="str"><f>"=cmd"</f><v>=cmd</v></c>',
        cell("D1", ("raw", "<f>SUM(A1)</f>")),
        cell("E1", "end"),
    )
    data = one_sheet(row(1, *cells))
    # when / then: an error value is an empty cell, as python-calamine gives it
    assert read(data) == [[2.0, "", "=cmd", "", "end"]] == calamine_rows(data)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("85.5", Decimal("85.5")),
        ("８５．５", Decimal("85.5")),
        (" 60 ", Decimal("60")),
        (85.5, Decimal("85.5")),
        (60, Decimal("60")),
        ("", None),
        (None, None),
    ],
)
def test_decimal_value_reads_plain_numbers(raw, expected):
    assert decimal_value(raw) == expected


@pytest.mark.parametrize(
    "raw, words",
    [
        ("4E+1", "科学计数法"),
        ("1e3", "科学计数法"),
        ("NaN", "不是数字"),
        ("sNaN", "不是数字"),
        ("Infinity", "不是数字"),
        (float("nan"), "不是数字"),
        (float("inf"), "不是数字"),
        (Decimal("sNaN"), "不是数字"),
        ("١٢", "不是数字"),  # other scripts' digits, which Decimal() would take
        ("1,000", "不是数字"),
        ("8\x005", "控制字符"),
        (True, "不是数字"),
        ("9" * 40, "不是数字"),
    ],
)
def test_decimal_value_refuses_what_is_not_a_plain_number(raw, words):
    with pytest.raises(CellValueError, match=words):
        decimal_value(raw)


def test_decimal_value_places():
    assert decimal_value("85.5", places=1) == Decimal("85.5")
    with pytest.raises(CellValueError, match="1位小数"):
        decimal_value("85.55", places=1)
    with pytest.raises(CellValueError, match="数值过大"):
        decimal_value(1e300, places=1)


@pytest.mark.parametrize("raw", ["a\x00b", "\x1b[31m", "x\x7f", "\ufffe", "a\u0085b"])
def test_text_value_refuses_control_characters(raw):
    with pytest.raises(CellValueError, match="控制字符"):
        text_value(raw)


def test_text_value_keeps_tabs_and_line_breaks_and_checks_length():
    assert text_value(" 张\t三\r\n ") == "张\t三"
    with pytest.raises(CellValueError, match="64"):
        text_value("长" * 65, max_length=64)


# --- .xls ---------------------------------------------------------------------------------------------


def test_an_xls_reads_as_python_calamine_reads_it():
    # given: an empty first sheet, the data on the second
    data = hostile.xls([("说明", []), ("名册", [(0, 0, "姓名"), (0, 1, "分数"), (2, 0, "张三"), (2, 2, 85.5)])])
    # when / then
    assert read(data, "名册.xls") == [["姓名", "分数"], [], ["张三", "", 85.5]]


XLS_HOSTILE = {
    # python-calamine alone: 1.06 GB and 7 s for this 5.6 KB file (a dense range of 65,536 x 256)
    "cell at IV65536": (lambda: hostile.xls([("S", [(0, 0, "x"), (65535, 255, 1)])]), "IV"),
    "cell at CV65536, no DIMENSIONS": (
        lambda: hostile.xls([("S", [(0, 0, "x"), (65535, 99, 1)])], dimensions=False),
        "已用区域过大",
    ),
    "a second sheet with data": (lambda: hostile.xls([("甲", [(0, 0, 1)]), ("乙", [(0, 0, 2)])]), "“乙”"),
    # found by fuzzing: python-calamine sizes its range and its string table by these counts,
    # and a process asked for 343 GB aborts
    "DIMENSIONS upside down (first row 2816, last 2)": (
        lambda: hostile.xls([("S", [(0, 0, "x")])], dimensions=(2816, 2, 0, 2)),
        "不是有效的 Excel",
    ),
    "DIMENSIONS of 65,536 x 256": (
        lambda: hostile.xls([("S", [(0, 0, "x")])], dimensions=(0, 65536, 0, 256)),
        "已用区域过大",
    ),
    "a string table claiming 4 billion strings": (
        lambda: hostile.xls([("S", [(0, 0, "x")])], unique_strings=0xFFFFFFF0),
        "不是有效的 Excel",
    ),
    "not a compound file": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4, "不是有效的 Excel"),
    "truncated": (lambda: hostile.xls([("S", [(0, 0, "x")])])[:1500], "不是有效的 Excel"),
    "over the .xls size cap": (lambda: hostile.xls([("S", [(0, 0, "x")])]) + b"\0" * (17 << 20), ".xls 文件过大"),
}


@pytest.mark.parametrize("name", list(XLS_HOSTILE))
def test_hostile_xls_is_refused_within_the_memory_bound(in_child, name):
    _build, words = XLS_HOSTILE[name]
    outcome = in_child[f"xls: {name}"]
    assert "error" in outcome, outcome
    assert words in outcome["error"], outcome["error"]
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


def test_a_nan_in_an_xls_number_is_a_cell_error():
    values = read(hostile.xls([("S", [(0, 0, float("nan")), (0, 1, float("inf"))])]), "a.xls")[0]
    for value in values:
        with pytest.raises(CellValueError):
            decimal_value(value)


# --- .csv --------------------------------------------------------------------------------------------


def csv_data(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_in_each_encoding(encoding):
    data = csv_data([["姓名", "分数"], ["张三", "85"], [], ["李四", "多行\n备注"]], encoding)
    assert read(data, "s.csv") == [["姓名", "分数"], ["张三", "85"], [], ["李四", "多行\n备注"]]


CSV_HOSTILE = {
    "one line of 20 MB": (lambda: b"," * (20 << 20), "过长"),
    "200 columns": (lambda: csv_data([["x"] * 200]), "列数上限"),
    "a quoted field that never ends": (lambda: b'a,"' + b"x" * (5 << 20), "过长"),
    "a quoted field of many lines that never ends": (lambda: b'a,"' + b"x\n" * (3 << 20), "CSV"),
    "a NUL byte": (lambda: b"a,b\n\x00,c\n", "CSV"),
    "neither UTF-8 nor GB18030": (lambda: b"\xff\xfe\xfaa", "编码"),
    "a cell of 40,000 characters": (lambda: csv_data([["x", "y" * 40_000]]), "32767"),
}


@pytest.mark.parametrize("name", list(CSV_HOSTILE))
def test_hostile_csv_is_refused_within_the_memory_bound(in_child, name):
    _build, words = CSV_HOSTILE[name]
    outcome = in_child[f"csv: {name}"]
    assert "error" in outcome, outcome
    assert words in outcome["error"], outcome["error"]
    assert outcome["peak_mb"] < MEMORY_BOUND_MB, outcome


def test_csv_rows_past_the_limit_are_named():
    error = refusal(csv_data([["x"]] * 12), "s.csv", max_rows=10)
    assert error.row == 11


# --- limits per use, and the whole-file size ------------------------------------------------------------


def test_limits_can_be_narrowed_for_one_use(path):
    data = one_sheet(row(1, cell("A1", 1), cell("B1", 2)))
    assert read(data) == [[1.0, 2.0]]
    assert refusal(data, max_columns=1).column == "B"


def test_a_file_over_the_byte_limit_is_refused_unread():
    assert "文件过大" in refusal(b"x" * 2048, "a.csv", max_bytes=1024).message


def test_unknown_types_are_refused():
    assert "不支持" in refusal(b"hello", "a.pdf").message


# --- the child process that reads every file above -----------------------------------------------


@pytest.fixture(scope="module")
def in_child(tmp_path_factory):
    """Every file of the memory tests, read in one child process (peak RSS reset per file)."""
    from bench.roster_import import make_roster

    cases = {f"xlsx: {name}": (build(), "upload.xlsx", {}) for name, (build, _words) in HOSTILE.items()}
    cases.update({f"guard: {name}": (build(), "upload.xlsx", NO_RATIO) for name, (build, _w) in GUARDS.items()})
    cases["shared strings of 63 MB"] = (strings_bomb(gigabytes=63 / 1024), "upload.xlsx", NO_RATIO)
    for dimension in ODD_DIMENSIONS:
        cases[f"dimension: {dimension}"] = (one_sheet(row(1, cell("A1", "x")), dimension=dimension), "u.xlsx", {})
    cases["good roster of 20,000 rows"] = (make_roster(20_000)[0], "roster.xlsx", {})
    cases.update({f"xls: {name}": (build(), "upload.xls", {}) for name, (build, _words) in XLS_HOSTILE.items()})
    cases.update({f"csv: {name}": (build(), "upload.csv", {}) for name, (build, _words) in CSV_HOSTILE.items()})
    return read_in_child(tmp_path_factory.mktemp("uploads"), cases)
