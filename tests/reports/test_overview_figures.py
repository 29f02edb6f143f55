"""The overview's stored figures (``reports.services.overview_figures_refresh``): after
enrollments, completions, results and certificate changes a refresh gives the figures a
from-scratch computation gives, for the province, a city and a county; the page says when they
were computed; a missing or stale snapshot never breaks the page; and the page's statements do
not grow with the enrollments.

The world is the known years of ``tests/reports/conftest.py`` (2024 and 2023).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exams import services as exams
from exams.models import Certificate, CertificateEvent, Exam
from personnel.models import Sector
from reports import figures, selectors, services
from reports.models import OverviewRegionFigures, OverviewSnapshot
from tests.factories import InspectorFactory
from tests.reports.conftest import P, Y, _batch, _move_event, _run, _score
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import BatchStatus, Course, EnrollmentStatus

URL = "/admin/overview/"
SCOPES = ("province", "sjz", "lunan")


def from_scratch(region, year, actor) -> tuple:
    """What the page shows, computed from scratch (the workbook's way)."""
    return shown(figures.Report(figures.Scope(region=region, year=year)), actor)


def from_store(region, year, actor) -> tuple:
    overview = selectors.overview_report(scope=figures.Scope(region=region, year=year))
    assert overview.refresh == [], "read from the stored figures"
    return shown(overview.report, actor)


def shown(report, actor) -> tuple:
    return (
        report.summary(),
        report.by_sector(actor, with_coverage=False),
        report.by_region(include_own_office=True),
    )


def refresh(*years):
    for year in years:
        services.overview_figures_refresh(year=year)


def change_everything(known, regions, actor):
    """New person-times and completions (a 石家庄 batch of B, C and H, C missing a day), a
    result that passes the qualification exam (B: a certificate issued), a certificate
    suspended (E's, in December) and another renewed (A's)."""
    people = known["people"]
    course = Course.objects.get(code="HY-01")
    batch = _batch(actor, course, regions["sjz"], dt.date(Y, 12, 2), 2)
    _run(actor, batch, [people["B"], people["C"], people["H"]], absent_day2=[people["C"]])
    qualification = Exam.objects.get(title="行政执法资格考试")
    sitting = exams.sitting_create(actor=actor, exam=qualification, held_on=dt.date(Y, 12, 10))
    _score(sitting, people["B"], actor, 36, 50)
    suspended = exams.certificate_suspend(
        certificate=Certificate.objects.get(holder=people["E"]), reason="违规出借执法证", actor=actor
    )
    _move_event(suspended, CertificateEvent.Kind.SUSPENDED, dt.date(Y, 12, 20))


def test_a_refresh_gives_the_from_scratch_figures_after_every_kind_of_change(known, regions, province_admin):
    # given: the known years stored
    refresh(Y, P, P - 1)
    for code in SCOPES:
        assert from_store(regions[code], Y, province_admin) == from_scratch(regions[code], Y, province_admin), code

    # when: enrollments, completions, a no-show, a result, a certificate issued and one suspended
    change_everything(known, regions, province_admin)

    # then: the stored figures are behind until the refresh ...
    before = {row["key"]: row["current"] for row in from_store(regions["province"], Y, province_admin)[0]}
    after = {row["key"]: row["current"] for row in from_scratch(regions["province"], Y, province_admin)[0]}
    changed = {key for key in after if after[key] != before[key]}
    assert {"person_times", "completions", "no_shows", "batches", "candidates", "passes", "certs_issued"} <= changed
    assert "certs_suspended" in changed and "sittings" in changed
    # ... and equal to from scratch after it: the province, a city and a county, this year and
    # the year before, the summary, every sector and every region row
    refresh(Y, P, P - 1)
    for code in SCOPES:
        for year in (Y, P):
            assert from_store(regions[code], year, province_admin) == from_scratch(
                regions[code], year, province_admin
            ), (code, year)


def test_persons_are_counted_once_however_many_batches(known, regions, province_admin):
    # given: A is in three of 2024's batches (b1, b2 and a new one)
    course = Course.objects.get(code="HY-01")
    batch = _batch(province_admin, course, regions["changan"], dt.date(Y, 11, 4), 1)
    _run(province_admin, batch, [known["people"]["A"]])
    # when
    refresh(Y, P)
    # then: persons (not additive over batches) and batches held (not additive over regions)
    # equal from scratch for every scope
    for code in SCOPES:
        stored = {row["key"]: row["current"] for row in from_store(regions[code], Y, province_admin)[0]}
        scratch = {row["key"]: row["current"] for row in from_scratch(regions[code], Y, province_admin)[0]}
        assert (stored["persons"], stored["batches"]) == (scratch["persons"], scratch["batches"]), code


def test_the_page_shows_the_stored_figures_and_when_they_were_computed(client, known, regions, province_admin):
    # given
    refresh(Y, P, P - 1)
    computed = timezone.localtime(OverviewSnapshot.objects.get(year=P).computed_at)
    # when
    client.force_login(province_admin)
    response = client.get(URL, {"year": Y, "region": "130100"})
    # then: the city's figures as computed from scratch, and the time they were computed
    assert response.status_code == 200
    expected = from_scratch(regions["sjz"], Y, province_admin)[0]
    assert [(r["key"], r["current"], r["previous"]) for r in response.context["summary"]] == [
        (r["key"], r["current"], r["previous"]) for r in expected
    ]
    html = response.content.decode()
    when = (
        computed.strftime("%H:%M") if computed.date() == timezone.localdate() else computed.strftime("%Y-%m-%d %H:%M")
    )
    assert f"计算于 {when}" in html
    assert "导出的年度统计表为实时精确数据" in html
    assert "数据较旧" not in html


# --- missing and stale --------------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """The years whose refresh was sent to the worker (not run)."""
    years = []
    monkeypatch.setattr(services, "_send_refresh", years.append)
    return years


def test_a_year_not_stored_is_computed_from_scratch_and_asked_for(
    client, known, regions, province_admin, sent, django_capture_on_commit_callbacks
):
    # given: nothing stored
    assert not OverviewSnapshot.objects.exists()
    # when
    client.force_login(province_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(URL, {"year": Y})
    # then: the figures from scratch, and both years asked for once
    assert response.status_code == 200
    assert [r["current"] for r in response.context["summary"]] == [
        r["current"] for r in from_scratch(regions["province"], Y, province_admin)[0]
    ]
    assert sorted(sent) == [P, Y]
    assert "计算于" in response.content.decode()


def test_the_refresh_a_page_asks_for_is_run_by_the_worker(
    client, known, regions, province_admin, django_capture_on_commit_callbacks, eager_celery
):
    # when: the page finds nothing stored (the worker runs in-process here)
    client.force_login(province_admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(URL, {"year": Y}).status_code == 200
    # then: both years are stored, and the next page reads them
    assert set(OverviewSnapshot.objects.filter(computed_at__isnull=False).values_list("year", flat=True)) == {Y, P}
    assert from_store(regions["sjz"], Y, province_admin) == from_scratch(regions["sjz"], Y, province_admin)


def test_stale_figures_are_shown_with_their_time_and_a_refresh_is_asked_once(
    client, known, regions, province_admin, sent, settings, django_capture_on_commit_callbacks
):
    # given: figures stored 20 minutes ago (the limit is 10), and an enrollment since
    refresh(Y, P, P - 1)
    settings.OVERVIEW_MAX_AGE_SECONDS = 600
    stored = {row["key"]: row["current"] for row in from_store(regions["province"], Y, province_admin)[0]}
    old = timezone.now() - dt.timedelta(minutes=20)
    OverviewSnapshot.objects.update(computed_at=old)
    change_everything(known, regions, province_admin)
    # when: two officials open the page
    client.force_login(province_admin)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.get(URL, {"year": Y})
        second = client.get(URL, {"year": Y})
    # then: both see the stored figures, with their time and a note; the refresh is asked once
    for response in (first, second):
        assert response.status_code == 200
        assert {row["key"]: row["current"] for row in response.context["summary"]} == stored
        html = response.content.decode()
        assert f"计算于 {timezone.localtime(old):%H:%M}" in html or f"{timezone.localtime(old):%Y-%m-%d %H:%M}" in html
        assert "数据较旧" in html
    assert sorted(sent) == [P, Y]


def test_a_broker_that_refuses_the_refresh_does_not_break_the_page(client, known, province_admin, monkeypatch):
    # given: the broker refuses every message
    from reports.tasks import refresh_overview_figures

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(refresh_overview_figures, "apply_async", refuse)
    # when: nothing stored, so the page asks for a refresh
    client.force_login(province_admin)
    response = client.get(URL, {"year": Y})
    # then
    assert response.status_code == 200
    services._send_refresh(Y)  # (what runs after commit) logs and returns


def test_an_older_run_never_overwrites_a_newer_one(known):
    # given: figures stored by a run that started later than this one
    refresh(Y)
    later = timezone.now() + dt.timedelta(minutes=1)
    OverviewSnapshot.objects.filter(year=Y).update(computed_at=later)
    # when
    snapshot = services.overview_figures_refresh(year=Y)
    # then
    assert snapshot.computed_at == later


def test_the_beat_refreshes_this_year_and_the_two_before(monkeypatch):
    from reports.tasks import refresh_overview_figures

    done = []
    monkeypatch.setattr(services, "overview_figures_refresh", lambda *, year: done.append(year))
    today = timezone.localdate()
    assert refresh_overview_figures() == done == [today.year, today.year - 1, today.year - 2]


# --- cost ---------------------------------------------------------------------------------------------


def test_the_pages_statements_do_not_grow_with_enrollments(client, regions, province_admin):
    # given: a year with 10 enrollments, stored
    year = timezone.localdate().year - 1
    course = CourseFactory(code="Q-01", hours=Decimal("8"))
    batch = BatchFactory(
        course=course, region=regions["sjz"], starts_on=dt.date(year, 5, 1), status=BatchStatus.COMPLETED
    )

    def enroll(n):
        for i in range(n):
            county = regions["changan"] if i % 2 else regions["lunan"]
            inspector = InspectorFactory(region=county, sector=Sector.COAL if i % 3 else Sector.INDUSTRY_TRADE)
            EnrollmentFactory(batch=batch, inspector=inspector, status=EnrollmentStatus.COMPLETED)

    enroll(10)
    refresh(year, year - 1)
    client.force_login(province_admin)
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    # when: 100 enrollments, stored
    enroll(90)
    refresh(year, year - 1)
    with CaptureQueriesContext(connection) as large:
        response = client.get(URL)
    # then: the same statements, and the figures are the larger year's
    assert response.status_code == 200
    assert len(large) == len(small)
    assert {row["key"]: row["current"] for row in response.context["summary"]}["person_times"] == 100
    assert OverviewRegionFigures.objects.count() == 2 * len(regions)


def test_the_count_of_expiring_certificates_comes_with_the_stored_figures(client, regions, city_admin, province_admin):
    # given: certificates expiring within 90 days in 长安区 (two), 路南区 (one), one later
    from tests.exams.factories import CertificateFactory

    today = timezone.localdate()
    for region, days in (("changan", 10), ("changan", 60), ("lunan", 30), ("changan", 200)):
        certificate = CertificateFactory(holder=InspectorFactory(region=regions[region]), issued_on=today)
        certificate.valid_until = today + dt.timedelta(days=days)
        certificate.save()
    year = today.year - 1
    refresh(year, year - 1)
    # when
    client.force_login(province_admin)
    province = client.get(URL).context
    client.force_login(city_admin)
    city = client.get(URL).context
    # then: each scope's count, as the list counts it, and the list itself live
    assert (province["expiring_count"], city["expiring_count"]) == (3, 2)
    assert [item["days_left"] for item in city["expiring"]] == [10, 60]
    assert OverviewRegionFigures.objects.get(snapshot__year=year, region=regions["changan"]).expiring_certificates == 2


def test_the_beat_schedules_the_refresh_task_every_few_minutes(settings):
    from reports.tasks import refresh_overview_figures

    entry = settings.CELERY_BEAT_SCHEDULE["reports-refresh-overview-figures"]
    assert entry["task"] == refresh_overview_figures.name
    assert entry["schedule"] == settings.OVERVIEW_REFRESH_SECONDS <= settings.OVERVIEW_MAX_AGE_SECONDS / 2
