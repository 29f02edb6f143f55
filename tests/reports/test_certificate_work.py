"""Certificate work in the reports (issue 14): applications per kind and state, the annual
review per city (exams.selectors.annual_review_progress), cards printed per region; each
defined once in reports.figures and shown alike by the workbook's sheets (证件申请, 年审进度,
制卡) and the
overview page."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from exams import applications as apps
from exams.models import ApplicationKind, CertificateEvent, CertificateStatus
from exams.selectors import annual_review_progress
from personnel.models import Inspector, Region
from reports import figures, xlsx
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from tests.reports.conftest import open_book, table

K = ApplicationKind


@pytest.fixture
def work(regions, county_admin, city_admin, other_city_admin):
    """长安: A (a replacement pending), B (returned by the city); 路南: C (pending at 唐山).
    Cards printed this year: A twice, C once; B once last year."""
    people = {}
    certificates = {}
    for key, region in (("A", "changan"), ("B", "changan"), ("C", "lunan")):
        person = InspectorFactory(region=regions[region], name=f"持证人{key}")
        Inspector.objects.filter(pk=person.pk).update(photo=f"photos/{key}.jpg")
        person.refresh_from_db()
        people[key] = person
        certificates[key] = CertificateFactory(holder=person, status=CertificateStatus.VALID)
    apps.application_create(actor=county_admin, kind=K.REPLACE, inspector=people["A"], reason="damaged")
    returned = apps.application_create(actor=county_admin, kind=K.REPLACE, inspector=people["B"], reason="lost")
    apps.application_return(actor=city_admin, application=returned, comment="材料不全")
    apps.application_create(actor=other_city_admin, kind=K.REPLACE, inspector=people["C"], reason="damaged")
    for key in ("A", "A", "C", "B"):
        CertificateEvent.objects.create(certificate=certificates[key], kind="card_printed")
    last_year = timezone.now() - dt.timedelta(days=366)
    CertificateEvent.objects.filter(certificate=certificates["B"], kind="card_printed").update(at=last_year)
    return certificates


def _scope(code: str) -> figures.Scope:
    return figures.Scope(region=Region.objects.get(code=code), year=timezone.localdate().year)


def test_applications_per_kind_and_state(work, province_admin, city_admin):
    # when
    province = {row["label"]: row for row in figures.applications_by_kind_state(_scope("130000"), province_admin)}
    city = {row["label"]: row for row in figures.applications_by_kind_state(_scope("130100"), city_admin)}
    county_seen_by_province = figures.applications_by_kind_state(_scope("130202"), province_admin)

    # then: every kind listed, zero included
    assert list(province) == [str(k.label) for k in K] + ["合计"]
    assert {k: province["补办"][k] for k in ("pending", "returned", "approved", "withdrawn", "total")} == {
        "pending": 2,
        "returned": 1,
        "approved": 0,
        "withdrawn": 0,
        "total": 3,
    }
    assert province["年审"]["total"] == 0 and province["合计"]["total"] == 3
    assert (city["补办"]["pending"], city["补办"]["returned"], city["合计"]["total"]) == (1, 1, 2)
    assert county_seen_by_province[-1]["total"] == 1


def test_applications_of_another_year_are_not_counted(work, province_admin):
    scope = figures.Scope(region=Region.objects.get(code="130000"), year=timezone.localdate().year - 1)
    assert figures.applications_by_kind_state(scope, province_admin)[-1]["total"] == 0


def test_annual_review_per_city_is_the_exams_selector_s(work, province_admin, city_admin):
    # when
    province = figures.annual_review_by_city(_scope("130000"), province_admin)
    city = figures.annual_review_by_city(_scope("130100"), province_admin)

    # then: the selector's rows, the cities in the scope only
    year = timezone.localdate().year
    assert province == annual_review_progress(actor=province_admin, year=year)
    assert {row["region_name"]: row["due"] for row in province} == {"石家庄市": 2, "唐山市": 1}
    assert [row["region_name"] for row in city] == ["石家庄市"]
    assert figures.annual_review_by_city(_scope("130102"), province_admin) == []


def test_cards_printed_per_region_one_level_down(work):
    province = [(row["label"], row["cards"]) for row in figures.cards_printed_by_region(_scope("130000"))]
    city = [(row["label"], row["cards"]) for row in figures.cards_printed_by_region(_scope("130100"))]
    assert province == [("石家庄市", 2), ("唐山市", 1), ("合计", 3)]
    assert city == [("长安区", 2), ("桥西区", 0), ("合计", 2)]


def test_the_workbook_sheet_shows_the_same_figures_set_up_for_print(tmp_path, work, province_admin):
    # when
    path = tmp_path / "book.xlsx"
    scope = _scope("130000")
    xlsx.yearly_workbook(str(path), scope=scope, actor=province_admin, include_detail=False)
    book = open_book(path)

    # then: three sheets, a table each
    ws = book["证件申请"]
    assert list(ws.tables) == ["Applications"]
    kinds = {row["申请类别"]: row for row in table(ws, "申请类别")}
    assert (kinds["补办"]["审批中"], kinds["补办"]["已退回"], kinds["补办"]["合计"]) == (2, 1, 3)
    assert kinds["合计"]["合计"] == 3
    review = {row["地区"]: row for row in table(book["年审进度"], "地区")}
    assert (review["石家庄市"]["应年审"], review["唐山市"]["应年审"]) == (2, 1)
    cards = [(row["地区"], row["制卡张数"]) for row in table(book["制卡"], "地区")]
    assert cards == [("石家庄市", 2), ("唐山市", 1), ("合计", 3)]
    # printed like the others: A4 landscape, one page wide, the sheet's name and the scope
    for name in ("证件申请", "年审进度", "制卡"):
        ws = book[name]
        assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == "9"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
        assert ws.oddHeader.right.text == "&A" and scope.region.name in ws.oddFooter.left.text
        assert ws.print_title_rows == "$3:$3"


def test_the_overview_shows_them(client, work, province_admin):
    # when
    client.force_login(province_admin)
    year = timezone.localdate().year
    page = client.get(reverse("reports:overview"), {"year": year}).content.decode()

    # then
    assert f"{year}年证件申请（按类别和状态）" in page
    assert f"{year}年制卡（按地区）" in page
    assert f"{year}年年审进度（按市）" in page
    applications = page.split('id="applications"')[1].split("</section>")[0]
    assert '<td>补办</td><td class="num">2</td><td class="num">1</td>' in applications
    cards = page.split('id="cards-printed"')[1].split("</section>")[0]
    assert '<td>石家庄市</td><td class="num">2</td>' in cards and '<td>合计</td><td class="num">3</td>' in cards
