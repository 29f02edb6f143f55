"""``/api/v1/me/`` sends at most 6 statements, counting everything the request sends (the
token, the scope, the dashboard), for an inspector with several enrollments, results and
certificates, so that a query per row would show; and the JSON written without serializers
is byte for byte what ``MeDashboardSerializer`` wrote."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from core.tokens import api_token_issue
from exams import me
from exams.me import MeDashboardSerializer, dashboard_json, inspector_dashboard
from exams.models import Certificate, CertificateStatus
from exams.selectors import certificate_for_inspector
from personnel.models import Inspector
from tests.exams.test_pages import completed_hours, issue, make_exam, sit, upcoming
from training.models import EnrollmentStatus
from training.selectors import required_hours_by_region, required_hours_per_row
from training.services import hours_policy_set

MAX_STATEMENTS = 6


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def busy_inspector(inspector_user, regions, today):
    """Three certificates (the one held issued before two that ended since), three completed
    batches, three upcoming (one waitlisted), three results of three exams with two parts
    each, one of them absent."""
    me = inspector_user.inspector
    for _ in range(2):
        ended = issue(me, regions, days_left=1000)
        Certificate.objects.filter(pk=ended.pk).update(status=CertificateStatus.REVOKED)
    held = issue(me, regions, days_left=400)
    for i in range(3):
        completed_hours(me, today, hours="7.5")
        upcoming(
            me,
            today,
            days_ahead=10 + i,
            **({"status": EnrollmentStatus.WAITLISTED, "position": 2} if i == 1 else {}),
        )
        sit(make_exam(regions, title=f"考试{i}"), me, today - dt.timedelta(days=30 + i), "30.5", "40")
    me.held_number = held.number
    return me


def test_api_me_sends_at_most_six_statements_with_a_token(client, inspector_user, busy_inspector):
    _token, key = api_token_issue(user=inspector_user, name="test")
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert client.get(reverse("api-me"), **headers).status_code == 200  # notes the token's use, the calendar token

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("api-me"), **headers)

    assert response.status_code == 200
    body = response.json()
    assert (len(body["upcoming"]), len(body["results"])) == (3, 3)
    assert [len(r["parts"]) for r in body["results"]] == [2, 2, 2]
    assert body["certificate"]["number"] == busy_inspector.held_number
    assert body["hours"]["hours"] == "22.5"
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert len(queries) <= MAX_STATEMENTS, sql


def test_the_json_is_what_the_serializer_wrote(inspector_user, busy_inspector, regions, today, province_admin):
    hours_policy_set(actor=province_admin, region=regions["sjz"], year=today.year, required_hours=Decimal("22.5"))
    request = RequestFactory().get("/api/v1/me/")
    data = inspector_dashboard(actor=inspector_user)

    written = dashboard_json(data, request)

    expected = MeDashboardSerializer(data, context={"request": request}).data
    assert JSONRenderer().render(written) == JSONRenderer().render(expected)
    assert written["hours"]["required"] == "22.5"
    assert written["hours"]["met"] is True


def test_the_page_picks_the_certificate_certificate_for_inspector_picks(inspector_user, busy_inspector):
    card = inspector_dashboard(actor=inspector_user)["certificate"]

    assert card["number"] == certificate_for_inspector(inspector=busy_inspector).number == busy_inspector.held_number
    assert card["status"] == CertificateStatus.VALID


def test_without_a_held_certificate_the_latest_one_is_shown(inspector_user, busy_inspector):
    Certificate.objects.filter(number=busy_inspector.held_number).update(status=CertificateStatus.EXPIRED)

    card = inspector_dashboard(actor=inspector_user)["certificate"]

    assert card["number"] == certificate_for_inspector(inspector=busy_inspector).number
    assert card["number"] != busy_inspector.held_number  # the two revoked ones were issued later
    assert card["tone"] == "red"


def test_required_hours_per_row_agrees_with_the_regions_figures(regions, today, province_admin):
    from tests.factories import InspectorFactory

    hours_policy_set(actor=province_admin, region=regions["province"], year=today.year, required_hours=Decimal("50"))
    hours_policy_set(actor=province_admin, region=regions["sjz"], year=today.year, required_hours=Decimal("40"))
    hours_policy_set(actor=province_admin, region=regions["ts"], year=today.year + 1, required_hours=Decimal("30"))
    for region in regions.values():
        InspectorFactory(region=region)

    by_region = required_hours_by_region(year=today.year)
    rows = Inspector.objects.annotate(required=required_hours_per_row(today.year)).values_list("region_id", "required")

    assert dict(rows) == {r.pk: by_region[r.pk] for r in regions.values()}
    assert by_region[regions["changan"].pk] == Decimal("40")


def test_the_compiled_statements_read_what_their_querysets_read(inspector_user, busy_inspector, regions, today):
    from tests.factories import InspectorFactory, UserFactory

    other = InspectorFactory(region=regions["ts"], user=UserFactory(username="inspector2"))
    upcoming(other, today)
    upcoming(other, today, days_ahead=-30)  # over: the day must reach the statement
    for inspector in (busy_inspector, other):
        for compiled, build in (
            (me._INSPECTOR, me.inspector_row),
            (me._UPCOMING, me.upcoming_rows),
            (me._RESULTS, me.result_rows),
        ):
            rows = compiled.rows(inspector_id=inspector.pk, day=today, year=today.year)
            expected = build(inspector.user, today, today.year)
            assert [tuple(r) for r in rows] == list(expected), build.__name__
            assert rows or (build is me.result_rows and inspector == other), build.__name__  # other sat no exam
