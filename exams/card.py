"""The printed 行政执法证 (card) as PDF, and the one service that prints it.

A card is 85.6 x 54 mm (ISO/IEC 7810 ID-1), as the national card. Front: the title band,
the photo (3:4, from ``personnel.photos``), name, 工作单位 (``personnel.models.display_unit``),
执法类别, 执法区域, the number as printed (``numbers.printed``), valid until, 发证机关 (the
enforcement body of the certificate's region), the card's edition, and a QR code to the
public verify page (``qr.verify_url``). Back: 使用须知 and the number again, so that a
front and a back that belong together can be told apart.

Two layouts: ``card``, one card per page at card size, front then back (card printers,
duplex); ``a4``, ten cards to an A4 sheet (2 x 5) with cut marks, each front page followed by
its back page with the columns mirrored, so that a long-edge duplex print puts every back
behind its front.

Chinese is drawn with the TrueType font shipped in ``exams/fonts`` (embedded, subset to the
glyphs used), never a system font, so the PDF is the same on any machine.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import segno
from django.db import transaction
from django.utils import formats, translation
from django.utils.translation import gettext as _
from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from core.errors import AccessDenied, Conflict, ValidationFailed
from personnel.models import RegionLevel, display_unit, region_enforcement_body
from personnel.selectors import actor_manages_region

from . import numbers
from .models import Certificate, CertificateEvent, CertificateStatus
from .qr import verify_url

FONT_NAME = "WenQuanYiMicroHeiCard"
FONT_PATH = Path(__file__).resolve().parent / "fonts" / "WenQuanYiMicroHei-card.ttf"

CARD_LANGUAGE = "zh-hans"
CARD_WIDTH = 85.6 * mm
CARD_HEIGHT = 54 * mm
LAYOUT_CARD = "card"
LAYOUT_A4 = "a4"
LAYOUTS = (LAYOUT_CARD, LAYOUT_A4)
A4_COLUMNS, A4_ROWS = 2, 5
MAX_CARDS = 500  # one print run; a PDF of 500 cards is ~50 pages of A4 and a few MB

BAND = Color(0.70, 0.07, 0.12)  # the card's red
GREY = Color(0.35, 0.35, 0.35)


def layout_choices() -> list[tuple[str, str]]:
    return [
        (LAYOUT_A4, _("A4 拼版（每页 10 张，带裁切线，正反面交替，供双面打印）")),
        (LAYOUT_CARD, _("每页一张（证卡尺寸，正面后接背面）")),
    ]


def notes() -> list[str]:
    """使用须知 on the back of the card, as the national card has them."""
    return [
        _("本证是持证人依法从事行政执法活动的身份证明，由发证机关统一制作、核发。"),
        _("持证人执行公务时，应当主动出示本证。"),
        _("持证人应当在本证载明的执法类别和执法区域内从事执法活动。"),
        _("本证仅限本人使用，不得涂改、转借、损毁。"),
        _("本证实行年审制度，未按规定年审的，本证无效。"),
        _("本证遗失或损坏的，应当及时报告发证机关并申请补办，原证作废。"),
        _("持证人调离执法岗位、退休或被注销、吊销执法资格的，应当交回本证。"),
        _("扫描本证正面二维码，可核验本证真伪及状态。"),
    ]


def card_printable(certificate: Certificate) -> bool:
    """Only a valid certificate gets a card (a suspended, revoked, expired or cancelled one not)."""
    return certificate.status == CertificateStatus.VALID


@transaction.atomic
def certificate_cards_print(*, actor, certificates: Iterable[Certificate], layout: str, request=None) -> bytes:
    """The PDF of the cards of ``certificates`` (in the order given) and one ``card_printed``
    event on each, in one transaction: refused whole, with the numbers at fault, when any
    certificate is outside the actor's scope or not valid."""
    chosen = certificate_cards_check(actor=actor, certificates=certificates, layout=layout)
    pdf = cards_pdf(chosen, layout=layout, request=request)
    CertificateEvent.objects.bulk_create(
        [
            CertificateEvent(
                certificate=c,
                kind=CertificateEvent.Kind.CARD_PRINTED,
                reason=_("证卡第%(n)d版") % {"n": _edition(c)},
                actor=actor if getattr(actor, "pk", None) else None,
            )
            for c in chosen
        ]
    )
    return pdf


