"""The admins' overview page: who may open it, what it shows, and that it stays cheap.

A known year (last year, the page's default) and the one before it, in two cities:
石家庄 (the city admin's) and 唐山 (another city's, which must never show).
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exams.models import CertificateStatus
from personnel.models import Sector
from reports import figures
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import BatchStatus, EnrollmentStatus

E = EnrollmentStatus
URL = "/admin/overview/"


def _today():
    return timezone.localdate()


@pytest.fixture
def year():
    return _today().year - 1


@pytest.fixture
def data(regions, year):
    """石家庄: five inspectors, two batches last year (one took both: 4 completions, one
    no-show), one batch the year before; 唐山: two inspectors, one batch. Certificates
    expiring in 10 and 60 days in each city; an upcoming batch in each city."""
    course = CourseFactory(code="SZ-01", title="行政执法三项制度专题培训", hours=Decimal("16.0"))
    ts_course = CourseFactory(code="TS-01", title="唐山专用课程", hours=Decimal("8.0"))
    sjz = [
        InspectorFactory(region=regions["changan"], sector=Sector.COAL, name="石甲"),
        InspectorFactory(region=regions["changan"], sector=Sector.COAL, name="石乙"),
        InspectorFactory(region=regions["qiaoxi"], sector=Sector.HAZARDOUS_CHEMICALS, name="石丙"),
        InspectorFactory(region=regions["qiaoxi"], sector=Sector.INDUSTRY_TRADE, name="石丁"),
        InspectorFactory(region=regions["sjz"], sector=Sector.NON_COAL_MINE, name="石戊"),
    ]
    ts = [
        InspectorFactory(region=regions["lunan"], sector=Sector.COAL, name="唐甲"),
        InspectorFactory(region=regions["lunan"], sector=Sector.COAL, name="唐乙"),
    ]
    done = BatchStatus.COMPLETED
    b1 = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year, 3, 1), status=done)
    b2 = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year, 9, 1), status=done)
    b0 = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year - 1, 5, 1), status=done)
    bt = BatchFactory(course=ts_course, region=regions["ts"], starts_on=dt.date(year, 4, 1), status=done)
    for inspector in sjz[:4]:
        EnrollmentFactory(batch=b1, inspector=inspector, status=E.COMPLETED)
    EnrollmentFactory(batch=b1, inspector=sjz[4], status=E.NO_SHOW)
    EnrollmentFactory(batch=b2, inspector=sjz[0], status=E.COMPLETED)
    EnrollmentFactory(batch=b0, inspector=sjz[1], status=E.COMPLETED)
    for inspector in ts:
        EnrollmentFactory(batch=bt, inspector=inspector, status=E.COMPLETED)
    today = _today()
    certificates = [
        CertificateFactory(holder=sjz[0], issued_on=today - dt.timedelta(days=1815)),
        CertificateFactory(holder=sjz[2], issued_on=today - dt.timedelta(days=1765)),
        CertificateFactory(holder=ts[0], issued_on=today - dt.timedelta(days=1815)),
    ]
    for certificate in certificates:
        certificate.valid_until = certificate.issued_on + dt.timedelta(days=1825)
        certificate.save()
    start = today + dt.timedelta(days=20)
    BatchFactory(course=course, region=regions["changan"], starts_on=start, enrollment_deadline=start, capacity=40)
    BatchFactory(course=ts_course, region=regions["lunan"], starts_on=start, enrollment_deadline=start)
    return {"sjz": sjz, "ts": ts, "course": course}


def _get(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


# --- access --------------------------------------------------------------------------------------


def test_url_name_resolves_under_admin():
    assert reverse("reports:overview") == URL


def test_anonymous_goes_to_the_admin_login(client, db):
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/overview/")


def test_inspector_is_refused(client, inspector_user):
    # when
    response = _get(client, inspector_user)
    # then
    assert response.status_code == 403


def test_staff_without_an_admin_region_is_refused(client, db):
    # given: staff, but neither a superuser nor bound to a region
    from tests.factories import UserFactory

    user = UserFactory(username="staff_only", is_staff=True)
    # when / then
    assert _get(client, user).status_code == 403


def test_region_admin_without_staff_flag_is_refused(client, city_admin):
    # given
    city_admin.is_staff = False
    city_admin.save()
    # when / then
    assert _get(client, city_admin).status_code == 403


def test_region_outside_the_scope_is_not_found(client, city_admin, data):
    # when: 唐山's code, asked by 石家庄's admin; and a code that does not exist
    other = _get(client, city_admin, region="130200")
    unknown = _get(client, city_admin, region="999999")
    # then: the same answer for both
    assert other.status_code == unknown.status_code == 404


def test_a_bad_year_with_a_region_outside_the_scope_is_not_found(client, city_admin, data):
    # when: both wrong at once (the year's fallback asked for the region again: a 500)
    response = _get(client, city_admin, region="130200", year="x")
    # then
    assert response.status_code == 404


# --- what it shows -----------------------------------------------------------------------------------


def test_city_admin_sees_only_their_cities(client, city_admin, data, year):
    # when
    response = _get(client, city_admin)
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "石家庄市" in html and "长安区" in html and "桥西区" in html
    for elsewhere in ("唐山市", "路南区", "唐甲", "唐乙", "唐山专用课程"):
        assert elsewhere not in html
    assert response.context["region"].code == "130100"
    assert response.context["year"] == year


def test_key_figures_are_the_summary_figures(client, city_admin, data, regions, year):
    # given
    expected = figures.summary(figures.Scope(region=regions["sjz"], year=year))
    # when
    response = _get(client, city_admin)
    # then: every figure, this year and last, is the one the workbook's 汇总 sheet has
    shown = {row["key"]: row for row in response.context["summary"]}
    for row in expected:
        assert shown[row["key"]]["current"] == row["current"], row["key"]
        assert shown[row["key"]]["previous"] == row["previous"], row["key"]
        assert shown[row["key"]]["change"] == row["change"], row["key"]
    # and they are what was built: 6 seats (one inspector twice), 5 completed, 1 no-show
    assert shown["person_times"]["current"] == 6
    assert shown["persons"]["current"] == 5
    assert shown["completions"]["current"] == 5
    assert shown["person_times"]["previous"] == 1
    html = response.content.decode()
    assert re.search(r'data-key="person_times">.*?card-value">6<', html, re.S)
    assert "+500.0%" in html  # 6 against 1


def test_charts_are_inline_svg_with_a_bar_per_figure(client, city_admin, data):
    # when
    response = _get(client, city_admin)
    # then: four sectors and the city's two counties, two measures each
    html = response.content.decode()
    assert html.count('<svg class="bar-chart"') == 2  # the admin's own icons are SVG too
    sector, city = html.split('id="city-chart"')
    assert sector.count('class="bar"') == 4 * 2
    assert city.split("</svg>")[0].count('class="bar"') == 2 * 2
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_expiring_certificates_and_upcoming_batches_of_the_scope(client, city_admin, data):
    # given: one more certificate of 石家庄, outside the 90 days, and one suspended inside them
    CertificateFactory(holder=data["sjz"][3], issued_on=_today() - dt.timedelta(days=1000))
    suspended = CertificateFactory(holder=data["sjz"][4], issued_on=_today() - dt.timedelta(days=1800))
    suspended.valid_until = _today() + dt.timedelta(days=5)
    suspended.status = CertificateStatus.SUSPENDED
    suspended.save()
    # when
    response = _get(client, city_admin)
    # then: ordered by expiry, held ones only, 石家庄's only
    holders = [item["certificate"].holder.name for item in response.context["expiring"]]
    assert holders == ["石戊", "石甲", "石丙"]
    assert response.context["expiring_count"] == 3
    assert [item["days_left"] for item in response.context["expiring"]] == [5, 10, 60]
    assert [b.region.name for b in response.context["upcoming"]] == ["长安区"]
    # the batch's status stays on one line (it was set one character per line at 1366 px)
    assert '<td class="one-line">报名中' in response.content.decode()


def test_upcoming_lists_running_and_future_batches_never_finished_ones(client, city_admin, data, regions):
    # given: around today, in 石家庄 (the fixture's own upcoming batch starts in 20 days)
    today = _today()
    course = data["course"]

    def batch(title, start, end, status=BatchStatus.OPEN):
        return BatchFactory(
            course=course,
            region=regions["qiaoxi"],
            starts_on=start,
            ends_on=end,
            enrollment_deadline=start,
            status=status,
            place=title,
        )

    day = dt.timedelta(days=1)
    running = batch("running", today - day, today + day, BatchStatus.CLOSED)
    last_day = batch("last day", today - day, today, BatchStatus.CLOSED)
    batch("completed today", today, today, BatchStatus.COMPLETED)
    batch("ended yesterday, not marked", today - 3 * day, today - day, BatchStatus.CLOSED)
    batch("cancelled", today + day, today + 2 * day, BatchStatus.CANCELLED)
    tomorrow = batch("tomorrow", today + day, today + day)

    # when
    response = _get(client, city_admin)

    # then: what has not finished, by start (the fixture's batch, in 20 days, last)
    shown = [b.pk for b in response.context["upcoming"]]
    assert len(shown) == response.context["upcoming_count"] == 4
    assert set(shown[:2]) == {running.pk, last_day.pk}
    assert shown[2] == tomorrow.pk
    # and the ones already running are marked so
    html = response.content.decode().split('id="upcoming"')[1]
    assert html.count('class="in-progress"') == 2
    assert "进行中和即将开始的培训批次（共 4 期）" in html


def test_the_export_link_opens_the_form_for_the_pages_year_and_region(client, city_admin, data, year):
    # when: the overview of 长安区 the year before
    html = _get(client, city_admin, region="130102", year=year - 1).content.decode()

    # then: the link names the page's year and region ...
    link = re.search(r'href="([^"]+)" id="export-link"', html).group(1).replace("&amp;", "&")
    assert link == f"/admin/reports/exportjob/new/?year={year - 1}&region=130102"
    # ... and the form opens with them chosen
    form = client.get(link).content.decode()
    assert '<option value="130102" selected>' in form
    assert f'name="year" value="{year - 1}"' in form


def test_year_on_year_of_a_rate_is_in_points_on_the_page_as_in_the_workbook(
    client, city_admin, data, regions, year, tmp_path
):
    """The page's 同比 text and the 汇总 sheet's 同比 cell, as Excel shows it, are the same
    for every figure: both come from ``figures.year_on_year``."""
    from reports import xlsx
    from tests.reports.conftest import open_book, table

    # given: the page and the workbook of the same scope
    page = {row["key"]: row["change_display"] for row in _get(client, city_admin).context["summary"]}
    path = tmp_path / "book.xlsx"
    scope = figures.Scope(region=regions["sjz"], year=year)
    xlsx.yearly_workbook(str(path), scope=scope, actor=city_admin, include_detail=False)
    book = open_book(path)
    cells = {row[0].value: row[3] for row in book["汇总"].iter_rows(min_row=4) if row[0].value}
    assert len(cells) == len(figures.SUMMARY_FIGURES) and table(book["汇总"], "指标")

    # then: every figure's change reads the same in both (a blank cell, with its note in
    # 说明, where the page says there is nothing to compare)
    for key, label, _kind in figures.SUMMARY_FIGURES:
        if cells[label].value is None:
            assert page[key] in ("—", "上年为0"), label
        else:
            assert shown_in_excel(cells[label]) == page[key], label
    # and a rate's change is in percentage points: 结业率 83.3% this year against 100.0%
    assert page["completion_rate"] == "-16.7 个百分点"
    assert cells["结业率"].value == -16.7 and cells["结业率"].number_format == xlsx.YOY_POINTS_FORMAT
    assert page["person_times"] == "+500.0%"
    assert shown_in_excel(cells["培训人次"]) == "+500.0%"


def shown_in_excel(cell) -> str:
    """A number as Excel shows it under a "+0.0%;-0.0%;0.0%"-shaped format (the workbook's
    two 同比 formats): the section for its sign, the number to one place, quoted text kept."""
    value = cell.value
    positive, negative, zero = (part.replace('"', "") for part in cell.number_format.split(";"))
    section = zero if value == 0 else (positive if value > 0 else negative)
    number = f"{abs(value) * 100:.1f}" if "%" in section else f"{abs(value):.1f}"
    return section.replace("0.0", number, 1)


def test_a_county_and_an_earlier_year_can_be_chosen(client, city_admin, data, year):
    # when
    response = _get(client, city_admin, region="130102", year=year - 1)
    # then
    assert response.status_code == 200
    assert response.context["region"].code == "130102"
    assert response.context["year"] == year - 1
    shown = {row["key"]: row for row in response.context["summary"]}
    assert shown["person_times"]["current"] == 1  # 石乙's batch of the year before
    assert shown["person_times"]["change"] is None  # nothing the year before that


def test_a_bad_year_falls_back_to_the_default_with_a_note(client, city_admin, data, year):
    # when
    response = _get(client, city_admin, year="abc")
    # then
    assert response.status_code == 200
    assert response.context["year"] == year
    assert response.context["year_error"]


def test_province_admin_sees_every_city(client, province_admin, data):
    # when
    html = _get(client, province_admin).content.decode()
    # then
    assert "石家庄市" in html and "唐山市" in html


# --- cost ----------------------------------------------------------------------------------------------


def test_queries_do_not_grow_with_batches_or_certificates(
    client, city_admin, data, regions, django_assert_max_num_queries
):
    # given: the page's query count on the small year
    client.force_login(city_admin)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    # and a year with many more batches, enrollments and expiring certificates
    year = _today().year - 1
    today = _today()
    for n in range(15):
        batch = BatchFactory(course=data["course"], region=regions["qiaoxi"], starts_on=dt.date(year, 6, 1 + n))
        for _ in range(3):
            inspector = InspectorFactory(region=regions["qiaoxi"], sector=Sector.COAL)
            EnrollmentFactory(batch=batch, inspector=inspector, status=E.COMPLETED)
            certificate = CertificateFactory(holder=inspector, issued_on=today - dt.timedelta(days=1800 + n))
            certificate.valid_until = certificate.issued_on + dt.timedelta(days=1825)
            certificate.save()
        start = today + dt.timedelta(days=3 + n)
        BatchFactory(course=data["course"], region=regions["qiaoxi"], starts_on=start, enrollment_deadline=start)
    # when / then: the same number of queries
    with django_assert_max_num_queries(len(small)):
        response = client.get(URL)
    assert response.status_code == 200
    assert response.context["expiring_count"] == 2 + 45
    assert len(response.context["expiring"]) == 20
    assert len(response.context["upcoming"]) == 10


def test_chart_labels_get_the_room_they_need():
    # given: Chinese names (five characters fit the default) and a long English one
    from reports.views import LABEL_WIDTH, Panel, bar_chart

    panels = (Panel("count", "int", "#000"),)
    chinese = bar_chart([("危险化学品", (3,)), ("煤矿", (1,))], panels=panels, label="x")
    english = bar_chart([("Hazardous chemicals", (3,)), ("Coal mines", (1,))], panels=panels, label="x")

    # then: the Chinese chart keeps the default label column; the English one is wider,
    # its bars start after the longest name, and the whole chart grows by as much
    assert chinese["label_x"] == LABEL_WIDTH - 10
    assert english["label_x"] > chinese["label_x"] + 40
    assert english["panels"][0]["x"] - english["label_x"] == 10
    assert english["width"] - chinese["width"] == english["label_x"] - chinese["label_x"]
