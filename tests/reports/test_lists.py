"""The office's lists, downloaded from the admin as xlsx: 学时未达标名单 (who falls short of
the required hours in a year) and 三项制度未覆盖名单 (who lacks which of the three systems).

Last year, by design (default required hours 60; 长安区's policy 56):
- 石甲 (长安区, coal): the three-systems course (16 h) and a 40 h other course: 56 h, met
  by 长安区's 56; covered;
- 石乙 (长安区, coal): the publicity course only (8 h): 48 short; lacks 全过程记录, 法制审核;
- 石丙 (桥西区, hazardous chemicals): nothing: 60 short; lacks all three;
- 石丁 (桥西区): all three courses, 64 h: met and covered: on neither list;
- 石戊 (石家庄市, retired): nothing, but not active: on neither list;
- 石己 (长安区): the three-systems course the year before: 56 short (this year is what
  counts); lacks all three;
- 唐甲 (路南区, 唐山): nothing: on 唐山's and the province's lists, never on 石家庄's.
"""

import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from personnel.models import InspectorStatus, Sector
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import BatchStatus, EnrollmentStatus, HoursPolicy

SHORTFALL = "/admin/overview/lists/hours-shortfall.xlsx"
COVERAGE = "/admin/overview/lists/coverage-missing.xlsx"
PAGE = "/admin/overview/lists/"
DONE = EnrollmentStatus.COMPLETED


@pytest.fixture
def year():
    return timezone.localdate().year - 1


@pytest.fixture
def people(regions, year):
    all_three = CourseFactory(code="L-ALL", hours=Decimal("16.0"))
    publicity = CourseFactory(
        code="L-PUB", hours=Decimal("8.0"), covers_process_recording=False, covers_legal_review=False
    )
    other = CourseFactory(
        code="L-OTH",
        hours=Decimal("40.0"),
        covers_publicity=False,
        covers_process_recording=False,
        covers_legal_review=False,
        covers_other=True,
    )

    def batch(course, when=None):
        return BatchFactory(
            course=course, region=regions["sjz"], starts_on=when or dt.date(year, 5, 1), status=BatchStatus.COMPLETED
        )

    b_all, b_pub, b_other = batch(all_three), batch(publicity), batch(other)
    b_before = batch(all_three, dt.date(year - 1, 5, 1))
    p = {
        "石甲": InspectorFactory(name="石甲", region=regions["changan"], sector=Sector.COAL),
        "石乙": InspectorFactory(name="石乙", region=regions["changan"], sector=Sector.COAL),
        "石丙": InspectorFactory(name="石丙", region=regions["qiaoxi"], sector=Sector.HAZARDOUS_CHEMICALS),
        "石丁": InspectorFactory(name="石丁", region=regions["qiaoxi"], sector=Sector.COAL),
        "石戊": InspectorFactory(name="石戊", region=regions["sjz"], status=InspectorStatus.RETIRED),
        "石己": InspectorFactory(name="石己", region=regions["changan"], sector=Sector.NON_COAL_MINE),
        "唐甲": InspectorFactory(name="唐甲", region=regions["lunan"], sector=Sector.COAL),
    }
    for name, batches in {
        "石甲": (b_all, b_other),
        "石乙": (b_pub,),
        "石丁": (b_all, b_other, b_pub),
        "石己": (b_before,),
    }.items():
        for b in batches:
            EnrollmentFactory(batch=b, inspector=p[name], status=DONE)
    HoursPolicy.objects.create(region=regions["changan"], year=year, required_hours=Decimal("56.0"))
    return p


def download(client, user, url, **params):
    client.force_login(user)
    return client.get(url, params)


def rows_of(response) -> tuple[openpyxl.worksheet.worksheet.Worksheet, list[dict]]:
    """The file's only sheet and its table's rows as dicts by header."""
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    (ws,) = book.worksheets
    (table,) = ws.tables.values()
    cells = ws[table.ref]
    headers = [c.value for c in cells[0]]
    rows = [dict(zip(headers, (c.value for c in row), strict=True)) for row in cells[1:]]
    return ws, [row for row in rows if any(v is not None for v in row.values())]


