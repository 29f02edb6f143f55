"""The training API as its callers use it: scoping per role, the enrollment workflow and
its refusals, attendance and completion, hours, coverage, policies and the calendar."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from personnel.models import InspectorStatus, RegionLevel, Sector
from tests.factories import InspectorFactory, RegionFactory, UserFactory
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import Batch, BatchStatus, Course, Enrollment, EnrollmentStatus, HoursPolicy

S = EnrollmentStatus
COURSES = "/api/v1/courses/"
BATCHES = "/api/v1/batches/"
ENROLLMENTS = "/api/v1/enrollments/"
HOURS = "/api/v1/hours/"
COVERAGE = "/api/v1/coverage/"
POLICIES = "/api/v1/hours-policies/"
CALENDAR = "/api/v1/me/calendar/"


def enroll(client, batch, inspector):
    return client.post(f"{BATCHES}{batch.pk}/enroll/", {"inspector": inspector.pk}, format="json")


def as_user(user):
    """A client of its own, for tests that switch between users."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == code, body
    return body


# --- courses ------------------------------------------------------------------------------------


def test_every_role_reads_courses_with_topics_and_filters(client_for, inspector_user, course):
    # given
    CourseFactory(code="GK-01", title="政务公开", covers_process_recording=False, covers_legal_review=False)
    CourseFactory(code="OLD", title="停用课程", covers_publicity=False, covers_legal_review=False, active=False)
    client = client_for(inspector_user)
    # when
    body = client.get(COURSES).json()
    # then
    assert body["count"] == 3
    by_code = {c["code"]: c for c in body["results"]}
    assert by_code["SZ-01"]["topics"] == ["publicity", "process_recording", "legal_review"]
    assert by_code["SZ-01"]["covers_three_systems"] is True
    assert by_code["SZ-01"]["hours"] == "16.0"
    assert [c["code"] for c in client.get(COURSES, {"topic": "legal_review"}).json()["results"]] == ["SZ-01"]
    assert [c["code"] for c in client.get(COURSES, {"active": "false"}).json()["results"]] == ["OLD"]
    assert client.get(COURSES, {"active": "true"}).json()["count"] == 2
    assert client.get(f"{COURSES}{course.pk}/").json()["title"] == "行政执法三项制度专题培训"


def test_a_user_without_a_role_sees_no_courses(client_for, course):
    assert client_for(UserFactory(username="nobody")).get(COURSES).json()["count"] == 0


def test_only_a_provincial_admin_creates_and_edits_courses(client_for, province_admin, city_admin, db):
    # given
    data = {"code": "FZ-01", "title": "重大执法决定法制审核", "topics": ["legal_review"], "hours": "8"}
    # when
    refused = client_for(city_admin).post(COURSES, data, format="json")
    created = client_for(province_admin).post(COURSES, data, format="json")
    # then
    assert_error(refused, 403, "permission_denied")
    assert created.status_code == 201, created.json()
    assert created.json()["topics"] == ["legal_review"]
    course = Course.objects.get(code="FZ-01")
    assert course.covers_legal_review and not course.covers_publicity
    # when
    patched = client_for(province_admin).patch(
        f"{COURSES}{course.pk}/", {"topics": ["publicity", "process_recording"], "active": False}, format="json"
    )
    # then
    assert patched.status_code == 200, patched.json()
    assert patched.json()["topics"] == ["publicity", "process_recording"]
    assert patched.json()["active"] is False
    assert_error(
        client_for(city_admin).patch(f"{COURSES}{course.pk}/", {"title": "x"}, format="json"), 403, "permission_denied"
    )


def test_course_input_errors(client_for, province_admin, course):
    client = client_for(province_admin)
    no_topic = client.post(COURSES, {"code": "X", "title": "x", "topics": [], "hours": "4"}, format="json")
    assert "topics" in assert_error(no_topic, 400, "invalid")["fields"]
    bad_topic = client.post(COURSES, {"code": "X", "title": "x", "topics": ["cooking"], "hours": "4"}, format="json")
    assert "topics" in assert_error(bad_topic, 400, "invalid")["fields"]
    duplicate = client.post(COURSES, {"code": "SZ-01", "title": "x", "topics": ["other"], "hours": "4"}, format="json")
    assert "code" in assert_error(duplicate, 409, "duplicate")["fields"]


# --- batches: scoping ---------------------------------------------------------------------------


def test_anonymous_is_refused_with_the_error_shape(api_client, batch):
    response = api_client.get(BATCHES)
    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail", "fields"}


def test_a_batch_row_carries_label_counts_and_brief_course_and_region(client_for, city_admin, batch, coal):
    # given
    EnrollmentFactory(batch=batch, inspector=coal[0], status=S.ENROLLED)
    EnrollmentFactory(batch=batch, inspector=coal[1], status=S.WAITLISTED, waitlist_position=1)
    EnrollmentFactory(batch=batch, inspector=coal[2], status=S.CANCELLED)
    # when
    body = client_for(city_admin).get(BATCHES).json()
    # then
    assert body["count"] == 1
    row = body["results"][0]
    assert row["label"] == f"{batch.year}年第1批"
    assert row["counts"] == {"enrolled": 1, "waitlisted": 1, "cancelled": 1, "completed": 0, "no_show": 0}
    assert row["course"]["code"] == "SZ-01"
    assert row["course"]["topics"] == ["publicity", "process_recording", "legal_review"]
    assert row["region"] == {"id": batch.region_id, "code": "130100", "name": "石家庄市", "level": "city"}
    assert row["sector"] == "coal" and row["sector_display"] == "煤矿"
    assert row["days"] == 3
    detail = client_for(city_admin).get(f"{BATCHES}{batch.pk}/").json()
    assert detail["counts"] == row["counts"]


