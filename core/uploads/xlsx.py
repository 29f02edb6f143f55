"""Reading the one worksheet of an .xlsx that holds data, as rows.

Before any row is read the zip is checked against the limits from what it declares (the
central directory's size and member count, each part's unpacked size and compression ratio,
the sheet's ``<dimension>``), and every other sheet is looked at for data. Every part is
unpacked 64 KB at a time and refused past its cap whatever its header says, and refused
if it has a document type (entities) or a run of text that never ends.

Then one of two paths:
- dense (most files): a scan of the unpacked sheet proves it small (every cell names its
  place, the farthest within the limits, rows x columns at most DENSE_CELLS), and
  python-calamine reads a stored copy of just the parts it needs: its speed, a bounded range;
- stream (everything else): the sheet's XML is parsed with expat as it is unpacked and every
  cell checked as it comes (row and column against the limits, text against the cell size),
  so neither a lying header nor a missing or false ``<dimension>`` makes the reader hold
  more than one row, the packed shared strings and a chunk.
Both give the values python-calamine gives (text, float, bool, date/datetime/time for
date-formatted numbers, "" for a gap in a row); a test holds them to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import posixpath
import re
import struct
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from xml.parsers import expat

from django.utils.translation import gettext as _

from .base import (
    UploadError,
    UploadLimits,
    cell_too_long,
    column_letter,
    columns_exceeded,
    mb,
    rows_exceeded,
)

CHUNK = 64 * 1024
RATIO_FLOOR = 1 << 20  # parts smaller than this once unpacked are not judged by their ratio
SMALL_PART = 4 << 20  # [Content_Types].xml, workbook.xml and the relationships
STRINGS_PER_BLOCK = 4096
MAX_DEPTH = 64  # elements inside elements: a worksheet needs about six
STYLES_BYTES = 16 << 20  # styles.xml is parsed whole for its date formats; Excel's stay far below

_MAINS = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main", "http://purl.oclc.org/ooxml/spreadsheetml/main")
_RELS_NS = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
# Names as expat gives them with namespace processing (the small parts): "{uri}}local".
_LOCAL = {f"{ns}}}{name}": name for ns in _MAINS for name in (
    "sheet", "workbookPr", "numFmt", "cellXfs", "xf",
)}  # fmt: skip
_LOCAL[f"{_PKG_RELS}}}Relationship"] = "Relationship"

_LETTERS = re.compile(r"[A-Za-z]{1,3}")
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$")
_DATE_IDS = {*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)}


def not_xlsx() -> UploadError:
    return UploadError(_("文件不是有效的 Excel 表格（.xlsx/.xls），或已损坏。"))


def damaged(part: str) -> UploadError:
    return UploadError(_("Excel 文件已损坏（%(p)s 无法读取），请在 Excel 中另存为 .xlsx 后重新上传。") % {"p": part})


# --- the zip -------------------------------------------------------------------------------


def _central_directory(data: bytes) -> tuple[int, int]:
    """(members, bytes) of the central directory, from the end records: checked before
    zipfile builds an object per member."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or len(data) < at + 22:
        raise not_xlsx()
    entries, size = struct.unpack_from("<HI", data, at + 10)
    if entries == 0xFFFF or size == 0xFFFFFFFF:
        locator = at - 20
        if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
            raise not_xlsx()
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if offset + 56 > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
            raise not_xlsx()
        entries, size = struct.unpack_from("<QQ", data, offset + 32)
    return entries, size


