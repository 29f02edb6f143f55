"""Reading uploaded spreadsheets (.xlsx / .xls via python-calamine, .csv in UTF-8 or GB18030)
into rows of cell values, for every import of the project (roster, scores).

Each use passes its own limits; the errors say what is wrong with the file as a whole, and
``RowError`` names a cell by row number and column letter + header as the user sees them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

# Header cells that name no column to read (a running number).
IGNORED_HEADERS = {"序号", "no", "no.", "#", "编号"}
HEADER_SCAN_ROWS = 5


@dataclass(frozen=True)
class RowError:
    row: int  # spreadsheet row number as the user sees it (header row included)
    column: str  # column letter and header, e.g. "B 身份证号"; "" for the whole row/file
    message: str

    def __str__(self) -> str:
        where = _("第%(row)d行") % {"row": self.row} if self.row else _("文件")
        if self.column:
            where += f" {self.column}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


class UploadError(Exception):
    """The file as a whole cannot be read (not a spreadsheet, no header, too large)."""


# --- reading -------------------------------------------------------------------------


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def read_rows(data: bytes, filename: str) -> Iterator[list]:
    name = (filename or "").lower()
    if name.endswith((".csv", ".txt")):
        return read_csv(data)
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or name.endswith((".xlsx", ".xls")):
        return read_excel(data)
    raise UploadError(_("不支持的文件类型：请上传 .xlsx、.xls 或 .csv 文件。"))


def read_excel(data: bytes) -> Iterator[list]:
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not workbook.sheet_names:
            raise UploadError(_("工作簿中没有工作表。"))
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
    except UploadError:
        raise
    except Exception:
        # calamine raises its own errors, zip errors, or XML errors for a damaged file.
        raise UploadError(_("文件不是有效的 Excel 表格（.xlsx/.xls），或已损坏。")) from None
    return iter(rows)


def read_csv(data: bytes) -> Iterator[list]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UploadError(_("无法识别 CSV 文件的编码，请保存为 UTF-8。"))
    if "\x00" in text:
        raise UploadError(_("文件不是有效的 CSV 文本文件。"))
    try:
        return iter(list(csv.reader(io.StringIO(text))))
    except csv.Error as exc:
        raise UploadError(_("CSV 文件格式错误：%(e)s") % {"e": exc}) from None


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