def certificate_cards_check(*, actor, certificates: Iterable[Certificate], layout: str) -> list[Certificate]:
    """The certificates to print, read afresh with what the card shows, or the refusal
    ``certificate_cards_print`` would give (a HEAD request asks only this: nothing printed)."""
    if layout not in LAYOUTS:
        raise ValidationFailed(_("未知的版式。"), fields={"layout": [_("可选：a4 或 card。")]})
    ids = [c.pk for c in certificates]
    if not ids:
        raise ValidationFailed(_("请选择要打印的执法证。"))
    if len(ids) > MAX_CARDS:
        raise ValidationFailed(_("一次最多打印 %(n)d 张执法证。") % {"n": MAX_CARDS})
    by_id = Certificate.objects.select_related("holder", "holder__region__parent", "region").in_bulk(ids)
    chosen = [by_id[pk] for pk in dict.fromkeys(ids) if pk in by_id]
    outside = [c.number for c in chosen if not actor_manages_region(actor=actor, region=c.holder.region)]
    if outside:
        raise AccessDenied(_("无权为这些执法证制卡：%(n)s") % {"n": "、".join(outside)})
    not_valid = [f"{c.number}（{c.get_status_display()}）" for c in chosen if not card_printable(c)]
    if not_valid:
        raise Conflict(
            _("只能为有效的执法证制卡，这些不是：%(n)s") % {"n": "、".join(not_valid)}, code="card_not_printable"
        )
    return chosen


# --- drawing


def cards_pdf(certificates: Sequence[Certificate], *, layout: str, request=None) -> bytes:
    """The PDF of these certificates' cards (no checks, no events: ``certificate_cards_print`` is the caller).
    The card is an official document in Chinese, whatever the language of the page that asked."""
    with translation.override(CARD_LANGUAGE):
        return _cards_pdf(certificates, layout=layout, request=request)


def _cards_pdf(certificates: Sequence[Certificate], *, layout: str, request=None) -> bytes:
    _register_font()
    out = io.BytesIO()
    size = (CARD_WIDTH, CARD_HEIGHT) if layout == LAYOUT_CARD else A4
    pdf = canvas.Canvas(out, pagesize=size, pageCompression=1, initialFontName=FONT_NAME, initialFontSize=7)
    pdf.setTitle(_("行政执法证"))
    pdf.setAuthor("")
    pdf.setCreator("")
    cards = [_CardData.of(c, request) for c in certificates]
    if layout == LAYOUT_CARD:
        for card in cards:
            _front(pdf, card, 0, 0)
            pdf.showPage()
            _back(pdf, card, 0, 0)
            pdf.showPage()
    else:
        per_sheet = A4_COLUMNS * A4_ROWS
        for start in range(0, len(cards), per_sheet):
            sheet = cards[start : start + per_sheet]
            for side in (_front, _back):
                _cut_marks(pdf)
                for n, card in enumerate(sheet):
                    row, column = divmod(n, A4_COLUMNS)
                    if side is _back:  # long-edge duplex: the back of the left card is on the right
                        column = A4_COLUMNS - 1 - column
                    x, y = _a4_origin(row, column)
                    side(pdf, card, x, y)
                pdf.showPage()
    pdf.save()
    return out.getvalue()


def _edition(certificate: Certificate) -> int:
    return getattr(certificate, "card_edition", 1) or 1


class _CardData:
    __slots__ = ("area", "edition", "issuer", "name", "number", "photo", "printed", "sector", "unit", "until", "url")

    @classmethod
    def of(cls, certificate: Certificate, request) -> _CardData:
        holder = certificate.holder
        card = cls()
        card.name = holder.name
        card.unit = display_unit(holder)
        card.sector = _("安全生产（%(s)s）") % {"s": holder.get_sector_display()}
        card.area = area_of(holder.region)
        card.number = certificate.number
        card.printed = numbers.printed(certificate.number)
        card.until = formats.date_format(certificate.valid_until, "Y年n月j日")
        card.issuer = region_enforcement_body(certificate.region)
        card.edition = _edition(certificate)
        card.url = verify_url(request, certificate.number)
        card.photo = _photo_reader(holder)
        return card