class Package:
    """The checked zip: parts by lower-cased name, read with a cap on what they unpack to."""

    def __init__(self, data: bytes, limits: UploadLimits):
        self.limits = limits
        entries, cd_size = _central_directory(data)
        if entries > limits.max_zip_members or cd_size > limits.max_zip_members * 1024:
            raise UploadError(
                _("文件中的部件过多（上限 %(n)d 个），不是正常的 Excel 表格") % {"n": limits.max_zip_members}
            )
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except Exception:
            raise not_xlsx() from None
        if len(infos) > limits.max_zip_members:
            raise UploadError(
                _("文件中的部件过多（上限 %(n)d 个），不是正常的 Excel 表格") % {"n": limits.max_zip_members}
            )
        self.parts: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            key = info.filename.lower().lstrip("/")
            if key in self.parts:
                raise UploadError(
                    _("文件中有重名的部件（%(p)s），不是正常的 Excel 表格") % {"p": _shown(info.filename)}
                )
            self.parts[key] = info
            if info.file_size > limits.max_part_bytes:
                raise UploadError(
                    _("文件中的部件 %(p)s 解压后为 %(s)s MB，超过上限 %(n)s MB")
                    % {"p": _shown(info.filename), "s": mb(info.file_size), "n": mb(limits.max_part_bytes)}
                )
            if info.file_size > RATIO_FLOOR and info.file_size > limits.max_compression_ratio * max(
                info.compress_size, 1
            ):
                raise UploadError(
                    _("文件中的部件 %(p)s 压缩比异常（超过 %(n)d 倍），疑似压缩炸弹")
                    % {"p": _shown(info.filename), "n": limits.max_compression_ratio}
                )
            total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise UploadError(
                _("文件解压后共 %(s)s MB，超过上限 %(n)s MB") % {"s": mb(total), "n": mb(limits.max_unpacked_bytes)}
            )
        if "[content_types].xml" not in self.parts:
            raise not_xlsx()

    def has(self, name: str) -> bool:
        return name.lower() in self.parts

    def display(self, name: str) -> str:
        """A part's name as the file spells it, for messages."""
        info = self.parts.get(name.lower())
        return _shown(info.filename if info else name)

    def chunks(self, name: str, cap: int) -> Iterator[bytes]:
        """The part unpacked, CHUNK bytes at a time, refused past ``cap`` bytes whatever
        its header says."""
        info = self.parts.get(name.lower())
        if info is None:
            raise damaged(name)
        name = info.filename
        if info.file_size > cap:
            raise _part_too_large(name, cap)
        seen = 0
        run = 0  # bytes since the last "<": one text or tag that never ends is refused
        longest = self.limits.max_cell_chars * 8 + CHUNK
        tail = b""
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    seen += len(chunk)
                    if seen > cap:
                        raise _part_too_large(name, cap)
                    first = chunk.find(b"<")
                    if first < 0:
                        run += len(chunk)
                    elif run + first > longest:
                        raise damaged(name)
                    else:
                        run = len(chunk) - chunk.rfind(b"<") - 1
                    if run > longest:
                        raise damaged(name)
                    # No document type, no entities: no xlsx has them, and they are how XML bombs work.
                    window = tail + chunk[:16]
                    if b"<!DOCTYPE" in chunk or b"<!ENTITY" in chunk or b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                        raise damaged(name)
                    tail = chunk[-16:]
                    yield chunk
        except UploadError:
            raise
        except Exception:
            # zlib errors, a bad CRC (the header lied about the size), encryption, a method
            # zipfile does not know.
            raise damaged(name) from None

    def parse(self, name: str, parser, cap: int = SMALL_PART) -> None:
        try:
            for chunk in self.chunks(name, cap):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError:
            raise damaged(self.display(name)) from None


def _part_too_large(name: str, cap: int) -> UploadError:
    return UploadError(_("文件中的部件 %(p)s 解压后超过上限 %(n)s MB") % {"p": _shown(name), "n": mb(cap)})


def _shown(text: str) -> str:
    """A name from the file, fit to show in a message."""
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= 60 else text[:57] + "..."


def _parser(start=None, end=None, chars=None) -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.buffer_size = CHUNK

    # No document type, no entities: no xlsx has them, and they are how XML bombs work.
    def refuse(*args):
        raise expat.ExpatError("DTD")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    if start:
        parser.StartElementHandler = start
    if end:
        parser.EndElementHandler = end
    if chars:
        parser.CharacterDataHandler = chars
    return parser


