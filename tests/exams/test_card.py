"""The printed card (exams.card): the PDF read back as text and as a rendered page (the
shipped font is embedded, the photo is there), both layouts, the card_printed events, the
refusals (scope, status), the API endpoint and the admin action."""

import io
import os

import pypdfium2
import pytest
from django.test import Client
from PIL import Image, ImageStat
from pypdf import PdfReader

from core.errors import AccessDenied, Conflict, ValidationFailed
from exams import card, numbers
from exams.models import CertificateEvent, CertificateStatus
from personnel import services as personnel_services
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory

PHOTO_RED = (200, 30, 30)


@pytest.fixture(autouse=True)
def _media_and_site(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://zhifa.example.gov.cn"


def photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), PHOTO_RED).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def certificate(regions, province_admin):
    holder = InspectorFactory(region=regions["changan"], name="龚晓燕", unit="")
    personnel_services.inspector_photo_set(actor=province_admin, inspector=holder, data=photo_bytes())
    return CertificateFactory(holder=holder, region=regions["province"])


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def render(pdf: bytes, page: int = 0, scale: float = 4) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    return document[page].render(scale=scale).to_pil().convert("RGB")


def test_the_card_reads_back_with_every_field(certificate, county_admin):
    # when
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout=card.LAYOUT_CARD)
    # then: front and back, at card size
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4, 1), round(float(box.height) / 72 * 25.4, 1)) == (85.6, 54.0)
    front, back = text_of(pdf)
    for expected in (
        "行政执法证",
        "龚晓燕",
        "长安区应急管理局",  # the unit left blank: the region's enforcement body
        "石家庄市长安区",
        "煤矿",
        numbers.printed(certificate.number),
        f"{certificate.valid_until.year}年{certificate.valid_until.month}月{certificate.valid_until.day}日",
        "河北省应急管理厅",  # 发证机关: the certificate's region (a province's 厅)
    ):
        assert expected in front, expected
    assert "使用须知" in back
    assert "补办" in back
    assert numbers.printed(certificate.number) in back


def test_the_unit_when_given_is_printed(certificate, county_admin):
    personnel_services.inspector_update(
        actor=county_admin, inspector=certificate.holder, data={"unit": "石家庄市长安区应急管理局执法大队"}
    )
    certificate.refresh_from_db()
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout=card.LAYOUT_CARD)
    assert "执法大队" in text_of(pdf)[0]


def test_the_font_is_the_shipped_one_and_embedded(certificate, county_admin):
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout=card.LAYOUT_CARD)
    fonts = {
        str(font["/BaseFont"])
        for font in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values()
        if "/BaseFont" in font.get_object()
    }
    assert fonts and all("WenQuanYiMicroHei" in name for name in fonts), fonts  # no standard font left to the viewer
    descendant = next(iter(PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values())).get_object()
    assert "/FontFile2" in descendant["/FontDescriptor"]  # the TrueType program is in the file
    # Subset and embedded: the file is far smaller than the 3 MB font
    assert len(pdf) < 200_000


def test_the_rendered_front_shows_the_photo_and_dark_text(certificate, county_admin):
    # given
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout=card.LAYOUT_CARD)
    # when rendered without any system font involved
    page = render(pdf)
    px_per_mm = page.size[0] / 85.6

    def area(x0, y0, x1, y1):  # mm from the card's top left
        return page.crop((int(x0 * px_per_mm), int(y0 * px_per_mm), int(x1 * px_per_mm), int(y1 * px_per_mm)))

    # then: the photo area is the photo's red
    photo = ImageStat.Stat(area(6, 14, 23, 38)).mean
    assert photo[0] > 150 and photo[1] < 90 and photo[2] < 90, photo
    # the name's line has dark glyph pixels (the font drew; an unembedded font draws nothing)
    name_line = area(40, 11, 70, 15).convert("L")
    dark = sum(name_line.histogram()[:100])
    assert dark > 200, dark
    # the QR code's corner is dark and light modules
    qr = area(66, 35, 82, 51).convert("L")
    low, high = qr.getextrema()
    assert low < 50 and high > 200


def test_a4_layout_has_fronts_then_mirrored_backs_with_cut_marks(regions, county_admin, province_admin):
    # given 12 certificates: two sheets
    certificates = [CertificateFactory(holder=InspectorFactory(region=regions["changan"])) for _ in range(12)]
    # when
    pdf = card.certificate_cards_print(actor=county_admin, certificates=certificates, layout=card.LAYOUT_A4)
    # then: front, back, front, back
    pages = text_of(pdf)
    assert len(pages) == 4
    assert "使用须知" not in pages[0] and "使用须知" in pages[1]
    assert all(numbers.printed(c.number) in pages[0] for c in certificates[:10])
    assert all(numbers.printed(c.number) in pages[2] for c in certificates[10:])
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 210
    # the first card is top left on the front and top right on the back
    front, back = render(pdf, 0, scale=2), render(pdf, 1, scale=2)
    px_per_mm = front.size[0] / 210
    top_left = (int(30 * px_per_mm), int(15 * px_per_mm), int(100 * px_per_mm), int(21 * px_per_mm))
    top_right = (int(110 * px_per_mm), int(15 * px_per_mm), int(185 * px_per_mm), int(21 * px_per_mm))
    assert ImageStat.Stat(front.crop(top_left)).mean[1] < 150  # the red band
    assert ImageStat.Stat(back.crop(top_right)).mean[1] < 150
    # a cut mark in the top margin, above the left edge of the grid
    mark = front.crop((int(19 * px_per_mm), int(5 * px_per_mm), int(20 * px_per_mm), int(11 * px_per_mm))).convert("L")
    assert mark.getextrema()[0] < 128


