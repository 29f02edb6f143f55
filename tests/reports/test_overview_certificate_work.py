"""The overview's certificate work (issue 14) from the stored figures: applications per kind
and state, the annual review per city and cards printed per region, as stored by the refresh
(``reports.services.overview_figures_refresh``), equal what ``reports.figures`` counts now for
the province, a city and a county and for every role's view, after applications are made,
approved, returned and withdrawn, annual review windows set and moved, and cards printed. The
stored counts never show an actor more than they may see; the page reads them stored and says
when they were computed."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from exams import applications as apps
from exams import card
from exams.models import AnnualReviewWindow, ApplicationKind, CertificateApplication
from personnel import services as personnel_services
from personnel.selectors import actor_manages_region
from reports import figures, selectors, services
from reports.models import OverviewRegionFigures
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from training.models import HoursPolicy

K = ApplicationKind
SCOPES = ("province", "sjz", "ts", "changan", "lunan")
ACTORS = ("superuser", "province_admin", "city_admin", "other_city_admin", "county_admin")


def this_year() -> int:
    return timezone.localdate().year


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://zhifa.example.gov.cn"  # (printed on the cards)


@pytest.fixture
def actors(superuser, province_admin, city_admin, other_city_admin, county_admin) -> dict:
    return {
        "superuser": superuser,
        "province_admin": province_admin,
        "city_admin": city_admin,
        "other_city_admin": other_city_admin,
        "county_admin": county_admin,
    }


@pytest.fixture
def holders(regions, province_admin) -> dict:
    """Certificate holders with a photo: two in 长安, one in 桥西, one in 路南, one of the
    province's own staff (no hours required this year: each may apply for the 年审)."""
    HoursPolicy.objects.get_or_create(
        region=regions["province"], year=this_year(), defaults={"required_hours": Decimal("0")}
    )
    people = {}
    for key, region in (("A", "changan"), ("B", "changan"), ("C", "qiaoxi"), ("D", "lunan"), ("P", "province")):
        person = InspectorFactory(region=regions[region], name=f"持证人{key}", unit="")
        personnel_services.inspector_photo_set(actor=province_admin, inspector=person, data=_photo())
        CertificateFactory(holder=person)
        people[key] = person
    return people


def refresh() -> None:
    """The year and the year before stored (the page's two years)."""
    for year in (this_year(), this_year() - 1):
        services.overview_figures_refresh(year=year)


def stored(scope: figures.Scope) -> selectors.Overview:
    overview = selectors.overview_report(scope=scope)
    assert overview.refresh == [], "read from the stored figures"
    assert None not in (overview.applications, overview.cards_printed, overview.annual_review)
    return overview


def shown_stored(scope: figures.Scope, actor, today: dt.date) -> tuple:
    overview = stored(scope)
    return (
        figures.applications_by_kind_state(scope, actor, overview.applications),
        figures.annual_review_by_city(scope, actor, today=today, progress=overview.annual_review),
        figures.cards_printed_by_region(scope, overview.cards_printed),
    )


def shown_live(scope: figures.Scope, actor, today: dt.date) -> tuple:
    return (
        figures.applications_by_kind_state(scope, actor),
        figures.annual_review_by_city(scope, actor, today=today),
        figures.cards_printed_by_region(scope),
    )


def assert_stored_equal_live(regions, actors) -> int:
    """Every actor, every scope they may see: the stored sections equal the live ones."""
    today = timezone.localdate()
    compared = 0
    for name, actor in actors.items():
        for code in SCOPES:
            if not actor_manages_region(actor=actor, region=regions[code]):
                continue
            scope = figures.Scope(region=regions[code], year=this_year())
            assert shown_stored(scope, actor, today) == shown_live(scope, actor, today), (name, code)
            compared += 1
    return compared


def make_changes(regions, actors, holders) -> None:
    """Applications made (a replacement in 路南, 年审 in 长安, 桥西 and the province), one 年审
    approved through its levels, one returned, one withdrawn; the year's 年审 window set and
    then moved; cards printed for 长安 and 路南."""
    county, city, other_city, province = (
        actors["county_admin"],
        actors["city_admin"],
        actors["other_city_admin"],
        actors["province_admin"],
    )
    year = this_year()
    apps.application_create(actor=other_city, kind=K.REPLACE, inspector=holders["D"], reason="damaged")
    reviews = apps.applications_create(
        actor=county, kind=K.REVIEW, inspectors=[holders["A"], holders["B"]], year=year
    ).done
    apps.applications_create(actor=province, kind=K.REVIEW, inspectors=[holders["C"], holders["P"]], year=year)
    apps.applications_approve(actor=county, ids=[reviews[0].pk])
    apps.applications_approve(actor=city, ids=[reviews[0].pk])
    apps.application_return(actor=county, application=reviews[1], comment="材料不全")
    withdrawn = CertificateApplication.objects.get(inspector=holders["C"], kind=K.REVIEW)
    apps.application_withdraw(actor=province, application=withdrawn)
    window = AnnualReviewWindow.objects.create(year=year, opens_on=dt.date(year, 1, 1), deadline=dt.date(year, 12, 31))
    window.deadline = dt.date(year, 1, 2)  # (moved: overdue now, red)
    window.save()
    certificates = [holders[key].certificates.get() for key in ("A", "B", "D")]
    card.certificate_cards_print(actor=province, certificates=certificates, layout=card.LAYOUT_A4)


