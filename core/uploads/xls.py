"""Old binary .xls, read by python-calamine after a scan of our own.

calamine builds a sheet as one dense range from its first to its last cell, so one stray
cell at IV65536 costs 65,536 x 256 cells of memory before a row is seen. The scan walks the
compound file (MS-CFB) to the workbook stream and its BIFF records, and finds each sheet's
cells: the used area is checked against the limits and the other sheets for data, as for
.xlsx, before calamine is asked for anything.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .base import UploadError, UploadLimits, column_letter, columns_exceeded, mb, rows_exceeded

_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_END = 0xFFFFFFFE
# BIFF5/8 records that hold a cell: (row, column) first. BLANK and MULBLANK hold none but
# still stretch calamine's range.
_VALUE_CELLS = {0x00FD, 0x0203, 0x027E, 0x0006, 0x0205, 0x0204, 0x00D6}
_BLANK, _MULBLANK, _MULRK = 0x0201, 0x00BE, 0x00BD
_BOF, _EOF, _BOUNDSHEET, _DIMENSIONS, _SST = 0x0809, 0x000A, 0x0085, 0x0200, 0x00FC


def not_xls() -> UploadError:
    return UploadError(_("文件不是有效的 Excel 表格（.xlsx/.xls），或已损坏。"))


def _workbook_stream(data: bytes) -> bytes:
    """The Workbook (BIFF8) or Book (BIFF5) stream of a compound file."""
    if len(data) < 512 or data[:8] != _MAGIC:
        raise not_xls()
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if shift not in (9, 12) or mini_shift != 6:
        raise not_xls()
    size = 1 << shift
    sectors = (len(data) - 512 + size - 1) // size  # a bound on any chain's length
    fat_count, dir_start = struct.unpack_from("<II", data, 0x2C)
    cutoff, minifat_start, _minifat_count, difat_start, difat_count = struct.unpack_from("<IIIII", data, 0x38)

    def sector(n: int) -> bytes:
        at = 512 + n * size
        if n >= sectors or at + size > len(data) + size:  # the last sector may be short
            raise not_xls()
        return data[at : at + size]

    fat_sectors = list(struct.unpack_from("<109I", data, 0x4C))
    n, hops = difat_start, 0
    while n < _END and hops <= difat_count and hops <= sectors:
        words = struct.unpack(f"<{size // 4}I", sector(n).ljust(size, b"\0"))
        fat_sectors += words[:-1]
        n, hops = words[-1], hops + 1
    fat_sectors = [s for s in fat_sectors[:fat_count] if s < _END]
    if len(fat_sectors) > sectors:
        raise not_xls()
    fat = b"".join(sector(s).ljust(size, b"\0") for s in fat_sectors)
    fat_words = len(fat) // 4

    def chain(start: int, table: bytes, count: int) -> Iterator[int]:
        n, seen = start, 0
        while n < _END:
            if n >= count or seen > count:
                raise not_xls()
            yield n
            seen += 1
            (n,) = struct.unpack_from("<I", table, n * 4)

    def read(start: int, length: int) -> bytes:
        out = bytearray()
        for n in chain(start, fat, fat_words):
            out += sector(n)
            if len(out) >= length:
                break
        if len(out) < length:
            raise not_xls()
        return bytes(out[:length])

    directory = b"".join(sector(n) for n in chain(dir_start, fat, fat_words))
    entries = {}
    root = None
    for at in range(0, len(directory) - 127, 128):
        name_len = struct.unpack_from("<H", directory, at + 64)[0]
        name = directory[at : at + min(name_len, 64)].decode("utf-16-le", "replace").rstrip("\0")
        kind = directory[at + 66]
        start, length = struct.unpack_from("<IQ", directory, at + 116)
        if shift == 9:
            length &= 0xFFFFFFFF
        if kind == 5 and root is None:
            root = (start, length)
        elif kind == 2:
            entries.setdefault(name.lower(), (start, length))
    found = entries.get("workbook") or entries.get("book")
    if found is None or root is None:
        raise not_xls()
    start, length = found
    if length > len(data):
        raise not_xls()
    if length >= cutoff:
        return read(start, length)
    # A small stream lives in the mini stream, in 64-byte sectors chained by the mini FAT.
    if root[1] > len(data):
        raise not_xls()
    ministream = read(root[0], root[1])
    minifat = b"".join(sector(n) for n in chain(minifat_start, fat, fat_words))
    out = bytearray()
    for n in chain(start, minifat, len(minifat) // 4):
        out += ministream[n * 64 : n * 64 + 64]
        if len(out) >= length:
            break
    if len(out) < length:
        raise not_xls()
    return bytes(out[:length])


@dataclass
class _SheetScan:
    name: str
    offset: int
    worksheet: bool
    values: int = 0
    first_row: int = 1 << 30
    last_row: int = -1
    first_col: int = 1 << 30
    last_col: int = -1
    declared: tuple[int, int, int, int] | None = None  # DIMENSIONS: first row, last row + 1, columns alike

    def stretch(self, row: int, first: int, last: int) -> None:
        self.first_row, self.last_row = min(self.first_row, row), max(self.last_row, row)
        self.first_col, self.last_col = min(self.first_col, first), max(self.last_col, last)


def _records(stream: bytes, at: int) -> Iterator[tuple[int, int, int]]:
    """(type, start of data, length) from ``at`` to the substream's EOF."""
    end = len(stream)
    while at + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, at)
        yield kind, at + 4, length
        at += 4 + length
        if kind == _EOF:
            return


