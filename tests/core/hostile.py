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