def _rels_name(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def _relationships(package: Package, source: str) -> dict[str, tuple[str, str]]:
    """id -> (type, part name) of a part's relationships."""
    folder = posixpath.dirname(source)
    rels_name = _rels_name(source)
    found: dict[str, tuple[str, str]] = {}
    if not package.has(rels_name):
        return found

    def start(name, attrs):
        if _LOCAL.get(name) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[attrs.get("Id", "")] = (attrs.get("Type", ""), posixpath.normpath(path).lower())

    package.parse(rels_name, _parser(start))
    return found


# --- the workbook ----------------------------------------------------------------------------


@dataclass
class Sheet:
    name: str  # fit to show in a message
    part: str | None  # lower-cased; None: a chart sheet, or a sheet whose part is missing
    raw_name: str = ""
    shown_part: str = ""  # the part's name as the file spells it


@dataclass
class Workbook:
    package: Package
    main: str
    sheets: list[Sheet]
    date1904: bool
    styles: str | None
    shared_strings: str | None


def _workbook(package: Package) -> Workbook:
    main = "xl/workbook.xml"
    for rel_type, target in _relationships(package, "").values():
        if rel_type.endswith("/officeDocument"):
            main = target
    if not package.has(main):
        raise UploadError(_("文件不是有效的 Excel 表格：缺少工作簿（%(p)s）。") % {"p": main})
    rels = _relationships(package, main)
    sheets: list[Sheet] = []
    date1904 = [False]

    def start(name, attrs):
        local = _LOCAL.get(name)
        if local == "sheet":
            rid = next((v for k, v in attrs.items() if k in {f"{ns}}}id" for ns in _RELS_NS}), "")
            rel_type, target = rels.get(rid, ("", ""))
            is_sheet = rel_type.endswith(("/worksheet", "/macrosheet", "/dialogsheet"))
            part = target if is_sheet and package.has(target) else None
            shown = package.display(part) if part else ""
            sheets.append(Sheet(_shown(attrs.get("name", "")), part, attrs.get("name", ""), shown))
        elif local == "workbookPr":
            date1904[0] = attrs.get("date1904", "").lower() in ("1", "true")

    package.parse(main, _parser(start))
    if not any(s.part for s in sheets):
        raise UploadError(_("工作簿中没有工作表。"))
    by_type = {rel_type.rsplit("/", 1)[-1]: target for rel_type, target in rels.values()}
    styles = by_type.get("styles")
    strings = by_type.get("sharedStrings")
    return Workbook(
        package,
        main,
        sheets,
        date1904[0],
        styles if styles and package.has(styles) else None,
        strings if strings and package.has(strings) else None,
    )


class _Found(Exception):
    pass


def _plain_parser(start=None, end=None, chars=None) -> expat.XMLParserType:
    """A parser for a sheet: names as written, matched by their local part (as the stream
    and calamine match them), so a prefix or a missing namespace hides nothing."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = CHUNK
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    return parser


def _holds_data(package: Package, part: str) -> bool:
    """Whether a sheet has a cell with a value; stops at the first one."""
    depth = [0]

    def start(name, attrs):
        if name.rpartition(":")[2] in ("v", "t"):
            depth[0] += 1

    def end(name):
        if name.rpartition(":")[2] in ("v", "t"):
            depth[0] -= 1

    def chars(data):
        if depth[0] and data.strip():
            raise _Found

    try:
        package.parse(part, _plain_parser(start, end, chars), package.limits.max_part_bytes)
    except _Found:
        return True
    return False


def _dimension(package: Package, part: str) -> str | None:
    """The sheet's declared used range ("A1:H200"), read from its first bytes."""
    found: list[str] = []

    def start(name, attrs):
        local = name.rpartition(":")[2]
        if local == "dimension":
            found.append(attrs.get("ref", ""))
            raise _Found
        if local == "sheetData":
            raise _Found

    with contextlib.suppress(_Found):
        package.parse(part, _plain_parser(start), package.limits.max_part_bytes)
    return found[0] if found else None


def _check_dimension(ref: str | None, sheet: str, limits: UploadLimits) -> None:
    if not ref:
        return
    last = ref.split(":")[-1]
    match = _REF.match(last.strip())
    if not match:
        return  # a malformed dimension proves nothing; the cells are checked as they come
    column = _column_index(match[1])
    row = int(match[2])
    if row > limits.max_rows or column >= limits.max_columns:
        raise UploadError(
            _(
                "工作表“%(s)s”的已用区域为 %(r)s，超过上限（%(rows)d 行、%(cols)d 列）；"
                "请删除多余的行列，或把数据复制到新工作簿后重新上传"
            )
            % {"s": sheet, "r": _shown(ref), "rows": limits.max_rows, "cols": limits.max_columns}
        )


_COLUMNS: dict[str, int] = {}


def _column_index(letters: str) -> int:
    index = _COLUMNS.get(letters)
    if index is None:
        index = 0
        for ch in letters.upper():
            index = index * 26 + ord(ch) - 64
        index -= 1
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = index
    return index


# --- shared strings and styles ----------------------------------------------------------------


def unescape(text: str) -> str:
    """OOXML's _xHHHH_ escapes decoded, as python-calamine decodes them: a surrogate or a
    non-character (U+FFFE, U+FFFF) stays as written."""
    if "_x" not in text:
        return text
    return _ESCAPE.sub(_unescaped, text)


def _unescaped(match: re.Match) -> str:
    code = int(match[1], 16)
    return match[0] if 0xD800 <= code <= 0xDFFF or code >= 0xFFFE else chr(code)


class StringTable:
    """The shared strings, packed: blocks of STRINGS_PER_BLOCK strings joined into one str,
    with their offsets, so memory is about the text itself, not an object per string."""

    def __init__(self):
        self.blocks: list[tuple[str, array]] = []
        self.pending: list[str] = []
        self.count = 0

    def add(self, text: str) -> None:
        self.pending.append(text)
        self.count += 1
        if len(self.pending) == STRINGS_PER_BLOCK:
            self._pack()

    def _pack(self) -> None:
        offsets = array("I", [0])
        at = 0
        for text in self.pending:
            at += len(text)
            offsets.append(at)
        self.blocks.append(("".join(self.pending), offsets))
        self.pending = []

    def finish(self) -> StringTable:
        if self.pending:
            self._pack()
        return self

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(index)
        block, at = divmod(index, STRINGS_PER_BLOCK)
        text, offsets = self.blocks[block]
        return text[offsets[at] : offsets[at + 1]]


def _shared_strings(workbook: Workbook) -> StringTable:
    table = StringTable()
    if not workbook.shared_strings:
        return table
    limits = workbook.package.limits
    max_text = limits.max_cell_chars * 7  # before _xHHHH_ escapes are decoded
    names: dict[str, str] = {}
    state = {"parts": None, "size": 0, "phonetic": 0, "depth": 0}

    def local(name):
        found = names.get(name)
        if found is None:
            found = name.rpartition(":")[2]
            if len(names) < 1000:
                names[name] = found
        return found

    def start(name, attrs):
        state["depth"] += 1
        if state["depth"] > MAX_DEPTH:
            raise damaged(workbook.package.display(workbook.shared_strings))
        name = local(name)
        if name == "si":
            state["parts"], state["size"] = [], 0
        elif name == "t" and state["parts"] is not None and not state["phonetic"]:
            parser.CharacterDataHandler = chars
        elif name == "rPh":
            state["phonetic"] += 1

    def end(name):
        state["depth"] -= 1
        name = local(name)
        if name == "t":
            parser.CharacterDataHandler = None
        elif name == "si" and state["parts"] is not None:
            text = unescape("".join(state["parts"]))
            if len(text) > limits.max_cell_chars:
                raise UploadError(_("共享字符串中有超过 %(n)d 个字符的内容") % {"n": limits.max_cell_chars})
            table.add(text)
            state["parts"] = None
        elif name == "rPh":
            state["phonetic"] -= 1

    def chars(data):
        state["size"] += len(data)
        if state["size"] > max_text:
            raise UploadError(_("共享字符串中有超过 %(n)d 个字符的内容") % {"n": limits.max_cell_chars})
        state["parts"].append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = CHUNK
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    workbook.package.parse(workbook.shared_strings, parser, limits.max_shared_strings_bytes)
    return table.finish()


def _is_date_format(code: str) -> bool:
    code = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)  # quoted text, escapes, padding
    code = re.sub(r"\[(?:[hms]+)\]", "h", code, flags=re.I)  # elapsed time
    code = re.sub(r"\[[^\]]*\]", "", code)  # colours, locales, conditions
    return code.lower() != "general" and bool(re.search(r"[dmyhs]", code, re.I))