# --- 学时未达标名单 -----------------------------------------------------------------------------------


def test_the_shortfall_list_names_who_is_short_and_by_how_much(client, city_admin, people, year):
    # when
    ws, rows = rows_of(download(client, city_admin, SHORTFALL, year=year))

    # then: 石家庄's active inspectors short of their hours, by region then name
    assert [(r["姓名"], r["所属单位"], r["行业"]) for r in rows] == [
        ("石乙", "长安区", "煤矿"),
        ("石己", "长安区", "非煤矿山"),
        ("石丙", "桥西区", "危险化学品"),
    ]
    by_name = {r["姓名"]: r for r in rows}
    assert (by_name["石乙"][f"{year}年学时"], by_name["石乙"]["应修学时"], by_name["石乙"]["差额"]) == (8, 56, 48)
    assert (by_name["石己"][f"{year}年学时"], by_name["石己"]["差额"]) == (0, 56)
    assert (by_name["石丙"]["应修学时"], by_name["石丙"]["差额"]) == (60, 60)
    assert f"{year}年度学时未达标名单 · 石家庄市（130100）" == ws["A1"].value


def test_the_lists_mask_id_numbers(client, city_admin, people, year):
    # when: the admin of the inspectors' own region asks (who could see the full numbers)
    _ws, shortfall = rows_of(download(client, city_admin, SHORTFALL, year=year))
    _ws, coverage = rows_of(download(client, city_admin, COVERAGE, year=year))

    # then: masked all the same, 4 digits kept at each end
    for row in shortfall + coverage:
        full = next(p.national_id for p in people.values() if p.name == row["姓名"])
        assert row["身份证号"] == full[:4] + "*" * 10 + full[-4:]
    assert not any(p.national_id in str(row) for p in people.values() for row in shortfall + coverage)


def test_the_file_is_named_after_year_region_and_list(client, city_admin, people, year):
    # when
    response = download(client, city_admin, SHORTFALL, year=year, region="130104")

    # then: 桥西区 only, named so
    _ws, rows = rows_of(response)
    assert [r["姓名"] for r in rows] == ["石丙"]
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''" in disposition
    from urllib.parse import unquote

    assert unquote(disposition.split("''")[1]) == f"{year}年桥西区学时未达标名单.xlsx"


# --- 三项制度未覆盖名单 ------------------------------------------------------------------------------


def test_the_coverage_list_has_a_column_per_system(client, city_admin, people, year):
    # when
    _ws, rows = rows_of(download(client, city_admin, COVERAGE, year=year))

    # then: one row per person lacking at least one; ✓ done, ✗ missing
    got = {r["姓名"]: (r["行政执法公示"], r["执法全过程记录"], r["重大执法决定法制审核"], r["缺少项数"]) for r in rows}
    assert got == {
        "石乙": ("✓", "✗", "✗", 2),
        "石丙": ("✗", "✗", "✗", 3),
        "石己": ("✗", "✗", "✗", 3),
    }
    assert [r["姓名"] for r in rows] == ["石乙", "石己", "石丙"]  # by region, then name


def test_the_coverage_list_agrees_with_the_coverage_selector(client, province_admin, people, year):
    # given: who lacks each topic, by the selector the API's /coverage/missing/ uses
    from training.models import THREE_SYSTEMS
    from training.selectors import coverage_missing

    lacking = {
        topic.label: set(coverage_missing(actor=province_admin, year=year, topic=topic).values_list("name", flat=True))
        for topic in THREE_SYSTEMS
    }

    # when
    _ws, rows = rows_of(download(client, province_admin, COVERAGE, year=year))

    # then: every ✗ is the selector's, and everyone the selector names has a row
    for topic, names in lacking.items():
        assert {r["姓名"] for r in rows if r[str(topic)] == "✗"} == names
    assert "唐甲" in {r["姓名"] for r in rows}


