"""Reading a .csv as a stream of rows: UTF-8 (with or without BOM), else GB18030."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from django.utils.translation import gettext as _

from .base import UploadError, UploadLimits, cell_too_long, column_letter, columns_exceeded, rows_exceeded

_DECODE_CHUNK = 1 << 20


def _encoding(data: bytes) -> str:
    """The first encoding that decodes the whole file, tried chunk by chunk without keeping
    the text."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(data), _DECODE_CHUNK):
                decoder.decode(data[start : start + _DECODE_CHUNK])
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise UploadError(_("无法识别 CSV 文件的编码，请保存为 UTF-8。"))


def read_csv(data: bytes, limits: UploadLimits) -> Iterator[list]:
    if b"\x00" in data:
        raise UploadError(_("文件不是有效的 CSV 文本文件。"))
    encoding = _encoding(data)
    return _rows(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""), limits)


def _lines(text: io.TextIOWrapper, limit: int, where: list[int]) -> Iterator[str]:
    """Physical lines, each refused past ``limit`` characters (a file of one endless line
    would otherwise become one endless row)."""
    while line := text.readline(limit + 1):
        where[0] += 1
        if len(line) > limit:
            raise UploadError(_("第%(row)d行过长（超过 %(n)d 个字符）") % {"row": where[0], "n": limit}, row=where[0])
        yield line


def _rows(text: io.TextIOWrapper, limits: UploadLimits) -> Iterator[list]:
    line_limit = max(limits.max_cell_chars, 64 * 1024) + limits.max_columns * 64
    where = [0]
    reader = csv.reader(_lines(text, line_limit, where))
    number = 0
    try:
        for row in reader:
            number += 1
            while row and row[-1] == "":
                row.pop()
            if not row:
                yield row
                continue
            if number > limits.max_rows:
                raise rows_exceeded(limits, number)
            if len(row) > limits.max_columns:
                raise columns_exceeded(limits, number, column_letter(limits.max_columns))
            for index, value in enumerate(row):
                if len(value) > limits.max_cell_chars:
                    raise cell_too_long(limits, number, column_letter(index))
            yield row
    except csv.Error as exc:
        raise UploadError(
            _("CSV 文件格式错误（第%(row)d行）：%(e)s") % {"row": where[0], "e": exc}, row=where[0]
        ) from None