def test_the_refreshed_figures_equal_the_live_ones_after_every_kind_of_change(regions, actors, holders):
    # given: stored before anything happened
    refresh()
    assert assert_stored_equal_live(regions, actors) == 15
    before = shown_stored(figures.Scope(region=regions["province"], year=this_year()), actors["superuser"], None)

    # when
    make_changes(regions, actors, holders)

    # then: the stored figures are behind until the refresh ...
    today = timezone.localdate()
    province = figures.Scope(region=regions["province"], year=this_year())
    live = shown_live(province, actors["superuser"], today)
    assert shown_stored(province, actors["superuser"], today) == before != live
    applications = {row["kind"]: row for row in live[0]}
    assert (applications[K.REVIEW]["approved"], applications[K.REVIEW]["returned"]) == (1, 1)
    assert (applications[K.REVIEW]["withdrawn"], applications[K.REVIEW]["pending"]) == (1, 1)
    assert applications[K.REPLACE]["pending"] == 1
    review = {row["region_name"]: row for row in live[1]}
    assert review["石家庄市"]["colour"] == "red" and review["石家庄市"]["overdue"] == 2
    assert [(row["label"], row["cards"]) for row in live[2]] == [("石家庄市", 2), ("唐山市", 1), ("合计", 3)]
    # ... and equal after it, for every role and every scope it may see
    refresh()
    assert assert_stored_equal_live(regions, actors) == 15


def test_stored_counts_never_show_more_than_the_actor_may_see(regions, actors, holders, inspector_user):
    # given: the changes, stored
    make_changes(regions, actors, holders)
    refresh()
    today = timezone.localdate()
    sjz = figures.Scope(region=regions["sjz"], year=this_year())
    overview = stored(sjz)
    # when: 长安's admin (or an inspector) is handed 石家庄's stored counts
    for actor in (actors["county_admin"], inspector_user):
        seen = shown_stored(sjz, actor, today)
        # then: they get what they see now, not the city's stored totals
        assert seen == shown_live(sjz, actor, today)
    county = figures.applications_by_kind_state(sjz, actors["county_admin"], overview.applications)
    city = figures.applications_by_kind_state(sjz, actors["city_admin"], overview.applications)
    assert county[-1]["total"] == 2 and city[-1]["total"] == 3
    assert figures.annual_review_by_city(sjz, inspector_user, today=today, progress=overview.annual_review) == []


def test_a_row_stored_before_the_certificate_work_is_counted_now(regions, actors, holders):
    # given: a snapshot whose rows predate the certificate work's fields
    make_changes(regions, actors, holders)
    refresh()
    OverviewRegionFigures.objects.filter(region=regions["lunan"]).update(
        applications=None, cards_printed=None, annual_review=None
    )
    # when
    overview = selectors.overview_report(scope=figures.Scope(region=regions["province"], year=this_year()))
    # then: counted now (the functions' own queries), the main figures still stored
    assert overview.refresh == []
    assert (overview.applications, overview.cards_printed, overview.annual_review) == (None, None, None)


def test_the_annual_review_stored_on_another_day_is_counted_today(regions, actors, holders):
    # given: figures stored yesterday (their overdue and colour are yesterday's)
    make_changes(regions, actors, holders)
    refresh()
    snapshot = OverviewRegionFigures.objects.first().snapshot
    snapshot.computed_at = timezone.now() - dt.timedelta(days=1)
    snapshot.save()
    # when
    overview = selectors.overview_report(scope=figures.Scope(region=regions["province"], year=this_year()))
    # then: the 年审 rows are counted now; the day-free counts stay stored
    assert overview.annual_review is None
    assert overview.applications is not None and overview.cards_printed is not None


def test_the_page_reads_them_stored_and_says_when(client, regions, actors, holders):
    # given
    make_changes(regions, actors, holders)
    refresh()
    today = timezone.localdate()
    for name in ("province_admin", "city_admin", "county_admin"):
        actor = actors[name]
        client.force_login(actor)
        # when
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("reports:overview"), {"year": this_year()})
        # then: what the functions count now for the actor's own region, read from the store
        # (no statement reads the applications or the card events)
        assert response.status_code == 200
        scope = services.export_scope(actor=actor, year=this_year())
        applications, annual_review, cards = shown_live(scope, actor, today)
        context = response.context
        assert context["applications"] == applications, name
        assert [{k: v for k, v in row.items() if k != "deadline_text"} for row in context["annual_review"]] == (
            annual_review
        )
        assert context["cards_printed"] == cards, name
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert "exams_certificateapplication" not in sql and "exams_certificateevent" not in sql, name
        html = response.content.decode()
        section = html.split('id="applications"')[1].split("</section>")[0]
        assert f"计算于 {context['work_computed']['applications']}" in section
