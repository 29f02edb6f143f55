"""Property tests of the upload reader itself (tests/test_parsers_fuzz.py drives the roster and
score imports; this file the reader under them): whatever the bytes, reading a file to its
end gives rows or an UploadError, and the cell helpers a value or a CellValueError; nothing
else is ever raised. What is written into a cell comes back as written, by both paths."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.uploads.xlsx as xlsx_reader
from core.uploads import CellValueError, UploadError, UploadLimits, decimal_value, read_rows, text_value
from tests.core import hostile
from tests.core.hostile import cell, one_sheet, row, sheet_xml, workbook_parts, zip_of
from tests.test_parsers_fuzz import awkward_text

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SMALL = UploadLimits.from_settings(max_rows=500, max_columns=30, max_part_bytes=4 << 20, max_unpacked_bytes=8 << 20)


def read_all(data: bytes, filename: str) -> list[list] | UploadError:
    """The rows of a file, every value through the helpers, or the UploadError."""
    try:
        rows = list(read_rows(data, filename, limits=SMALL))
    except UploadError as exc:
        assert exc.message
        return exc
    for values in rows:
        for value in values:
            for helper in (text_value, decimal_value):
                try:
                    helper(value)
                except CellValueError as exc:
                    assert exc.message
    return rows


@pytest.fixture(params=["dense", "stream"])
def path(request, monkeypatch):
    if request.param == "stream":
        monkeypatch.setattr(xlsx_reader, "DENSE_CELLS", -1)
    return request.param


def ooxml_escape(text: str) -> str:
    """What Excel writes for a text: "_" before xHHHH_ escaped, control characters as _xHHHH_
    (carriage returns too: XML would turn them into line feeds)."""
    text = re.sub(r"_(?=x[0-9A-Fa-f]{4}_)", "_x005F_", text)
    return "".join(f"_x{ord(ch):04X}_" if ord(ch) < 0x20 and ch not in "\t\n" else ch for ch in text)


SEED = one_sheet(
    row(1, cell("A1", "姓名"), cell("B1", ("s", 0)), cell("C1", 85.5, style=1))
    + row(2, cell("A2", "张_x0000_三"), cell("B2", True), cell("D2", ("raw", "<f>1+1</f><v>2</v>"))),
    strings=["身份证号"],
    dimension="A1:D2",
)
SEED_PARTS = workbook_parts(
    [("S", sheet_xml(row(1, cell("A1", "a"), cell("B1", ("s", 0)), cell("C1", 1.5))))], strings=["x"]
)


@FUZZ
@given(st.data())
def test_mutated_xlsx_bytes_never_raise_anything_but_upload_error(path, data):
    # given: the seed with some bytes changed, cut, or inserted
    raw = bytearray(SEED)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at : at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not raw:
            break
    # when / then
    read_all(bytes(raw), "u.xlsx")


xml_noise = st.one_of(
    st.sampled_from(
        [
            "<",
            ">",
            "</c>",
            "<c>",
            '<c r="XFD1048576"><v>1</v></c>',
            '<c r="A1" t="s"><v>99</v></c>',
            '<row r="0">',
            '<row r="99999999">',
            "<!DOCTYPE x>",
            "&#0;",
            "&amp;",
            "_x0000_",
            '<dimension ref="A1:ZZZ9999999"/>',
            '<dimension ref="XFD1048576:A1"/>',
            "<is><t>",
            '<c t="inlineStr"><is><t>x</t></is></c>',
            "\x00",
            "\ufeff",
        ]
    ),
    st.text(max_size=20),
)


@FUZZ
@given(st.sampled_from(sorted(SEED_PARTS)), st.data())
def test_mutated_xml_in_a_sound_zip_never_raises_anything_but_upload_error(path, part, data):
    # given: a valid zip around a part whose XML was cut or had markup inserted
    text = SEED_PARTS[part].decode()
    for _ in range(data.draw(st.integers(1, 5))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(xml_noise) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 40)) :]
    parts = {**SEED_PARTS, part: text.encode("utf-8", "surrogatepass")}
    # when / then
    read_all(zip_of([hostile.member(n, c) for n, c in parts.items()]), "u.xlsx")


cell_text = awkward_text.filter(lambda t: "\ufffe" not in t and "\uffff" not in t and len(t) <= 32_767)


@FUZZ
@given(st.lists(st.lists(cell_text, min_size=1, max_size=6), min_size=1, max_size=6))
def test_text_comes_back_as_written_by_either_path(path, table):
    # given: every cell an inline string, escaped as Excel escapes it
    rows_xml = "".join(
        row(r, *(cell(f"{chr(65 + c)}{r}", ooxml_escape(text)) for c, text in enumerate(values)))
        for r, values in enumerate(table, 1)
    )
    # when
    rows = read_all(one_sheet(rows_xml), "u.xlsx")
    # then: as written, empty cells as gaps (""), each row and the sheet ending at its last value
    expected = []
    for values in table:
        values = list(values)
        while values and values[-1] == "":
            values.pop()
        expected.append(values)
    while expected and not expected[-1]:
        expected.pop()
    assert rows == expected


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["u.xlsx", "u.xls", "u.csv", "u.txt"]))
def test_random_bytes_under_any_name_never_raise_anything_but_upload_error(raw, filename):
    read_all(raw, filename)


@FUZZ
@given(st.binary(min_size=1, max_size=64), st.integers(0, 10_000), st.booleans())
def test_mutated_xls_never_raises_anything_but_upload_error(noise, at, insert):
    # given: a small .xls with bytes overwritten or inserted somewhere in it
    seed = bytearray(hostile.xls([("S", [(0, 0, "姓名"), (1, 0, "张三"), (1, 1, 85.5)]), ("T", [])]))
    at %= len(seed)
    if insert:
        seed[at:at] = noise
    else:
        seed[at : at + len(noise)] = noise
    # when / then
    read_all(bytes(seed), "u.xls")


@FUZZ
@given(st.lists(st.lists(awkward_text, max_size=8), max_size=8), st.sampled_from(["utf-8-sig", "gb18030"]))
def test_csv_of_awkward_cells_never_raises_anything_but_upload_error(table, encoding):
    lines = "\n".join(",".join('"' + text.replace('"', '""') + '"' for text in values) for values in table)
    read_all(lines.encode(encoding, "replace"), "u.csv")