def _date_styles(workbook: Workbook) -> frozenset[int]:
    """Indexes of the cell formats that show a number as a date or time."""
    if not workbook.styles:
        return frozenset()
    custom: dict[int, bool] = {}
    xf_formats: list[int] = []
    in_xfs = [False]

    def start(name, attrs):
        local = _LOCAL.get(name)
        if local == "numFmt":
            with contextlib.suppress(ValueError):
                custom[int(attrs.get("numFmtId", ""))] = _is_date_format(attrs.get("formatCode", ""))
        elif local == "cellXfs":
            in_xfs[0] = True
        elif local == "xf" and in_xfs[0]:
            try:
                xf_formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)

    def end(name):
        if _LOCAL.get(name) == "cellXfs":
            in_xfs[0] = False

    workbook.package.parse(workbook.styles, _parser(start, end), STYLES_BYTES)
    return frozenset(i for i, fmt in enumerate(xf_formats) if custom.get(fmt, fmt in _DATE_IDS and fmt not in custom))


# --- the sheet, streamed ------------------------------------------------------------------------


def _as_date(value: float, date1904: bool):
    """A date-formatted number as calamine gives it: a time below 1, else a date (or a
    datetime with a time of day); the number itself past 9999-12-31."""
    if value < 1:
        seconds = round((value % 1) * 86_400)
        return dt.time(0) if seconds >= 86_400 else dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    serial = value + 1462 if date1904 else value
    if serial >= 2_958_466:
        return value
    if serial < 60:  # Excel's 1900-02-29 that never was
        serial += 1
    moment = dt.datetime(1899, 12, 30) + dt.timedelta(days=serial)
    moment = moment.replace(microsecond=0) + dt.timedelta(seconds=round(moment.microsecond / 1e6))
    if moment.time() == dt.time(0):
        return moment.date()
    return moment


