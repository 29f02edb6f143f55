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
    "read_rows",
    "text_value",
]

# Header cells that name no column to read (a running number).
IGNORED_HEADERS = {"序号", "no", "no.", "#", "编号"}
HEADER_SCAN_ROWS = 5

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
