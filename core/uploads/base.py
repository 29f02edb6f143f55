"""What every reader shares: the errors, the limits, and how a cell is named."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _


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
    """The file as a whole cannot be read (not a spreadsheet, too large, damaged). ``row`` and
    ``column`` (a letter) name the cell that made it so, when one did; 0 and "" otherwise."""

    def __init__(self, message: str, *, row: int = 0, column: str = ""):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def as_row_error(self) -> RowError:
        return RowError(self.row, self.column, self.message)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True)
class UploadLimits:
    """What an uploaded file may hold. ``UploadLimits.from_settings(max_rows=...)`` takes the
    UPLOAD_MAX_* settings and overrides some of them for one use."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 201_000
    max_columns: int = 100
    max_cell_chars: int = 32_767
    max_unpacked_bytes: int = 300 * 1024 * 1024
    max_part_bytes: int = 150 * 1024 * 1024
    max_shared_strings_bytes: int = 64 * 1024 * 1024
    max_zip_members: int = 1_000
    max_compression_ratio: int = 200
    max_xls_bytes: int = 16 * 1024 * 1024
    max_xls_cells: int = 2_000_000

    @classmethod
    def from_settings(cls, **overrides) -> UploadLimits:
        values = {}
        for f in dataclasses.fields(cls):
            values[f.name] = getattr(settings, f"UPLOAD_{f.name.upper()}", f.default)
        values.update(overrides)
        return cls(**values)


def too_large(limits: UploadLimits, size: int) -> UploadError | None:
    if size > limits.max_bytes:
        return UploadError(_("文件过大（上限 %(n)s MB）") % {"n": mb(limits.max_bytes)})
    return None


def rows_exceeded(limits: UploadLimits, row: int, column: str = "") -> UploadError:
    return UploadError(
        _("第%(row)d行有数据，超过行数上限（%(n)d 行）；请删除多余的行或分批上传") % {"row": row, "n": limits.max_rows},
        row=row,
        column=column,
    )


def columns_exceeded(limits: UploadLimits, row: int, column: str) -> UploadError:
    return UploadError(
        _("%(c)s列有数据，超过列数上限（%(n)d 列，即 A 至 %(last)s 列）；请删除多余的列")
        % {"c": column, "n": limits.max_columns, "last": column_letter(limits.max_columns - 1)},
        row=row,
        column=column,
    )


def cell_too_long(limits: UploadLimits, row: int, column: str) -> UploadError:
    return UploadError(
        _("单元格内容超过 %(n)d 个字符") % {"n": limits.max_cell_chars},
        row=row,
        column=column,
    )


def mb(size: int) -> str:
    """A size in MB for messages: 50, 1.5, 1027.53."""
    return f"{round(size / (1 << 20), 2):g}"