def area_of(region) -> str:
    """执法区域 as printed: a county with its city (石家庄市长安区), else the region's name."""
    if region.level == RegionLevel.COUNTY and region.parent_id:
        return f"{region.parent.name}{region.name}"
    return region.name


def _photo_reader(holder) -> ImageReader | None:
    if not holder.photo:
        return None
    try:
        with holder.photo.open("rb") as handle:
            return ImageReader(io.BytesIO(handle.read()))
    except (FileNotFoundError, OSError):
        return None


_font_registered = False


def _register_font() -> None:
    global _font_registered
    if not _font_registered:
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
        _font_registered = True


def _a4_origin(row: int, column: int) -> tuple[float, float]:
    width, height = A4
    left = (width - A4_COLUMNS * CARD_WIDTH) / 2
    top = height - (height - A4_ROWS * CARD_HEIGHT) / 2
    return left + column * CARD_WIDTH, top - (row + 1) * CARD_HEIGHT


def _cut_marks(pdf: canvas.Canvas) -> None:
    """Short lines in the margins along every edge between cards (cards abut: one cut each)."""
    left, bottom = _a4_origin(A4_ROWS - 1, 0)
    right, top = left + A4_COLUMNS * CARD_WIDTH, bottom + A4_ROWS * CARD_HEIGHT
    gap, length = 2 * mm, 6 * mm
    pdf.saveState()
    pdf.setLineWidth(0.3)
    pdf.setStrokeColor(black)
    for column in range(A4_COLUMNS + 1):
        x = left + column * CARD_WIDTH
        pdf.line(x, top + gap, x, top + gap + length)
        pdf.line(x, bottom - gap, x, bottom - gap - length)
    for row in range(A4_ROWS + 1):
        y = bottom + row * CARD_HEIGHT
        pdf.line(left - gap, y, left - gap - length, y)
        pdf.line(right + gap, y, right + gap + length, y)
    pdf.restoreState()


def _fit(pdf, text: str, x: float, y: float, max_width: float, size: float, *, min_size: float = 4.5) -> None:
    """Draw ``text`` at ``size``, smaller down to ``min_size`` to fit ``max_width``, then cut with …"""
    while size > min_size and pdfmetrics.stringWidth(text, FONT_NAME, size) > max_width:
        size -= 0.25
    if pdfmetrics.stringWidth(text, FONT_NAME, size) > max_width:
        while text and pdfmetrics.stringWidth(text + "…", FONT_NAME, size) > max_width:
            text = text[:-1]
        text += "…"
    pdf.setFont(FONT_NAME, size)
    pdf.drawString(x, y, text)


_NO_LINE_START = set("，。、；：？！）》」』”’…")


def _wrap(text: str, max_width: float, size: float) -> list[str]:
    """Break Chinese text by width, character by character (no spaces to break at)."""
    lines, line = [], ""
    for char in text:
        if line and pdfmetrics.stringWidth(line + char, FONT_NAME, size) > max_width:
            if char in _NO_LINE_START and len(line) > 1:
                # A line never starts with a closing mark: the last character comes along.
                lines.append(line[:-1])
                line = line[-1]
            else:
                lines.append(line)
                line = ""
        line += char
    return [*lines, line] if line else lines