def _convert(kind: str, value: str, date_style: bool, date1904: bool):
    """A cell's <v> text as the value calamine would give ("s" and "inlineStr" are done by
    the caller)."""
    if kind == "n":
        if not _NUMBER.match(value):
            return value  # "NaN", "INF": the import's number check names the cell
        number = float(value)
        if not math.isfinite(number):
            return value
        return _as_date(number, date1904) if date_style else number
    if kind == "str":
        return unescape(value)
    if kind == "e":
        return ""  # #DIV/0! and the like: calamine gives an empty cell
    if kind == "b":
        return value.strip() in ("1", "true")
    if kind == "d":
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


class _SheetStream:
    """Expat handlers that turn <row>/<c> into finished rows, checking every cell as it
    comes: its row and column against the limits, its text against the cell size. Names
    are matched without namespace processing (cheaper), any prefix stripped."""

    def __init__(self, workbook: Workbook, sheet: Sheet, strings: StringTable, date_styles: frozenset[int]):
        self.sheet = sheet
        self.shown_part = workbook.package.display(sheet.part)
        self.strings = strings
        self.date_styles = frozenset(str(i) for i in date_styles)  # compared with s="..." as typed
        self.date1904 = workbook.date1904
        self.limits = limits = workbook.package.limits
        self.max_rows, self.max_columns = limits.max_rows, limits.max_columns
        self.max_text = limits.max_cell_chars * 7  # before _xHHHH_ escapes are decoded
        self.ready: list[tuple[int, list]] = []
        self.row_number = 0
        self.cell_row = 0
        self.row_placed = False  # the row's number came from the file (its r="" or a cell's)
        self.cells: dict[int, object] = {}
        self.column = -1
        self.kind = "n"
        self.date_style = False
        self.text: list[str] = []
        self.size = 0
        self.value: str | None = None
        self.inline: list[str] | None = None
        self.phonetic = 0
        self.depth = 0
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_dtd
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        self.parser = parser
        self.names: dict[str, str] = {}

    def local(self, name: str) -> str:
        local = self.names.get(name)
        if local is None:
            local = name.rpartition(":")[2]
            if len(self.names) < 1000:
                self.names[name] = local
        return local

    def start(self, name, attrs):
        self.depth += 1
        if name == "c":
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                column = _COLUMNS.get(letters)
                if column is None:
                    if not _LETTERS.fullmatch(letters):
                        raise damaged(_("单元格 %(r)s") % {"r": _shown(ref)})
                    column = _column_index(letters)
                self.column = column
                digits = ref[len(letters) :]
                cell_row = int(digits) if digits and len(digits) < 9 else self.max_rows + 1
                if cell_row != self.row_number:
                    if self.row_placed:
                        # python-calamine would place the cell by its own r=""; a row whose cells
                        # name other rows is no sheet any writer makes.
                        raise damaged(_("单元格 %(r)s") % {"r": _shown(ref)})
                    self.row_number = cell_row  # a <row> without r="" takes its cells' row
                self.row_placed = True
                self.cell_row = cell_row
            else:
                self.column += 1
                self.cell_row = self.row_number
            self.kind = attrs.get("t", "n")
            self.date_style = attrs.get("s") in self.date_styles
            self.value = None
            self.inline = None
            return
        if name == "v":
            self.text, self.size = [], 0
            self.parser.CharacterDataHandler = self.chars
            return
        if self.depth > MAX_DEPTH:
            raise damaged(self.shown_part)
        name = self.local(name)
        if name == "row":
            ref = attrs.get("r")
            self.row_placed = bool(ref and ref.isdigit() and len(ref) < 9)
            self.row_number = int(ref) if self.row_placed else self.row_number + 1
            self.cells = {}
            self.column = -1
        elif name == "is":
            self.inline = []
            self.size = 0
        elif name == "t" and self.inline is not None and not self.phonetic:
            self.text = self.inline
            self.parser.CharacterDataHandler = self.chars
        elif name == "rPh":
            self.phonetic += 1
        elif name in ("c", "v"):
            self.start(name, attrs)
            self.depth -= 1

    def chars(self, data):
        self.size += len(data)
        if self.size > self.max_text:
            raise cell_too_long(self.limits, self.row_number, column_letter(max(self.column, 0)))
        self.text.append(data)

    def end(self, name):
        self.depth -= 1
        if name != "c" and name != "v":
            name = self.local(name)
        if name == "v":
            self.value = "".join(self.text)
            self.parser.CharacterDataHandler = None
        elif name == "c":
            kind = self.kind
            if kind == "s":
                try:
                    value = self.strings[int(self.value)]
                except (ValueError, IndexError, TypeError):
                    if self.value is None:
                        return
                    raise damaged(
                        _("第%(row)d行 %(col)s列的共享字符串")
                        % {"row": self.row_number, "col": column_letter(max(self.column, 0))}
                    ) from None
            elif kind == "inlineStr":
                if self.inline is None:
                    return
                value = unescape("".join(self.inline))
            elif self.value is None:
                return  # a formatted empty cell
            else:
                value = _convert(kind, self.value, self.date_style, self.date1904)
            if value == "":
                return
            column = self.column
            if column >= self.max_columns or column < 0:
                raise columns_exceeded(self.limits, self.row_number, column_letter(max(column, 0)))
            if self.row_number > self.max_rows or self.cell_row > self.max_rows:
                row = max(self.row_number, self.cell_row)
                raise rows_exceeded(self.limits, row, column_letter(column))
            if value.__class__ is str and len(value) > self.limits.max_cell_chars:
                raise cell_too_long(self.limits, self.row_number, column_letter(column))
            self.cells[column] = value
        elif name == "row":
            if self.cells:
                cells = self.cells
                row = [""] * (max(cells) + 1)
                for column, value in cells.items():
                    row[column] = value
                self.ready.append((self.row_number, row))
                self.cells = {}
        elif name == "t":
            self.parser.CharacterDataHandler = None
        elif name == "rPh":
            self.phonetic -= 1