def test_a_city_admin_cannot_see_or_manage_a_batch_of_another_city(client_for, other_city_admin, batch, regions):
    # given
    lunan = InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    client = client_for(other_city_admin)
    # when / then
    assert client.get(BATCHES).json()["count"] == 0
    assert_error(client.get(f"{BATCHES}{batch.pk}/"), 404, "not_found")
    assert_error(client.patch(f"{BATCHES}{batch.pk}/", {"capacity": 9}, format="json"), 404, "not_found")
    assert_error(enroll(client, batch, lunan), 404, "not_found")
    assert_error(client.post(f"{BATCHES}{batch.pk}/bulk-enroll/", {}, format="json"), 404, "not_found")
    assert_error(client.get(f"{BATCHES}{batch.pk}/attendance/"), 404, "not_found")
    assert_error(client.post(f"{BATCHES}{batch.pk}/complete/", {}, format="json"), 404, "not_found")
    batch.refresh_from_db()
    assert batch.capacity == 2


def test_a_county_admin_sees_batches_of_their_county_only(client_for, county_admin, city_admin, batch, course, regions):
    # given
    county_batch = BatchFactory(course=course, region=regions["changan"], starts_on=in_days(40))
    # when
    county_view = client_for(county_admin).get(BATCHES).json()
    city_view = client_for(city_admin).get(BATCHES).json()
    # then
    assert [r["id"] for r in county_view["results"]] == [county_batch.pk]
    assert_error(client_for(county_admin).get(f"{BATCHES}{batch.pk}/"), 404, "not_found")
    assert {r["id"] for r in city_view["results"]} == {batch.pk, county_batch.pk}


def test_an_inspector_sees_open_batches_for_their_sector_above_them_and_their_own(
    client_for, inspector_user, batch, course, regions, province_admin
):
    # given: 张三 is a coal inspector of 长安 (石家庄)
    visible_mixed = BatchFactory(course=course, region=regions["province"], sector="", starts_on=in_days(60))
    BatchFactory(course=course, region=regions["ts"], sector="", starts_on=in_days(60))  # another city
    BatchFactory(course=course, region=regions["sjz"], sector=Sector.NON_COAL_MINE, starts_on=in_days(70))
    BatchFactory(course=course, region=regions["sjz"], status=BatchStatus.DRAFT, starts_on=in_days(80))
    closed_mine = BatchFactory(course=course, region=regions["sjz"], starts_on=in_days(90))
    EnrollmentFactory(batch=closed_mine, inspector=inspector_user.inspector)
    Batch.objects.filter(pk=closed_mine.pk).update(status=BatchStatus.CLOSED)
    # when
    body = client_for(inspector_user).get(BATCHES).json()
    # then
    assert {r["id"] for r in body["results"]} == {batch.pk, visible_mixed.pk, closed_mine.pk}
    assert_error(
        client_for(inspector_user).patch(f"{BATCHES}{batch.pk}/", {"capacity": 9}, format="json"),
        403,
        "permission_denied",
    )


def test_an_inspector_sees_the_real_counts_of_a_closed_batch_they_are_in(client_for, inspector_user, batch, coal):
    # given
    EnrollmentFactory(batch=batch, inspector=inspector_user.inspector)
    EnrollmentFactory(batch=batch, inspector=coal[0])
    EnrollmentFactory(batch=batch, inspector=coal[1], status=S.WAITLISTED, waitlist_position=1)
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.CLOSED)
    # when
    body = client_for(inspector_user).get(BATCHES).json()
    # then
    assert body["results"][0]["counts"]["enrolled"] == 2
    assert body["results"][0]["counts"]["waitlisted"] == 1


def test_batch_list_filters(client_for, province_admin, batch, course, regions):
    # given
    legal = CourseFactory(code="FZ", covers_publicity=False, covers_process_recording=False)
    mixed = BatchFactory(course=legal, region=regions["province"], sector="", starts_on=in_days(50))
    ts = BatchFactory(
        course=course,
        region=regions["lunan"],
        sector=Sector.NON_COAL_MINE,
        starts_on=dt.date(2019, 5, 6),
        status=BatchStatus.COMPLETED,
    )
    client = client_for(province_admin)

    def ids(**params):
        response = client.get(BATCHES, params)
        assert response.status_code == 200, response.json()
        return {r["id"] for r in response.json()["results"]}

    # then
    assert ids() == {batch.pk, mixed.pk, ts.pk}
    assert ids(year=2019) == {ts.pk}
    assert ids(sector="") == {mixed.pk}
    assert ids(sector="coal") == {batch.pk}
    assert ids(region="130200") == {ts.pk}
    assert ids(region="130000") == {batch.pk, mixed.pk, ts.pk}
    assert ids(status="completed") == {ts.pk}
    assert ids(topic="publicity") == {batch.pk, ts.pk}
    assert ids(course="FZ") == {mixed.pk}
    assert "sector" in assert_error(client.get(BATCHES, {"sector": "fishing"}), 400, "invalid")["fields"]
    assert "region" in assert_error(client.get(BATCHES, {"region": "13"}), 400, "invalid")["fields"]


def test_batch_list_query_count_does_not_grow_with_rows(
    client_for, province_admin, course, regions, django_assert_max_num_queries
):
    # given
    client = client_for(province_admin)
    for n in range(3):
        b = BatchFactory(course=course, region=regions["sjz"], starts_on=in_days(30 + 5 * n))
        EnrollmentFactory.create_batch(2, batch=b)
    with django_assert_max_num_queries(6) as small:
        client.get(BATCHES)
    for n in range(20):
        b = BatchFactory(course=CourseFactory(), region=regions["lunan"], starts_on=in_days(40 + 5 * n))
        EnrollmentFactory.create_batch(3, batch=b)
    # when / then
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(BATCHES).json()
    assert body["count"] == 23


# --- batches: create and edit ---------------------------------------------------------------------


def test_a_city_admin_schedules_a_batch_in_their_city_numbered_automatically(client_for, city_admin, course, batch):
    # given
    start = in_days(45)
    data = {
        "course": "SZ-01",
        "region": "130100",
        "sector": "",
        "starts_on": start.isoformat(),
        "ends_on": (start + dt.timedelta(days=1)).isoformat(),
        "enrollment_deadline": (start - dt.timedelta(days=3)).isoformat(),
        "capacity": 40,
        "status": "open",
    }
    # when
    response = client_for(city_admin).post(BATCHES, data, format="json")
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    expected_number = 2 if start.year == batch.year else 1
    assert body["label"] == f"{start.year}年第{expected_number}批"
    assert body["sector"] == "" and body["sector_display"] == "综合"
    assert body["counts"]["enrolled"] == 0
    assert Batch.objects.get(pk=body["id"]).status == BatchStatus.OPEN