def _front(pdf: canvas.Canvas, card: _CardData, x: float, y: float) -> None:
    pdf.saveState()
    pdf.translate(x, y)
    _outline(pdf)
    # Title band
    pdf.setFillColor(BAND)
    pdf.rect(0, CARD_HEIGHT - 9 * mm, CARD_WIDTH, 9 * mm, stroke=0, fill=1)
    pdf.setFillColor(white)
    pdf.setFont(FONT_NAME, 12)
    pdf.drawCentredString(CARD_WIDTH / 2, CARD_HEIGHT - 6.3 * mm, _("行政执法证"))
    pdf.setFillColor(black)
    # Photo, 21 x 28 mm (3:4)
    px, py, pw, ph = 4 * mm, 14 * mm, 21 * mm, 28 * mm
    if card.photo is not None:
        pdf.drawImage(card.photo, px, py, pw, ph)
    else:
        pdf.setFillColor(GREY)
        pdf.setFont(FONT_NAME, 7)
        pdf.drawCentredString(px + pw / 2, py + ph / 2, _("照片"))
        pdf.setFillColor(black)
    pdf.setLineWidth(0.4)
    pdf.rect(px, py, pw, ph, stroke=1, fill=0)
    # Fields
    label_x, value_x, right = 28 * mm, 40 * mm, CARD_WIDTH - 4 * mm
    qr_size = 16 * mm
    qr_x, qr_y = CARD_WIDTH - 4 * mm - qr_size, 3 * mm
    rows = [
        (_("姓　　名"), card.name, 40.0, 9.5, right),
        (_("工作单位"), card.unit, 35.5, 7, right),
        (_("执法类别"), card.sector, 31.0, 7, right),
        (_("执法区域"), card.area, 26.5, 7, right),
        (_("证　　号"), card.printed, 22.0, 7, right),
        (_("有效期至"), card.until, 17.5, 7, qr_x - 1 * mm),
    ]
    for label, value, at, size, limit in rows:
        pdf.setFillColor(GREY)
        pdf.setFont(FONT_NAME, 6)
        pdf.drawString(label_x, at * mm, label)
        pdf.setFillColor(black)
        _fit(pdf, value, value_x, at * mm, limit - value_x, size)
    # Issuer and edition, under the photo
    _fit(pdf, _("发证机关：%(issuer)s") % {"issuer": card.issuer}, px, 8.5 * mm, qr_x - 1 * mm - px, 6.5)
    pdf.setFillColor(GREY)
    edition = _("证卡第%(n)d版 · 扫码核验") % {"n": card.edition}
    _fit(pdf, edition, px, 4.5 * mm, qr_x - 1 * mm - px, 5)
    pdf.setFillColor(black)
    _qr(pdf, card.url, qr_x, qr_y, qr_size)
    pdf.restoreState()


def _back(pdf: canvas.Canvas, card: _CardData, x: float, y: float) -> None:
    pdf.saveState()
    pdf.translate(x, y)
    _outline(pdf)
    pdf.setFillColor(BAND)
    pdf.rect(0, CARD_HEIGHT - 7 * mm, CARD_WIDTH, 7 * mm, stroke=0, fill=1)
    pdf.setFillColor(white)
    pdf.setFont(FONT_NAME, 9)
    pdf.drawCentredString(CARD_WIDTH / 2, CARD_HEIGHT - 4.8 * mm, _("使用须知"))
    pdf.setFillColor(black)
    size, leading, left = 6.2, 3.3 * mm, 4 * mm
    width = CARD_WIDTH - 2 * left
    at = CARD_HEIGHT - 11.5 * mm
    pdf.setFont(FONT_NAME, size)
    for n, note in enumerate(notes(), start=1):
        prefix = f"{n}. "
        indent = pdfmetrics.stringWidth(prefix, FONT_NAME, size)
        pdf.drawString(left, at, prefix)
        for line in _wrap(note, width - indent, size):
            pdf.drawString(left + indent, at, line)
            at -= leading
    pdf.setFillColor(GREY)
    _fit(pdf, card.printed, left, 3 * mm, width, 5.5)
    pdf.restoreState()


def _outline(pdf: canvas.Canvas) -> None:
    # A hairline at the card's edge (where to cut on A4, the edge on a card printer), and
    # nothing drawn outside its rounded corners.
    pdf.setLineWidth(0.2)
    pdf.setStrokeColor(Color(0.75, 0.75, 0.75))
    pdf.roundRect(0, 0, CARD_WIDTH, CARD_HEIGHT, 3 * mm, stroke=1, fill=0)
    pdf.setStrokeColor(black)
    edge = pdf.beginPath()
    edge.roundRect(0, 0, CARD_WIDTH, CARD_HEIGHT, 3 * mm)
    pdf.clipPath(edge, stroke=0, fill=0)


def _qr(pdf: canvas.Canvas, url: str, x: float, y: float, size: float) -> None:
    code = segno.make(url, error="m", micro=False)
    rows = list(code.matrix_iter(scale=1, border=2))
    module = size / len(rows)
    pdf.setFillColor(white)
    pdf.rect(x, y, size, size, stroke=0, fill=1)
    pdf.setFillColor(black)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + c * module, y + size - (r + 1) * module, module, module, stroke=0, fill=1)