def test_printing_records_a_card_printed_event_on_each(certificate, regions, county_admin):
    other = CertificateFactory(holder=InspectorFactory(region=regions["qiaoxi"]))
    city = regions["sjz"]
    from tests.factories import RegionAdminFactory

    city_admin = RegionAdminFactory(user__username="sjz_printer", region=city).user
    card.certificate_cards_print(actor=city_admin, certificates=[certificate, other], layout=card.LAYOUT_A4)
    events = CertificateEvent.objects.filter(kind="card_printed")
    assert {e.certificate_id for e in events} == {certificate.pk, other.pk}
    assert all(e.actor_id == city_admin.pk for e in events)


def test_out_of_scope_or_not_valid_is_refused_whole(certificate, regions, county_admin):
    outside = CertificateFactory(holder=InspectorFactory(region=regions["lunan"]))
    with pytest.raises(AccessDenied) as refused:
        card.certificate_cards_print(actor=county_admin, certificates=[certificate, outside], layout="a4")
    assert outside.number in str(refused.value.detail)

    suspended = CertificateFactory(
        holder=InspectorFactory(region=regions["changan"]), status=CertificateStatus.SUSPENDED
    )
    with pytest.raises(Conflict) as refused:
        card.certificate_cards_print(actor=county_admin, certificates=[certificate, suspended], layout="a4")
    assert suspended.number in str(refused.value.detail)
    assert not CertificateEvent.objects.filter(kind="card_printed").exists()

    with pytest.raises(ValidationFailed):
        card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout="a3")


def test_a_card_without_a_photo_prints_an_empty_frame(regions, county_admin):
    bare = CertificateFactory(holder=InspectorFactory(region=regions["changan"]))
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[bare], layout="card")
    assert "照片" in text_of(pdf)[0]


def test_a_replacement_card_keeps_the_number_and_shows_its_edition(certificate, county_admin):
    certificate.card_edition = 2
    certificate.save(update_fields=["card_edition"])
    pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout="card")
    front = text_of(pdf)[0]
    assert numbers.printed(certificate.number) in front
    assert "证卡第2版" in front


def test_the_font_file_ships_with_the_project():
    assert card.FONT_PATH.is_file()
    assert os.path.getsize(card.FONT_PATH) < 5 * 1024 * 1024
    assert (card.FONT_PATH.parent / "LICENSE-WenQuanYiMicroHei.txt").is_file()


# --- the API and the admin


def test_the_api_answers_the_pdf_in_scope(certificate, client_for, county_admin, other_city_admin, inspector_user):
    url = f"/api/v1/certificates/{certificate.pk}/card/"
    response = client_for(county_admin).get(url, {"layout": "a4"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith(b"%PDF")
    assert numbers.printed(certificate.number) in text_of(body)[0]
    assert client_for(other_city_admin).get(url).status_code == 404
    assert client_for(county_admin).get(url, {"layout": "a3"}).status_code == 400


def test_the_api_asked_for_pdf_still_answers_errors_as_json(certificate, client_for, county_admin):
    response = client_for(county_admin).get(
        f"/api/v1/certificates/{certificate.pk}/card/", {"layout": "bad"}, HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 400
    assert response.json()["code"]


def test_the_admin_action_asks_for_the_layout_then_prints(certificate, county_admin):
    browser = Client()
    browser.force_login(county_admin)
    url = "/admin/exams/certificate/"
    chosen = {"action": "print_cards", "_selected_action": [certificate.pk]}
    # when the action is chosen: the layout form
    page = browser.post(url, chosen)
    assert page.status_code == 200
    assert "打印执法证" in page.content.decode()
    # when the layout is chosen: the PDF
    response = browser.post(url, {**chosen, "layout": "card", "apply": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert CertificateEvent.objects.filter(certificate=certificate, kind="card_printed").count() == 1


def test_the_card_is_in_chinese_whatever_the_page_language(certificate, county_admin):
    from django.utils import translation

    with translation.override("en"):
        pdf = card.certificate_cards_print(actor=county_admin, certificates=[certificate], layout="card")
    front, back = text_of(pdf)
    assert "行政执法证" in front and "有效期至" in front
    assert "使用须知" in back


def test_the_statements_of_a_print_do_not_grow_with_its_cards(regions, county_admin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(n: int) -> int:
        certificates = [CertificateFactory(holder=InspectorFactory(region=regions["changan"])) for _ in range(n)]
        with CaptureQueriesContext(connection) as run:
            card.certificate_cards_print(actor=county_admin, certificates=certificates, layout="a4")
        return len(run.captured_queries)

    assert statements(2) == statements(12)


def test_the_certificate_page_links_its_card(certificate, county_admin):
    browser = Client()
    browser.force_login(county_admin)
    page = browser.get(f"/admin/exams/certificate/{certificate.pk}/change/").content.decode()
    link = f"/api/v1/certificates/{certificate.pk}/card/?layout=card"
    assert link in page
    response = browser.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_head_checks_without_printing(certificate, client_for, county_admin):
    url = f"/api/v1/certificates/{certificate.pk}/card/"
    response = client_for(county_admin).head(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert not CertificateEvent.objects.filter(kind="card_printed").exists()
    assert client_for(county_admin).head(url, {"layout": "a3"}).status_code == 400
