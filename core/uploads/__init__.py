"""The one reader of uploaded spreadsheets (.xlsx, .xls, .csv), for every import of the
project (roster, scores).

``read_rows(data, filename)`` checks the file against the limits (the UPLOAD_MAX_* settings,
or ``limits=UploadLimits.from_settings(...)`` for one use) and returns an iterator of rows,
each a list of cell values (text, float, bool, date/datetime, "" for a gap). What can be
judged from the file's declarations (size, parts, the sheet's used area, other sheets with
data) raises ``UploadError`` at the call; what only shows while reading (a stray cell past
the limits, a damaged part) raises ``UploadError`` from the iteration, with ``row`` and
``column`` set when a cell is to blame. Nothing else is ever raised, and memory stays
bounded by the limits, whatever the file.

The imports turn cell values into what they keep with ``text_value`` (refuses control
characters such as NUL) and ``decimal_value`` (refuses exponents, NaN, infinities); both
raise ``CellValueError`` with a message for the cell.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _

from .base import RowError, UploadError, UploadLimits, column_letter, too_large
from .values import CellValueError, ascii_digits, cell_text, control_character, decimal_value, text_value

__all__ = [
    "HEADER_SCAN_ROWS",
    "IGNORED_HEADERS",
    "CellValueError",
    "RowError",
    "UploadError",
    "UploadLimits",
    "ascii_digits",
    "cell_text",
    "column_letter",
    "control_character",
    "decimal_value",
    "locate_header",
    "read_rows",
    "text_value",
]

# Header cells that name no column to read (a running number).
IGNORED_HEADERS = {"序号", "no", "no.", "#", "编号"}
HEADER_SCAN_ROWS = 5


def locate_header(
    rows: Iterator[list],
    errors: list[RowError],
    *,
    columns,
    aliases: dict[str, str],
    anchors: tuple[str, ...],
    not_found: str,
) -> tuple[int, dict[int, str]] | None:
    """The header among the first HEADER_SCAN_ROWS rows (a title row may sit above it): the first
    row naming every ``anchors`` key; gives its row number and {column index: key}. ``columns``
    have ``key``, ``label`` and ``required``; ``aliases`` maps a lower-cased header to its key.
    Unknown, repeated and missing required headers are added to ``errors`` with row and column;
    no such row at all adds ``not_found`` and gives None."""
    for row_number in range(1, HEADER_SCAN_ROWS + 1):
        row = next(rows, None)
        if row is None:
            break
        keys = {i: aliases.get(cell_text(v).lower()) for i, v in enumerate(row)}
        if not all(anchor in keys.values() for anchor in anchors):
            continue
        mapping: dict[int, str] = {}
        seen: dict[str, int] = {}
        for i, value in enumerate(row):
            header = cell_text(value)
            if not header or header.lower() in IGNORED_HEADERS:
                continue
            key = keys[i]
            column = f"{column_letter(i)} {header}"
            if key is None:
                accepted = "、".join(c.label for c in columns)
                errors.append(RowError(row_number, column, _("无法识别的表头（可用：%(a)s）") % {"a": accepted}))
            elif key in seen:
                errors.append(
                    RowError(row_number, column, _("表头重复（与%(c)s列相同）") % {"c": column_letter(seen[key])})
                )
            else:
                seen[key] = i
                mapping[i] = key
        for col in columns:
            if col.required and col.key not in seen:
                errors.append(RowError(row_number, col.label, _("缺少必填列“%(c)s”") % {"c": col.label}))
        return row_number, mapping
    errors.append(RowError(1, "", not_found))
    return None


_ZIP = b"PK\x03\x04"
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_rows(data: bytes, filename: str, *, limits: UploadLimits | None = None) -> Iterator[list]:
    """The rows of the one sheet of an uploaded file that holds data (see the module)."""
    from .csvfile import read_csv
    from .xls import read_xls
    from .xlsx import read_xlsx

    limits = limits or UploadLimits.from_settings()
    refusal = too_large(limits, len(data))
    if refusal:
        raise refusal
    name = (filename or "").lower()
    if data[:4] == _ZIP:
        return read_xlsx(data, limits)
    if data[:8] == _CFB:
        return read_xls(data, limits)
    if name.endswith((".csv", ".txt")):
        return read_csv(data, limits)
    if name.endswith((".xlsx", ".xls")):
        raise UploadError(_("文件不是有效的 Excel 表格（.xlsx/.xls），或已损坏。"))
    raise UploadError(_("不支持的文件类型：请上传 .xlsx、.xls 或 .csv 文件。"))