def test_scheduling_a_batch_in_another_city_is_refused(client_for, city_admin, course):
    start = in_days(45)
    data = {
        "course": "SZ-01",
        "region": "130200",
        "starts_on": start.isoformat(),
        "ends_on": start.isoformat(),
        "enrollment_deadline": start.isoformat(),
        "capacity": 10,
    }
    assert_error(client_for(city_admin).post(BATCHES, data, format="json"), 403, "permission_denied")
    assert not Batch.objects.exists()


def test_batch_edits_follow_the_status_rules(client_for, city_admin, batch, coal):
    # given
    client = client_for(city_admin)
    url = f"{BATCHES}{batch.pk}/"
    EnrollmentFactory(batch=batch, inspector=coal[0])
    EnrollmentFactory(batch=batch, inspector=coal[1])
    # when / then
    assert client.patch(url, {"status": "closed", "place": "新地点"}, format="json").json()["status"] == "closed"
    body = assert_error(client.patch(url, {"capacity": 1}, format="json"), 409, "capacity_below_enrolled")
    assert "capacity" in body["fields"]
    assert_error(client.patch(url, {"status": "completed"}, format="json"), 400, "invalid")
    assert client.patch(url, {"status": "cancelled"}, format="json").json()["counts"]["cancelled"] == 2
    assert_error(client.patch(url, {"status": "open"}, format="json"), 409, "batch_final")


# --- enrolling -------------------------------------------------------------------------------------


def test_enroll_takes_seats_then_the_waitlist(client_for, city_admin, batch, coal):
    # given
    client = client_for(city_admin)
    # when
    responses = [enroll(client, batch, inspector) for inspector in coal[:4]]
    # then
    assert [r.status_code for r in responses] == [201, 201, 201, 201]
    assert [(r.json()["status"], r.json()["waitlist_position"]) for r in responses] == [
        ("enrolled", None),
        ("enrolled", None),
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]
    first = responses[0].json()
    assert first["inspector"]["name"] == "煤矿0"
    assert first["inspector"]["national_id"] == coal[0].national_id  # the admin of their region sees it whole
    assert first["batch"]["label"] == f"{batch.year}年第1批"
    counts = client.get(f"{BATCHES}{batch.pk}/").json()["counts"]
    assert counts["enrolled"] == 2 and counts["waitlisted"] == 2


def test_an_inspector_enrolls_themself_but_nobody_else(client_for, inspector_user, batch, coal):
    # given
    client = client_for(inspector_user)
    me = inspector_user.inspector
    # when
    mine = enroll(client, batch, me)
    someone_else = enroll(client, batch, coal[0])
    # then
    assert mine.status_code == 201, mine.json()
    assert mine.json()["status"] == "enrolled"
    assert "*" in mine.json()["inspector"]["national_id"]
    assert_error(someone_else, 404, "not_found")
    assert list(Enrollment.objects.values_list("inspector_id", flat=True)) == [me.pk]


def test_enrolling_an_inspector_out_of_the_admins_scope_is_a_404(client_for, city_admin, batch, regions):
    lunan = InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    assert_error(enroll(client_for(city_admin), batch, lunan), 404, "not_found")
    assert_error(
        client_for(city_admin).post(f"{BATCHES}{batch.pk}/enroll/", {"inspector": "abc"}, format="json"), 400, "invalid"
    )


@pytest.mark.parametrize("who", ["province_admin", "city_admin", "inspector"])
def test_enrolling_with_a_token_reads_the_role_with_the_token(request, who, batch, coal, regions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.tokens import api_token_issue

    me = coal[0]
    if who != "inspector":
        user = request.getfixturevalue(who)
    else:
        user = UserFactory(username="me_coal")
        me.user = user
        me.save(update_fields=["user"])
    client = APIClient(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)[1]}")
    with CaptureQueriesContext(connection) as queries:
        response = enroll(client, batch, me)
    assert response.status_code == 201, response.content
    assert response.json()["inspector"]["id"] == me.pk
    # The role and region come with the token's row; the inspector's row is read once, by the
    # service's lock (a region admin's scope check before it is a narrow EXISTS).
    sqls = [q["sql"] for q in queries]
    assert not [sql for sql in sqls if 'FROM "personnel_regionadmin"' in sql]
    inspector_reads = [sql for sql in sqls if 'FROM "personnel_inspector"' in sql]
    # (an inspector: batch_list reads their own row to find the batches open to them)
    assert len(inspector_reads) == (1 if who == "province_admin" else 2), inspector_reads
    if who == "city_admin":
        assert inspector_reads[0].startswith('SELECT 1 AS "a" FROM "personnel_inspector"'), inspector_reads
    # Someone out of scope is still a 404, and so is an id nobody has.
    lunan = InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    if who != "province_admin":
        assert_error(enroll(client, batch, lunan), 404, "not_found")
    missing = client.post(f"{BATCHES}{batch.pk}/enroll/", {"inspector": 10**12}, format="json")
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize("value", [2**63, -1, 0, 10**30])
def test_an_id_past_the_columns_range_is_a_400_with_a_reason(client_for, city_admin, batch, value):
    client = client_for(city_admin)
    body = assert_error(
        client.post(f"{BATCHES}{batch.pk}/enroll/", {"inspector": value}, format="json"), 400, "invalid"
    )
    assert body["fields"]["inspector"], body
    calls = [
        (f"{BATCHES}{batch.pk}/attendance/", {"day": str(batch.starts_on), "present": [value]}, "present"),
        (f"{BATCHES}{batch.pk}/complete/", {"overrides": {str(value): "特批"}}, "overrides"),
    ]
    for url, data, field in calls:
        body = assert_error(client.post(url, data, format="json"), 400, "invalid")
        assert field in body["fields"], body
    for url in (f"{BATCHES}?year={value}", f"{ENROLLMENTS}?year={value}", f"{POLICIES}?year={value}"):
        if value > 0:
            assert_error(client.get(url), 400, "invalid")