def _scan(stream: bytes) -> list[_SheetScan]:
    sheets: list[_SheetScan] = []
    records = _records(stream, 0)
    first = next(records, None)
    if first is None or first[0] != _BOF:
        raise not_xls()
    biff8 = struct.unpack_from("<H", stream, first[1])[0] == 0x0600 if first[2] >= 2 else False
    for kind, at, length in records:
        if kind == _SST and length >= 8:
            # calamine sizes its string table by this count: no more strings than bytes to hold them
            (unique,) = struct.unpack_from("<I", stream, at + 4)
            if unique > len(stream) // 3:
                raise not_xls()
        if kind == _BOUNDSHEET and length >= 7:
            offset, _state, sheet_type, count = struct.unpack_from("<IBBB", stream, at)
            if biff8 and length >= 8:
                wide = stream[at + 7] & 1
                raw = stream[at + 8 : at + 8 + count * (2 if wide else 1)]
                name = raw.decode("utf-16-le" if wide else "latin-1", "replace")
            else:
                name = stream[at + 7 : at + 7 + count].decode("latin-1", "replace")
            sheets.append(_SheetScan(name, offset, sheet_type == 0))
    for sheet in sheets:
        if not sheet.worksheet or sheet.offset + 4 > len(stream):
            continue
        for kind, at, length in _records(stream, sheet.offset):
            if kind == _DIMENSIONS and length in (10, 14):
                sheet.declared = struct.unpack_from("<IIHH" if length == 14 else "<HHHH", stream, at)
                continue
            if length < 4:
                continue
            if kind in _VALUE_CELLS or kind == _BLANK:
                row, col = struct.unpack_from("<HH", stream, at)
                sheet.stretch(row, col, col)
                sheet.values += kind != _BLANK
            elif kind in (_MULRK, _MULBLANK) and length >= 6:
                row, first_col = struct.unpack_from("<HH", stream, at)
                (last_col,) = struct.unpack_from("<H", stream, at + length - 2)
                sheet.stretch(row, first_col, max(first_col, last_col))
                sheet.values += kind == _MULRK
    return sheets


def read_xls(data: bytes, limits: UploadLimits) -> Iterator[list]:
    if len(data) > limits.max_xls_bytes:
        raise UploadError(
            _(".xls 文件过大（上限 %(n)s MB），请在 Excel 中另存为 .xlsx 后上传") % {"n": mb(limits.max_xls_bytes)}
        )
    try:
        sheets = [s for s in _scan(_workbook_stream(data)) if s.worksheet]
    except UploadError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, MemoryError):
        raise not_xls() from None
    if not sheets:
        raise UploadError(_("工作簿中没有工作表。"))
    with_data = [s for s in sheets if s.values]
    if len(with_data) > 1:
        raise UploadError(
            _("工作簿中有 %(n)d 个工作表含有数据（%(s)s）；只能读取一个，请把其他工作表删除或清空后重新上传")
            % {"n": len(with_data), "s": "、".join(f"“{s.name}”" for s in with_data[:10])}
        )
    sheet = with_data[0] if with_data else sheets[0]
    if sheet.values:
        if sheet.last_row + 1 > limits.max_rows:
            raise rows_exceeded(limits, sheet.last_row + 1)
        if sheet.last_col + 1 > limits.max_columns:
            raise columns_exceeded(limits, 0, column_letter(sheet.last_col))
        # calamine's range runs from the first cell to the last, blanks included.
        area = (sheet.last_row + 1) * (sheet.last_col + 1)
        if area > limits.max_xls_cells:
            raise UploadError(
                _("工作表“%(s)s”的已用区域过大（%(n)d 个单元格，上限 %(m)d）；请删除多余的行列后重新上传")
                % {"s": sheet.name, "n": area, "m": limits.max_xls_cells}
            )
    if sheet.declared:
        # calamine sizes the sheet by its DIMENSIONS record: it must be a true range.
        first_row, end_row, first_col, end_col = sheet.declared
        area = (end_row - first_row) * (end_col - first_col)
        if first_row > end_row or first_col > end_col or end_row > 65_536 or end_col > 256:
            raise not_xls()
        if area > limits.max_xls_cells:
            raise UploadError(
                _("工作表“%(s)s”的已用区域过大（%(n)d 个单元格，上限 %(m)d）；请删除多余的行列后重新上传")
                % {"s": sheet.name, "n": area, "m": limits.max_xls_cells}
            )
    import python_calamine

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = workbook.get_sheet_by_name(sheet.name).iter_rows()
    except BaseException as exc:  # calamine's errors; a panic in its Rust code is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise not_xls() from None
    return _rows(rows, limits)


def _rows(rows: Iterator[list], limits: UploadLimits) -> Iterator[list]:
    number = 0
    while True:
        try:
            row = next(rows, None)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise not_xls() from None
        if row is None:
            return
        number += 1
        while row and row[-1] == "":
            row.pop()
        if row and number > limits.max_rows:
            raise rows_exceeded(limits, number)
        if len(row) > limits.max_columns:
            raise columns_exceeded(limits, number, column_letter(limits.max_columns))
        yield row
