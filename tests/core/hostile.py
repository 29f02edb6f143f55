"""Spreadsheets built by hand, byte by byte where it matters, for the upload reader's tests:
a minimal valid .xlsx and every way a hostile one can differ (a cell far away, a lying
<dimension>, a part that unpacks to a gigabyte, a zip whose headers lie, ...)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
STYLES = (
    f'<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs></styleSheet>'
).encode()


@dataclass
class Member:
    name: str
    data: bytes  # as stored (compressed when method is 8)
    crc: int
    size: int  # the unpacked size the headers declare
    method: int = 8


def member(name: str, content: bytes, *, declared_size: int | None = None, stored: bool = False) -> Member:
    if stored:
        packed = content
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = packer.compress(content) + packer.flush()
    size = len(content) if declared_size is None else declared_size
    return Member(name, packed, zlib.crc32(content), size, 0 if stored else 8)


def bomb_member(name: str, head: bytes, block: bytes, times: int, tail: bytes, *, declared_size=None) -> Member:
    """head + block * times + tail, deflated without ever holding it: after a full flush the
    compressor starts afresh, so every copy of the block compresses to the same bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    segment = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    last = packer.compress(tail) + packer.flush()
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + len(block) * times + len(tail)
    return Member(name, first + segment * times + last, crc, size if declared_size is None else declared_size)


def zip_of(members: list[Member]) -> bytes:
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0x800, m.method, 0, 0x21, m.crc, len(m.data), m.size, len(name), 0
        )
        out += name + m.data
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0x800,
            m.method,
            0,
            0x21,
            m.crc,
            len(m.data),
            m.size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
    start = len(out)
    out += central
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


# --- the parts of a workbook ------------------------------------------------------------------


def cell(ref: str | None, value, *, style: int | None = None) -> str:
    """A <c>: str -> inline string, a ("s", index) tuple -> shared string, bool, number,
    ("raw", xml) -> the cell's inside as given, ("t", kind, text) -> <v> with that type."""
    attrs = (f' r="{ref}"' if ref else "") + (f' s="{style}"' if style is not None else "")
    if isinstance(value, bool):
        return f'<c{attrs} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f"<c{attrs}><v>{value!r}</v></c>"
    if isinstance(value, str):
        return f'<c{attrs} t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
    if value[0] == "s":
        return f'<c{attrs} t="s"><v>{value[1]}</v></c>'
    if value[0] == "raw":
        return f"<c{attrs}>{value[1]}</c>"
    return f'<c{attrs} t="{value[1]}"><v>{escape(value[2])}</v></c>'


def row(number: int | None, *cells: str) -> str:
    return (f'<row r="{number}">' if number else "<row>") + "".join(cells) + "</row>"