def _deadline_passed(batch, coal, regions):
    Batch.objects.filter(pk=batch.pk).update(enrollment_deadline=timezone.localdate() - dt.timedelta(days=1))
    return coal[0]


def _batch_not_open(batch, coal, regions):
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.CLOSED)
    return coal[0]


def _sector_mismatch(batch, coal, regions):
    return InspectorFactory(region=regions["changan"], sector=Sector.HAZARDOUS_CHEMICALS)


def _inspector_inactive(batch, coal, regions):
    return InspectorFactory(region=regions["changan"], sector=Sector.COAL, status=InspectorStatus.ON_LEAVE)


def _already_enrolled(batch, coal, regions):
    EnrollmentFactory(batch=batch, inspector=coal[0])
    return coal[0]


def _date_overlap(batch, coal, regions):
    other = BatchFactory(course=batch.course, region=regions["province"], sector="", starts_on=batch.ends_on)
    EnrollmentFactory(batch=other, inspector=coal[0])
    return coal[0]


def _out_of_region(batch, coal, regions):
    return InspectorFactory(region=regions["lunan"], sector=Sector.COAL)


@pytest.mark.parametrize(
    "given",
    [
        _deadline_passed,
        _batch_not_open,
        _sector_mismatch,
        _inspector_inactive,
        _already_enrolled,
        _date_overlap,
        _out_of_region,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_refusal_is_a_409_with_its_code(client_for, province_admin, batch, coal, regions, given):
    # given
    inspector = given(batch, coal, regions)
    before = Enrollment.objects.count()
    # when
    response = enroll(client_for(province_admin), batch, inspector)
    # then
    body = assert_error(response, 409, given.__name__.strip("_"))
    assert body["detail"]
    assert Enrollment.objects.count() == before


# --- cancelling and the audit trail ------------------------------------------------------------------


def test_the_api_shows_the_waitlist_as_1_to_n_after_a_cancellation(client_for, city_admin, batch, coal):
    # given: one seat; A seated, B and C waiting as 1 and 2
    client = client_for(city_admin)
    client.patch(f"{BATCHES}{batch.pk}/", {"capacity": 1}, format="json")
    a, b, c = (enroll(client, batch, inspector).json()["id"] for inspector in coal[:3])
    # when: A cancels
    assert client.post(f"{ENROLLMENTS}{a}/cancel/", {}, format="json").status_code == 200
    # then: B is seated and C is first in line, in the list and on its own
    listed = {row["id"]: (row["status"], row["waitlist_position"]) for row in client.get(ENROLLMENTS).json()["results"]}
    assert listed[b] == ("enrolled", None)
    assert listed[c] == ("waitlisted", 1)
    assert client.get(f"{ENROLLMENTS}{c}/").json()["waitlist_position"] == 1


def test_cancelling_a_seat_promotes_the_first_on_the_waitlist(client_for, city_admin, batch, coal):
    # given
    client = client_for(city_admin)
    ids = [enroll(client, batch, inspector).json()["id"] for inspector in coal[:4]]
    # when
    response = client.post(f"{ENROLLMENTS}{ids[0]}/cancel/", {"reason": "工作冲突"}, format="json")
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    rows = {e.pk: (e.status, e.waitlist_position) for e in Enrollment.objects.all()}
    assert rows == {
        ids[0]: (S.CANCELLED, None),
        ids[1]: (S.ENROLLED, None),
        ids[2]: (S.ENROLLED, None),
        ids[3]: (S.WAITLISTED, 1),  # moved up to the head of the waitlist
    }
    cancelled_trail = client.get(f"{ENROLLMENTS}{ids[0]}/events/").json()
    assert [(e["kind"], e["reason"], e["actor"]) for e in cancelled_trail] == [
        ("enrolled", "", "sjz_admin"),
        ("cancelled", "工作冲突", "sjz_admin"),
    ]
    promoted_trail = client.get(f"{ENROLLMENTS}{ids[2]}/events/").json()
    assert [e["kind"] for e in promoted_trail] == ["waitlisted", "promoted"]
    assert promoted_trail[1]["kind_display"] == "候补转正"


def test_cancelling_twice_is_a_409(client_for, city_admin, batch, coal):
    client = client_for(city_admin)
    enrollment_id = enroll(client, batch, coal[0]).json()["id"]
    client.post(f"{ENROLLMENTS}{enrollment_id}/cancel/", {}, format="json")
    assert_error(client.post(f"{ENROLLMENTS}{enrollment_id}/cancel/", {}, format="json"), 409, "illegal_transition")


def test_an_inspector_cancels_their_own_enrollment_only(client_for, inspector_user, batch, coal):
    # given
    mine = EnrollmentFactory(batch=batch, inspector=inspector_user.inspector)
    theirs = EnrollmentFactory(batch=batch, inspector=coal[0])
    client = client_for(inspector_user)
    # when / then
    assert_error(client.post(f"{ENROLLMENTS}{theirs.pk}/cancel/", {}, format="json"), 404, "not_found")
    assert_error(client.get(f"{ENROLLMENTS}{theirs.pk}/events/"), 404, "not_found")
    assert client.post(f"{ENROLLMENTS}{mine.pk}/cancel/", {}, format="json").json()["status"] == "cancelled"


# --- bulk enroll -------------------------------------------------------------------------------------


def test_bulk_enroll_takes_the_active_inspectors_of_the_sector_and_says_what_happened(
    client_for, city_admin, batch, coal, regions
):
    # given: four active coal inspectors, plus some who must not be taken
    InspectorFactory(region=regions["changan"], sector=Sector.COAL, status=InspectorStatus.RETIRED)
    InspectorFactory(region=regions["changan"], sector=Sector.INDUSTRY_TRADE)
    InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    # when
    response = client_for(city_admin).post(f"{BATCHES}{batch.pk}/bulk-enroll/", {}, format="json")
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["summary"] == {"enrolled": 2, "waitlisted": 2, "refused": 0}
    by_inspector = {o["inspector"]: o for o in body["outcomes"]}
    assert set(by_inspector) == {i.pk for i in coal}
    assert sorted(o["waitlist_position"] or 0 for o in body["outcomes"]) == [0, 0, 1, 2]
    assert all(o["enrollment"] for o in body["outcomes"])
    assert Enrollment.objects.filter(batch=batch).count() == 4


def test_bulk_enroll_by_ids_reports_each_refusal(client_for, city_admin, batch, coal, regions):
    # given
    retired = InspectorFactory(region=regions["changan"], sector=Sector.COAL, status=InspectorStatus.RETIRED)
    trade = InspectorFactory(region=regions["qiaoxi"], sector=Sector.INDUSTRY_TRADE)
    elsewhere = InspectorFactory(region=regions["lunan"], sector=Sector.COAL)
    EnrollmentFactory(batch=batch, inspector=coal[1])
    ids = [coal[0].pk, coal[1].pk, retired.pk, trade.pk, elsewhere.pk]
    # when
    body = client_for(city_admin).post(f"{BATCHES}{batch.pk}/bulk-enroll/", {"inspectors": ids}, format="json").json()
    # then
    assert body["summary"] == {"enrolled": 1, "waitlisted": 0, "refused": 4}
    outcome = {o["inspector"]: (o["status"], o["code"]) for o in body["outcomes"]}
    assert outcome == {
        coal[0].pk: ("enrolled", ""),
        coal[1].pk: ("refused", "already_enrolled"),
        retired.pk: ("refused", "inspector_inactive"),
        trade.pk: ("refused", "sector_mismatch"),
        elsewhere.pk: ("refused", "not_found"),
    }


def test_bulk_enroll_limited_to_a_county_and_a_region_outside_scope(client_for, city_admin, batch, coal):
    client = client_for(city_admin)
    url = f"{BATCHES}{batch.pk}/bulk-enroll/"
    assert_error(client.post(url, {"region": "130200"}, format="json"), 404, "not_found")
    body = client.post(url, {"region": "130104"}, format="json").json()
    assert [o["inspector"] for o in body["outcomes"]] == [coal[2].pk]


# --- attendance and completion -------------------------------------------------------------------------


@pytest.fixture
def finished(client_for, city_admin, batch, coal, move_to_past):
    """Two of 石家庄's coal inspectors enrolled (煤矿0, 煤矿1), one waitlisted (煤矿2); the
    batch then ran over the last three days."""
    client = client_for(city_admin)
    for inspector in coal[:3]:
        enroll(client, batch, inspector)
    return move_to_past(batch)


def test_attendance_is_marked_per_day_and_shown_as_a_grid(client_for, city_admin, finished, coal):
    # given
    client = client_for(city_admin)
    url = f"{BATCHES}{finished.pk}/attendance/"
    day1, day2, day3 = (finished.starts_on + dt.timedelta(days=i) for i in range(3))
    # when
    marked = client.post(url, {"day": day1.isoformat(), "all_present": True}, format="json")
    client.post(url, {"day": day2.isoformat(), "present": [coal[0].pk], "absent": [coal[1].pk]}, format="json")
    client.post(url, {"day": day3.isoformat(), "all_present": True}, format="json")
    grid = client.get(url).json()
    # then
    assert marked.status_code == 200, marked.json()
    assert marked.json()["marked"] == 2
    assert grid["days"] == [d.isoformat() for d in (day1, day2, day3)]
    rows = {r["inspector"]: r for r in grid["rows"]}
    assert set(rows) == {coal[0].pk, coal[1].pk}  # the waitlisted one holds no seat
    assert rows[coal[0].pk]["days_present"] == [d.isoformat() for d in (day1, day2, day3)]
    assert rows[coal[1].pk]["days_present"] == [day1.isoformat(), day3.isoformat()]
    assert rows[coal[1].pk]["days_absent"] == [day2.isoformat()]


def test_attendance_refusals(client_for, city_admin, finished, coal):
    client = client_for(city_admin)
    url = f"{BATCHES}{finished.pk}/attendance/"
    outside = (finished.ends_on + dt.timedelta(days=1)).isoformat()
    assert (
        "day"
        in assert_error(client.post(url, {"day": outside, "all_present": True}, format="json"), 400, "invalid")[
            "fields"
        ]
    )
    waitlisted = client.post(url, {"day": finished.starts_on.isoformat(), "present": [coal[2].pk]}, format="json")
    assert_error(waitlisted, 400, "invalid")
    assert_error(client.post(url, {"present": [coal[0].pk]}, format="json"), 400, "invalid")


def test_completion_by_attendance_credits_course_hours(client_for, city_admin, finished, coal):
    # given: 煤矿0 present all three days, 煤矿1 missed the second day
    client = client_for(city_admin)
    url = f"{BATCHES}{finished.pk}/attendance/"
    for i in range(3):
        day = (finished.starts_on + dt.timedelta(days=i)).isoformat()
        client.post(url, {"day": day, "all_present": True, "absent": [coal[1].pk] if i == 1 else []}, format="json")
    # when
    response = client.post(f"{BATCHES}{finished.pk}/complete/", {}, format="json")
    # then
    assert response.status_code == 200, response.json()
    assert response.json() == {"completed": 1, "no_show": 1, "excused": 0, "waitlist_cancelled": 1}
    rows = {e.inspector_id: e for e in Enrollment.objects.filter(batch=finished)}
    assert rows[coal[0].pk].status == S.COMPLETED
    assert rows[coal[0].pk].hours_credited == Decimal("16.0")
    assert rows[coal[1].pk].status == S.NO_SHOW
    assert rows[coal[1].pk].hours_credited == Decimal("0")
    batch = client.get(f"{BATCHES}{finished.pk}/").json()
    assert batch["status"] == "completed"
    assert batch["counts"] == {"enrolled": 0, "waitlisted": 0, "cancelled": 1, "completed": 1, "no_show": 1}
    mine = client.get(ENROLLMENTS, {"inspector": coal[0].pk}).json()["results"][0]
    assert mine["hours_credited"] == "16.0"
    assert mine["completed_on"] == finished.ends_on.isoformat()


def test_an_override_completes_a_missed_day_but_needs_a_reason(client_for, city_admin, finished, coal):
    # given: the first day was recorded, both absent
    client = client_for(city_admin)
    url = f"{BATCHES}{finished.pk}/complete/"
    client.post(
        f"{BATCHES}{finished.pk}/attendance/",
        {"day": finished.starts_on.isoformat(), "absent": [coal[0].pk, coal[1].pk]},
        format="json",
    )
    # when
    no_reason = client.post(url, {"overrides": {str(coal[1].pk): " "}}, format="json")
    bad_key = client.post(url, {"overrides": {"zhang": "x"}}, format="json")
    with_reason = client.post(url, {"overrides": {str(coal[1].pk): "公务外出，已补课"}}, format="json")
    # then
    assert "overrides" in assert_error(no_reason, 400, "invalid")["fields"]
    assert "overrides" in assert_error(bad_key, 400, "invalid")["fields"]
    assert with_reason.json() == {"completed": 1, "no_show": 1, "excused": 1, "waitlist_cancelled": 1}
    excused = Enrollment.objects.get(batch=finished, inspector=coal[1])
    assert excused.status == S.COMPLETED
    assert excused.hours_credited == Decimal("16.0")
    assert excused.override_reason == "公务外出，已补课"
    trail = client.get(f"{ENROLLMENTS}{excused.pk}/events/").json()
    assert trail[-1]["kind"] == "completed" and "公务外出" in trail[-1]["reason"]


def test_completing_before_the_end_is_a_409(client_for, city_admin, batch):
    assert_error(client_for(city_admin).post(f"{BATCHES}{batch.pk}/complete/", {}, format="json"), 409, "too_early")


def test_an_inspector_sees_only_their_own_attendance_row_and_cannot_mark(
    client_for, inspector_user, batch, coal, move_to_past
):
    # given
    EnrollmentFactory(batch=batch, inspector=inspector_user.inspector)
    EnrollmentFactory(batch=batch, inspector=coal[0])
    move_to_past(batch)
    client = client_for(inspector_user)
    url = f"{BATCHES}{batch.pk}/attendance/"
    # when
    grid = client.get(url).json()
    refused = client.post(url, {"day": batch.starts_on.isoformat(), "all_present": True}, format="json")
    # then
    assert [r["inspector"] for r in grid["rows"]] == [inspector_user.inspector.pk]
    assert_error(refused, 403, "permission_denied")


# --- enrollment lists -----------------------------------------------------------------------------------


def test_enrollments_are_scoped_per_role_and_filtered(
    inspector_user, city_admin, other_city_admin, batch, coal, course, regions
):
    # given
    me = inspector_user.inspector
    mine = EnrollmentFactory(batch=batch, inspector=me)
    EnrollmentFactory(batch=batch, inspector=coal[0], status=S.WAITLISTED, waitlist_position=1)
    old = BatchFactory(
        course=course, region=regions["province"], starts_on=dt.date(2019, 4, 1), status=BatchStatus.COMPLETED
    )
    EnrollmentFactory(batch=old, inspector=coal[0], status=S.COMPLETED)
    lunan = EnrollmentFactory(batch=old, inspector=InspectorFactory(region=regions["lunan"]), status=S.COMPLETED)
    # when / then
    assert [e["id"] for e in as_user(inspector_user).get(ENROLLMENTS).json()["results"]] == [mine.pk]
    city = as_user(city_admin)
    assert city.get(ENROLLMENTS).json()["count"] == 3
    assert city.get(ENROLLMENTS, {"inspector": coal[0].pk}).json()["count"] == 2
    assert city.get(ENROLLMENTS, {"batch": batch.pk}).json()["count"] == 2
    assert city.get(ENROLLMENTS, {"status": "waitlisted"}).json()["count"] == 1
    assert city.get(ENROLLMENTS, {"year": 2019}).json()["count"] == 1
    assert_error(city.get(f"{ENROLLMENTS}{lunan.pk}/"), 404, "not_found")
    assert [e["id"] for e in as_user(other_city_admin).get(ENROLLMENTS).json()["results"]] == [lunan.pk]
    assert "status" in assert_error(city.get(ENROLLMENTS, {"status": "lost"}), 400, "invalid")["fields"]


def test_enrollment_list_query_count_does_not_grow_with_rows(
    client_for, province_admin, course, regions, django_assert_max_num_queries
):
    # given
    client = client_for(province_admin)
    b = BatchFactory(course=course, region=regions["sjz"], starts_on=in_days(30))
    EnrollmentFactory.create_batch(3, batch=b)
    with django_assert_max_num_queries(6) as small:
        client.get(ENROLLMENTS)
    for n in range(10):
        other = BatchFactory(course=CourseFactory(), region=regions["lunan"], starts_on=in_days(40 + 5 * n))
        EnrollmentFactory.create_batch(4, batch=other)
    # when / then
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(ENROLLMENTS).json()
    assert body["count"] == 43


# --- hours ---------------------------------------------------------------------------------------------


@pytest.fixture
def hours_year(regions, course):
    """2024 in the province (policy 30 h) and in a second province without a policy (60 h default).

    Courses: the special course (16 h), an 8 h one on publicity, a 16 h one without legal review. Completed enrollments, some outside 2024,
    some not completed, so only an honest count gets the numbers right."""
    shanxi = RegionFactory(code="140000", name="山西省", level=RegionLevel.PROVINCE)
    HoursPolicy.objects.create(region=regions["province"], year=2024, required_hours=Decimal("30"))
    short = CourseFactory(code="S8", hours=Decimal("8.0"), covers_process_recording=False, covers_legal_review=False)
    two = CourseFactory(code="T16", hours=Decimal("16.0"), covers_legal_review=False)
    b = {
        "march": BatchFactory(
            course=course, region=regions["province"], starts_on=dt.date(2024, 3, 4), status="completed"
        ),
        "june": BatchFactory(
            course=short, region=regions["province"], starts_on=dt.date(2024, 6, 3), status="completed"
        ),
        "sept": BatchFactory(
            course=course, region=regions["province"], starts_on=dt.date(2024, 9, 2), status="completed"
        ),
        "new_year": BatchFactory(
            course=two, region=regions["province"], starts_on=dt.date(2023, 12, 30), status="completed"
        ),
        "last_year": BatchFactory(
            course=course, region=regions["province"], starts_on=dt.date(2023, 5, 8), status="completed"
        ),
        "shanxi": BatchFactory(course=course, region=shanxi, starts_on=dt.date(2024, 4, 1), status="completed"),
    }
    people = {
        "甲": InspectorFactory(name="甲", region=regions["changan"], sector=Sector.COAL),
        "乙": InspectorFactory(name="乙", region=regions["qiaoxi"], sector=Sector.COAL),
        "丙": InspectorFactory(name="丙", region=regions["lunan"], sector=Sector.NON_COAL_MINE),
        "丁": InspectorFactory(name="丁", region=regions["changan"], sector=Sector.HAZARDOUS_CHEMICALS),
        "晋": InspectorFactory(name="晋", region=shanxi, sector=Sector.COAL),
    }
    done = [
        ("甲", "march"),
        ("甲", "june"),
        ("甲", "sept"),  # 40 h
        ("乙", "june"),
        ("乙", "new_year"),
        ("乙", "last_year"),  # 8 h in 2024 (the 16 h of a 2023 batch ending 2024-01-01 count in 2023)
        ("丙", "march"),
        ("丙", "sept"),  # 32 h
        ("晋", "shanxi"),  # 16 h of 60
    ]
    for who, when in done:
        EnrollmentFactory(batch=b[when], inspector=people[who], status=S.COMPLETED)
    EnrollmentFactory(batch=b["sept"], inspector=people["丁"], status=S.NO_SHOW)
    EnrollmentFactory(batch=b["march"], inspector=people["丁"], status=S.CANCELLED)
    return people


def independent_hours(year: int) -> dict[str, Decimal]:
    """Sum the completed rows by hand, batch by batch: a batch's hours count in its own year."""
    totals: dict[str, Decimal] = {}
    for e in Enrollment.objects.select_related("batch", "inspector"):
        if e.status == S.COMPLETED and e.batch.year == year:
            totals[e.inspector.name] = totals.get(e.inspector.name, Decimal("0")) + e.hours_credited
    return totals


def test_hours_per_inspector_against_the_policy_and_the_default(client_for, province_admin, hours_year):
    # given
    expected = independent_hours(2024)
    # when
    body = client_for(province_admin).get(HOURS, {"year": 2024}).json()
    # then
    rows = {r["name"]: r for r in body["results"]}
    assert set(rows) == {"甲", "乙", "丙", "丁", "晋"}
    for name, row in rows.items():
        assert Decimal(row["hours"]) == expected.get(name, Decimal("0")), name
    assert {n: Decimal(r["hours"]) for n, r in rows.items()} == {
        "甲": Decimal("40"),
        "乙": Decimal("8"),
        "丙": Decimal("32"),
        "丁": Decimal("0"),
        "晋": Decimal("16"),
    }
    assert {n: Decimal(r["required"]) for n, r in rows.items()} == {
        "甲": Decimal("30"),
        "乙": Decimal("30"),
        "丙": Decimal("30"),
        "丁": Decimal("30"),
        "晋": Decimal("60"),
    }
    assert {n for n, r in rows.items() if r["met"]} == {"甲", "丙"}
    assert rows["甲"]["national_id"] == hours_year["甲"].national_id
    assert rows["甲"]["region"]["code"] == "130102" and rows["甲"]["sector"] == "coal"


def test_hours_filters_and_scoping(client_for, province_admin, city_admin, hours_year, regions):
    client = client_for(province_admin)

    def names(**params):
        return {r["name"] for r in client.get(HOURS, {"year": 2024, **params}).json()["results"]}

    assert names(met="true") == {"甲", "丙"}
    assert names(met="false") == {"乙", "丁", "晋"}
    assert names(region="130100") == {"甲", "乙", "丁"}
    assert names(sector="coal") == {"甲", "乙", "晋"}
    city = {r["name"] for r in client_for(city_admin).get(HOURS, {"year": 2024}).json()["results"]}
    assert city == {"甲", "乙", "丁"}


def test_an_inspector_sees_their_own_hours_with_a_masked_id(client_for, regions, course):
    # given
    user = UserFactory(username="jia")
    me = InspectorFactory(region=regions["changan"], user=user, name="自己")
    InspectorFactory(region=regions["changan"], name="同事")
    # one day, today: a batch that started days ago would belong to last year on 1 and 2 January
    today = timezone.localdate()
    ended_today = BatchFactory(
        course=course, region=regions["province"], starts_on=today, ends_on=today, status="completed"
    )
    EnrollmentFactory(batch=ended_today, inspector=me, status=S.COMPLETED)
    # when: no year given means this year
    body = client_for(user).get(HOURS).json()
    # then
    assert [r["name"] for r in body["results"]] == ["自己"]
    row = body["results"][0]
    assert row["hours"] == "16.0"
    assert row["required"] == "60.0"
    assert row["met"] is False
    assert "*" in row["national_id"]


def test_hours_summary_for_the_province_and_a_city(client_for, province_admin, hours_year):
    client = client_for(province_admin)
    whole = client.get(f"{HOURS}summary/", {"year": 2024}).json()
    assert whole == {
        "year": 2024,
        "region": None,
        "inspectors": 5,
        "met": 2,
        "met_rate": 40.0,
        "hours_delivered": "96.0",
    }
    sjz = client.get(f"{HOURS}summary/", {"year": 2024, "region": "130100"}).json()
    assert (sjz["inspectors"], sjz["met"], sjz["met_rate"], sjz["hours_delivered"]) == (3, 1, 33.3, "48.0")


# --- coverage ----------------------------------------------------------------------------------------


def test_coverage_per_sector_and_who_is_missing(province_admin, city_admin, hours_year):
    # given (2024): coal 甲 (the special course), 乙 (publicity only: the course on publicity and
    # process recording was a 2023 batch, ending 2024-01-01), 晋 (the special course, in 山西);
    # non-coal 丙 (the special course); chemicals 丁 (nothing)
    client = as_user(province_admin)
    # when
    rows = {r["sector"]: r for r in client.get(COVERAGE, {"year": 2024}).json()}
    # then
    assert list(rows) == ["coal", "non_coal_mine", "hazardous_chemicals", "industry_trade"]
    coal = rows["coal"]
    assert coal["sector_display"] == "煤矿"
    assert (
        coal["inspectors"],
        coal["publicity"],
        coal["process_recording"],
        coal["legal_review"],
        coal["all_three"],
    ) == (
        3,
        3,
        2,
        2,
        2,
    )
    assert coal["publicity_rate"] == 100.0 and coal["all_three_rate"] == 66.7
    assert (rows["non_coal_mine"]["inspectors"], rows["non_coal_mine"]["all_three"]) == (1, 1)
    assert (rows["hazardous_chemicals"]["inspectors"], rows["hazardous_chemicals"]["publicity"]) == (1, 0)
    assert rows["industry_trade"]["inspectors"] == 0 and rows["industry_trade"]["all_three_rate"] is None
    city = {r["sector"]: r for r in as_user(city_admin).get(COVERAGE, {"year": 2024}).json()}
    assert (city["coal"]["inspectors"], city["coal"]["all_three"]) == (2, 1)
    # and who is missing
    missing = client.get(f"{COVERAGE}missing/", {"year": 2024, "topic": "legal_review"}).json()
    assert {r["name"] for r in missing["results"]} == {"乙", "丁"}
    coal_missing = client.get(f"{COVERAGE}missing/", {"year": 2024, "topic": "legal_review", "sector": "coal"}).json()
    assert [r["name"] for r in coal_missing["results"]] == ["乙"]
    assert (
        client.get(f"{COVERAGE}missing/", {"year": 2024, "topic": "publicity", "region": "130200"}).json()["count"] == 0
    )
    assert "topic" in assert_error(client.get(f"{COVERAGE}missing/", {"year": 2024}), 400, "invalid")["fields"]


# --- hours policies --------------------------------------------------------------------------------


def test_hours_policies_are_scoped_and_set_through_the_service(province_admin, city_admin, inspector_user, regions):
    # given
    province_policy = HoursPolicy.objects.create(region=regions["province"], year=2024, required_hours=Decimal("30"))
    HoursPolicy.objects.create(region=regions["ts"], year=2024, required_hours=Decimal("50"))
    city = as_user(city_admin)
    # when
    created = city.post(POLICIES, {"region": "130102", "year": 2024, "required_hours": "40"}, format="json")
    refused = city.post(POLICIES, {"region": "130200", "year": 2024, "required_hours": "40"}, format="json")
    # then
    assert created.status_code == 201, created.json()
    assert created.json()["region"]["code"] == "130102"
    assert_error(refused, 403, "permission_denied")
    assert [p["region"]["code"] for p in city.get(POLICIES).json()["results"]] == ["130102"]
    assert_error(
        city.patch(f"{POLICIES}{province_policy.pk}/", {"required_hours": "1"}, format="json"), 404, "not_found"
    )
    assert as_user(province_admin).get(POLICIES, {"year": 2024}).json()["count"] == 3
    assert as_user(inspector_user).get(POLICIES).json()["count"] == 0
    # when
    patched = city.patch(f"{POLICIES}{created.json()['id']}/", {"required_hours": "45.5"}, format="json")
    # then
    assert patched.json()["required_hours"] == "45.5"
    assert HoursPolicy.objects.get(region=regions["changan"], year=2024).required_hours == Decimal("45.5")
    negative = city.patch(f"{POLICIES}{created.json()['id']}/", {"required_hours": "-1"}, format="json")
    assert_error(negative, 400, "invalid")


# --- calendar --------------------------------------------------------------------------------------


def test_an_inspector_gets_a_calendar_url_that_lists_their_batches(client_for, inspector_user, batch, api_client):
    # given
    EnrollmentFactory(batch=batch, inspector=inspector_user.inspector)
    # when
    link = client_for(inspector_user).get(CALENDAR).json()
    api_client.force_authenticate(user=None)
    feed = api_client.get(link["path"])
    # then
    assert link["path"].startswith("/calendar/") and link["path"].endswith(".ics")
    assert link["url"].endswith(link["path"])
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    text = feed.content.decode()
    assert "BEGIN:VEVENT" in text
    assert f"{batch.year}年第1批" in text
    assert batch.starts_on.strftime("%Y%m%d") in text


def test_a_random_token_is_a_404_and_rotating_revokes_the_old_url(client_for, inspector_user, batch, api_client):
    # given
    client = client_for(inspector_user)
    old = client.get(CALENDAR).json()["path"]
    assert client.get(CALENDAR).json()["path"] == old
    # when
    new = client.post(f"{CALENDAR}rotate/").json()["path"]
    client.force_authenticate(user=None)
    # then
    assert new != old
    assert api_client.get(old).status_code == 404
    assert api_client.get(new).status_code == 200
    assert api_client.get("/calendar/not-a-real-token-at-all.ics").status_code == 404


def test_a_login_without_an_inspector_has_no_calendar(client_for, city_admin):
    assert_error(client_for(city_admin).get(CALENDAR), 404, "not_found")
    assert_error(client_for(city_admin).post(f"{CALENDAR}rotate/"), 404, "not_found")


def test_the_schema_lists_the_training_endpoints(api_client, db):
    schema = api_client.get("/api/schema/").content
    for path in (
        b"/api/v1/batches/{id}/enroll/",
        b"/api/v1/batches/{id}/bulk-enroll/",
        b"/api/v1/batches/{id}/attendance/",
        b"/api/v1/batches/{id}/complete/",
        b"/api/v1/enrollments/{id}/cancel/",
        b"/api/v1/hours/summary/",
        b"/api/v1/coverage/missing/",
        b"/api/v1/me/calendar/rotate/",
    ):
        assert path in schema, path


def test_enrolling_again_after_cancelling_reuses_the_row(client_for, city_admin, batch, coal):
    # given: cancelled, then enrolled again through the API
    client = client_for(city_admin)
    first = enroll(client, batch, coal[0]).json()["id"]
    client.post(f"{ENROLLMENTS}{first}/cancel/", {}, format="json")
    # when
    again = enroll(client, batch, coal[0])
    # then
    assert again.status_code == 201
    assert again.json()["id"] == first
    assert again.json()["status"] == "enrolled"