def _refuse_dtd(*args):
    # No document type, no entities: no xlsx has them, and they are how XML bombs work.
    raise expat.ExpatError("DTD")


def _rows(workbook: Workbook, sheet: Sheet, strings, date_styles) -> Iterator[list]:
    package = workbook.package
    stream = _SheetStream(workbook, sheet, strings, date_styles)
    parse = stream.parser.Parse
    chunks = package.chunks(sheet.part, package.limits.max_part_bytes)
    last = 0
    try:
        while True:
            chunk = next(chunks, None)
            parse(chunk or b"", chunk is None)
            for number, row in stream.ready:
                if number <= last:
                    raise damaged(_("工作表“%(s)s”第%(row)d行（行的顺序）") % {"s": sheet.name, "row": number})
                for _gap in range(last + 1, number):
                    yield []
                last = number
                yield row
            stream.ready = []
            if chunk is None:
                return
    except expat.ExpatError:
        raise damaged(sheet.shown_part) from None


def open_sheet(data: bytes, limits: UploadLimits) -> tuple[Workbook, Sheet, str | None]:
    """Check the package and choose the sheet to read; every refusal that the file's
    declarations allow is made here, before the first row. Also the sheet's <dimension>."""
    package = Package(data, limits)
    workbook = _workbook(package)
    worksheets = [s for s in workbook.sheets if s.part]
    with_data = [s for s in worksheets if _holds_data(package, s.part)]
    if len(with_data) > 1:
        raise UploadError(
            _("工作簿中有 %(n)d 个工作表含有数据（%(s)s）；只能读取一个，请把其他工作表删除或清空后重新上传")
            % {"n": len(with_data), "s": "、".join(f"“{s.name}”" for s in with_data[:10])}
        )
    sheet = with_data[0] if with_data else worksheets[0]
    dimension = _dimension(package, sheet.part)
    _check_dimension(dimension, sheet.name, limits)
    return workbook, sheet, dimension