# --- scope -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [SHORTFALL, COVERAGE])
def test_a_city_admin_never_gets_another_citys_people(client, city_admin, other_city_admin, people, year, url):
    # when
    _ws, mine = rows_of(download(client, city_admin, url, year=year))
    _ws, theirs = rows_of(download(client, other_city_admin, url, year=year))

    # then
    assert "唐甲" not in {r["姓名"] for r in mine}
    assert {r["姓名"] for r in theirs} == {"唐甲"}


@pytest.mark.parametrize("url", [SHORTFALL, COVERAGE])
@pytest.mark.parametrize("code", ["130200", "130202", "999999", "13\x000100"])
def test_a_region_outside_the_scope_is_not_found_with_the_reason(client, city_admin, people, year, url, code):
    # when: 唐山 and its county, a code that does not exist, a NUL
    response = download(client, city_admin, url, year=year, region=code)

    # then: 404 with the same reason for each
    assert response.status_code == 404
    assert "不存在或不在您的管辖范围内" in response.content.decode()


@pytest.mark.parametrize("bad", ["abc", "1990", "99999999999999999999"])
def test_a_bad_year_is_refused_with_the_reason(client, city_admin, people, bad):
    # when
    response = download(client, city_admin, SHORTFALL, year=bad)

    # then
    assert response.status_code == 400
    assert "年度" in response.content.decode()


def test_only_admins_get_the_lists(client, inspector_user, db):
    from tests.factories import UserFactory

    # when / then: anonymous to the login, an inspector and staff without a region refused
    anonymous = client.get(SHORTFALL)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert download(client, inspector_user, SHORTFALL).status_code == 403
    assert download(client, UserFactory(username="staff_only", is_staff=True), COVERAGE).status_code == 403


def test_an_unknown_list_is_not_found(client, city_admin):
    assert download(client, city_admin, "/admin/overview/lists/everyone.xlsx").status_code == 404


def test_the_lists_print_on_a4_landscape(client, city_admin, people, year):
    # when
    ws, _rows = rows_of(download(client, city_admin, COVERAGE, year=year))

    # then
    assert (ws.page_setup.orientation, str(ws.page_setup.paperSize)) == ("landscape", "9")
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$3:$3"
    assert ws.oddFooter.left.text == f"{year}年度 · 石家庄市（130100）"


# --- where they are offered ---------------------------------------------------------------------------


def test_the_lists_page_offers_both_lists_for_the_admins_regions(client, city_admin, people):
    # when
    client.force_login(city_admin)
    html = client.get(PAGE).content.decode()

    # then: a region picker of 石家庄's regions, a year picker, a button per list
    select = re.search(r'<select name="region".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"', select) == ["130100", "130102", "130104"]
    assert f'formaction="{SHORTFALL}"' in html and f'formaction="{COVERAGE}"' in html
    assert 'name="year"' in html


@pytest.mark.parametrize(
    ("query", "region", "year_shown"),
    [
        ({"region": "130104", "year": 2021}, "130104", 2021),
        ({"region": "130200", "year": 2021}, "130100", None),  # 唐山: not theirs, the default
        ({"year": "abc"}, "130100", None),
    ],
)
def test_the_lists_page_takes_year_and_region_from_the_query(client, city_admin, people, query, region, year_shown):
    # when
    client.force_login(city_admin)
    response = client.get(PAGE, query)

    # then: what was asked when it is the admin's to ask, else the defaults
    assert response.status_code == 200
    assert response.context["region"].code == region
    assert response.context["year"] == (year_shown or timezone.localdate().year - 1)


def test_the_overview_and_the_admin_index_link_to_the_lists(client, city_admin, people, year):
    # when
    client.force_login(city_admin)
    overview = client.get("/admin/overview/", {"year": year, "region": "130102"}).content.decode()
    index = client.get("/admin/").content.decode()

    # then: the overview's links carry its year and region
    assert f'href="{SHORTFALL}?year={year}&amp;region=130102"' in overview
    assert f'href="{COVERAGE}?year={year}&amp;region=130102"' in overview
    assert f'href="{PAGE}"' in index