def sheet_xml(rows: str, *, dimension: str | None = None, before: str = "", after: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{MAIN}" xmlns:r="{OFFICE_RELS}">{dim}{before}<sheetData>{rows}</sheetData>{after}</worksheet>'.encode()


def shared_strings(texts: list[str]) -> bytes:
    items = "".join(f'<si><t xml:space="preserve">{escape(t)}</t></si>' for t in texts)
    return f'<sst xmlns="{MAIN}" count="{len(texts)}" uniqueCount="{len(texts)}">{items}</sst>'.encode()


def workbook_parts(
    sheets: list[tuple[str, bytes]],
    *,
    strings: list[str] | bytes | None = None,
    styles: bytes | None = STYLES,
    date1904: bool = False,
) -> dict[str, bytes]:
    """name -> content of a valid workbook with these (name, sheet xml) sheets."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f"{overrides}</Types>"
        ).encode(),
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="rId1" '
            f'Type="{OFFICE_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
    }
    rels = [f'<Relationship Id="rId{i}" Type="{OFFICE_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)]  # fmt: skip
    if styles is not None:
        rels.append(f'<Relationship Id="rIdS" Type="{OFFICE_RELS}/styles" Target="styles.xml"/>')
        parts["xl/styles.xml"] = styles
    if strings is not None:
        rels.append(f'<Relationship Id="rIdT" Type="{OFFICE_RELS}/sharedStrings" Target="sharedStrings.xml"/>')
        parts["xl/sharedStrings.xml"] = strings if isinstance(strings, bytes) else shared_strings(strings)
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{PACKAGE_RELS}">{"".join(rels)}</Relationships>'.encode()
    )
    sheet_list = "".join(
        f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _xml) in enumerate(sheets, 1)
    )
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    parts["xl/workbook.xml"] = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE_RELS}">{pr}<sheets>{sheet_list}</sheets></workbook>'
    ).encode()
    for i, (_name, xml) in enumerate(sheets, 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = xml
    return parts


def xlsx(parts: dict[str, bytes], *, extra: list[Member] = ()) -> bytes:
    return zip_of([member(name, content) for name, content in parts.items()] + list(extra))


def one_sheet(rows: str, **kwargs) -> bytes:
    dimension = kwargs.pop("dimension", None)
    return xlsx(workbook_parts([("Sheet1", sheet_xml(rows, dimension=dimension))], **kwargs))


# --- old binary .xls: BIFF8 records in a compound file -----------------------------------------


def _record(kind: int, body: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def xls(
    sheets: list[tuple[str, list[tuple[int, int, object]]]],
    *,
    dimensions: bool | tuple[int, int, int, int] = True,
    unique_strings: int | None = None,
) -> bytes:
    """A BIFF8 workbook: each sheet a list of (row, column, value) with numbers or text
    (text through the shared string table), in an MS-CFB container of 512-byte sectors."""
    texts: list[str] = []
    for _name, cells in sheets:
        texts += [v for _r, _c, v in cells if isinstance(v, str) and v not in texts]
    bof = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x0206))
    unique = len(texts) if unique_strings is None else unique_strings
    sst = _record(0x00FC, struct.pack("<II", len(texts), unique) + b"".join(
        struct.pack("<HB", len(t), 1) + t.encode("utf-16-le") for t in texts))  # fmt: skip
    xfs = b"".join(_record(0x00E0, struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5 if i < 15 else 1, 0x20, 0, 0, 0, 0, 0, 0x20C0))
                   for i in range(16))  # fmt: skip
    fonts = _record(
        0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + b"\x05\x01A\x00r\x00i\x00a\x00l\x00"
    )
    names = [struct.pack("<BB", len(n), 1) + n.encode("utf-16-le") for n, _cells in sheets]
    globals_size = len(bof) + len(fonts) * 5 + len(xfs) + len(sst) + sum(4 + 6 + len(n) for n in names) + 4
    streams, offset = [], globals_size
    boundsheets = b""
    for (_name, cells), encoded in zip(sheets, names, strict=True):
        boundsheets += _record(0x0085, struct.pack("<IBB", offset, 0, 0) + encoded)
        body = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 0x0206))
        if isinstance(dimensions, tuple):
            body += _record(0x0200, struct.pack("<IIHHH", *dimensions, 0))
        elif dimensions and cells:
            rows = [r for r, _c, _v in cells]
            cols = [c for _r, c, _v in cells]
            body += _record(0x0200, struct.pack("<IIHHH", min(rows), max(rows) + 1, min(cols), max(cols) + 1, 0))
        for r, c, v in cells:
            if isinstance(v, str):
                body += _record(0x00FD, struct.pack("<HHHI", r, c, 15, texts.index(v)))
            else:
                body += _record(0x0203, struct.pack("<HHHd", r, c, 15, float(v)))
        body += _record(0x000A)
        streams.append(body)
        offset += len(body)
    stream = bof + fonts * 5 + xfs + sst + boundsheets + _record(0x000A) + b"".join(streams)
    assert len(bof) + len(fonts) * 5 + len(xfs) + len(sst) + len(boundsheets) + 4 == globals_size
    return compound_file({"Workbook": stream.ljust(4096, b"\0")})


def compound_file(streams: dict[str, bytes]) -> bytes:
    """MS-CFB version 3 with one FAT sector, one directory sector, streams of 4,096 bytes
    or more (no mini stream)."""
    sector = 512
    free, end, fat_mark = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    fat = [fat_mark, end]
    starts, data = [], b""
    for content in streams.values():
        count = -(-len(content) // sector)
        first = len(fat)
        starts.append(first)
        fat += [first + i + 1 for i in range(count - 1)] + [end]
        data += content.ljust(count * sector, b"\0")
    assert len(fat) <= sector // 4
    fat += [free] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, child: int, start: int, size: int, right: int = free) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(encoded), kind, 1, free, right, child)
            + b"\0" * 36
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    directory = entry("Root Entry", 5, 1, end, 0)
    for i, name in enumerate(names):
        directory += entry(name, 2, free, starts[i], len(streams[name]), right=i + 2 if i + 1 < len(names) else free)
    directory = directory.ljust(sector, b"\0")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + data