def read_xlsx(data: bytes, limits: UploadLimits) -> Iterator[list]:
    workbook, sheet, dimension = open_sheet(data, limits)
    dense = _dense_copy(workbook, sheet, dimension)
    if dense is not None:
        return _dense_rows(dense, sheet, limits)
    strings = _shared_strings(workbook)
    date_styles = _date_styles(workbook)
    return _rows(workbook, sheet, strings, date_styles)


# --- the dense path --------------------------------------------------------------------------------
# python-calamine reads a sheet several times faster than the stream above, but builds it whole,
# as one range from A1 to the last cell, and holds every shared string. It is given a sheet only
# when a scan proves that range small: every cell names its place (r="B7"), the farthest is
# within the limits, and rows x columns is at most DENSE_CELLS; and only a copy of the parts it
# needs, unpacked under our caps. Anything else is streamed.

DENSE_CELLS = 1_000_000
DENSE_SHEET_BYTES = 24 << 20
DENSE_STRINGS_BYTES = 8 << 20
# Inside <sheetData>: every cell, and the cells that name their place first, as every writer
# we know does (<c r="B7" ...>). When the counts differ, or a name has a prefix (<x:c>), the
# sheet is streamed. "<" is always escaped in XML text, so "<c" can only start a tag (or sit
# in a comment, or be <color> in rich text: the counts differ and the sheet is streamed).
_NAMED = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')
_THREE_LETTERS = re.compile(rb'<c r="[A-Z]{3}')
_TWO_LETTERS = re.compile(rb'<c r="([A-Z]{2})[0-9]')
_ONE_LETTER = re.compile(rb'<c r="([A-Z])[0-9]')


def _area(ref: str | None) -> int | None:
    """Cells in a <dimension> as calamine sizes its range by it; None when it is no plain
    range ("B2:A1", "A0", junk): such a sheet is streamed."""
    if not ref:
        return 0
    corners = []
    for corner in ref.split(":"):
        match = _REF.match(corner.strip())
        if not match or len(corners) == 2:
            return None
        corners.append((int(match[2]), _column_index(match[1])))
    (top, left), (bottom, right) = corners[0], corners[-1]
    if not 1 <= top <= bottom or not 0 <= left <= right:
        return None
    return bottom * (right + 1)


def _dense_copy(workbook: Workbook, sheet: Sheet, dimension: str | None) -> bytes | None:
    """A stored zip of the parts calamine reads, if the sheet is one for it; else None."""
    package = workbook.package
    parts = package.parts
    if (
        parts[sheet.part].file_size > DENSE_SHEET_BYTES
        or (workbook.shared_strings and parts[workbook.shared_strings].file_size > DENSE_STRINGS_BYTES)
        or (workbook.styles and parts[workbook.styles].file_size > SMALL_PART)
        or (_area(dimension) is None or _area(dimension) > DENSE_CELLS)
    ):
        return None
    body = b"".join(package.chunks(sheet.part, DENSE_SHEET_BYTES))
    start = body.find(b"<sheetData")
    end = body.find(b"</sheetData>")
    if start < 0 or body.count(b"sheetData") > 2 or body.find(b":c", start) >= 0:
        return None
    end = len(body) if end < 0 else end
    cells = body.count(b"<c", start, end)
    rows = _NAMED.findall(body, start, end)
    if cells != len(rows) or _THREE_LETTERS.search(body, start, end):
        return None
    # A cell is <c><f/><v/></c> or <c><is><t/></is></c> at most (rich text streams): more tags than
    # that means something else is in there (deep nesting, say) and the stream's checks decide.
    if body.count(b"<") > 12 * cells + 3 * body.count(b"<row", start, end) + 20_000:
        return None
    columns = _TWO_LETTERS.findall(body, start, end) or _ONE_LETTER.findall(body, start, end)
    max_column = _column_index(max(columns).decode()) if columns else 0
    max_row = max(map(int, rows)) if rows else 0
    limits = package.limits
    if max_row > limits.max_rows or max_column >= limits.max_columns or max_row * (max_column + 1) > DENSE_CELLS:
        return None
    copy = io.BytesIO()
    with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as out:
        out.writestr(parts[sheet.part].filename, body)
        del body
        for name in _dense_parts(workbook):
            cap = DENSE_STRINGS_BYTES if name == workbook.shared_strings else SMALL_PART
            out.writestr(parts[name].filename, b"".join(package.chunks(name, cap)))
    return copy.getvalue()


def _dense_parts(workbook: Workbook) -> list[str]:
    package = workbook.package
    names = ["[content_types].xml", "_rels/.rels", workbook.main, _rels_name(workbook.main)]
    names += [workbook.styles, workbook.shared_strings]
    return [n for n in names if n and package.has(n)]


def _dense_rows(data: bytes, sheet: Sheet, limits: UploadLimits) -> Iterator[list]:
    import python_calamine

    try:
        found = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet.raw_name)
        rows = found.iter_rows()
    except BaseException as exc:  # calamine's errors; a panic in its Rust code is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise damaged(sheet.shown_part) from None
    # iter_rows() starts at row 1 but at the range's first column: put the columns before back.
    lead = [""] * found.start[1]
    return _dense_iter(rows, lead, sheet, limits)


def _dense_iter(rows, lead: list, sheet: Sheet, limits: UploadLimits) -> Iterator[list]:
    number = empty = 0
    while True:
        try:
            row = next(rows, None)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise damaged(sheet.shown_part) from None
        if row is None:
            return
        number += 1
        while row and row[-1] == "":
            row.pop()
        if not row:
            empty += 1  # yielded only if a row with values follows, as the stream does
            continue
        if lead:
            row = lead + row
        for index, value in enumerate(row):
            if value.__class__ is str and len(value) > limits.max_cell_chars:
                raise cell_too_long(limits, number, column_letter(index))
        for _gap in range(empty):
            yield []
        empty = 0
        yield row
