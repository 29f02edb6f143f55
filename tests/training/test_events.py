"""Every batch write and every change of the required hours leaves its event row in the
same transaction (who, when, which fields from what to what), through the service
whichever surface called it (API, admin form, admin action); a refusal leaves none."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from rest_framework.test import APIClient

from core.errors import AccessDenied, Conflict, ValidationFailed
from tests.training.conftest import in_days
from tests.training.factories import BatchFactory
from training import services
from training.models import BatchEvent, BatchStatus, CourseEvent, HoursPolicy, HoursPolicyEvent

Kind = BatchEvent.Kind


def trail(batch):
    return list(batch.events.order_by("at", "id").values_list("kind", "changes"))


# --- hours policies ------------------------------------------------------------------------------


def test_setting_the_required_hours_records_who_when_region_year_old_and_new(city_admin, regions):
    # when
    services.hours_policy_set(actor=city_admin, region=regions["changan"], year=2024, required_hours=Decimal("40"))
    services.hours_policy_set(actor=city_admin, region=regions["changan"], year=2024, required_hours=Decimal("36"))
    services.hours_policy_set(actor=city_admin, region=regions["changan"], year=2024, required_hours=Decimal("36.0"))
    # then: two changes; setting the same figure again is no change
    rows = list(
        HoursPolicyEvent.objects.order_by("id").values_list(
            "region__code", "year", "kind", "old_hours", "new_hours", "actor"
        )
    )
    assert rows == [
        ("130102", 2024, HoursPolicyEvent.Kind.SET, None, Decimal("40.0"), city_admin.pk),
        ("130102", 2024, HoursPolicyEvent.Kind.SET, Decimal("40.0"), Decimal("36.0"), city_admin.pk),
    ]
    assert all(e.at is not None for e in HoursPolicyEvent.objects.all())


@pytest.mark.parametrize(
    ("region", "hours", "error"), [("ts", "40", AccessDenied), ("changan", "-1", ValidationFailed)]
)
def test_a_refused_change_of_the_required_hours_records_nothing(city_admin, regions, region, hours, error):
    # when
    with pytest.raises(error):
        services.hours_policy_set(actor=city_admin, region=regions[region], year=2024, required_hours=Decimal(hours))
    # then
    assert not HoursPolicy.objects.exists()
    assert not HoursPolicyEvent.objects.exists()


def test_deleting_a_policy_keeps_its_history(superuser, regions):
    # given
    policy = services.hours_policy_set(actor=superuser, region=regions["sjz"], year=2024, required_hours=Decimal("40"))
    # when
    services.hours_policy_delete(actor=superuser, policy=policy)
    # then
    assert not HoursPolicy.objects.exists()
    last = HoursPolicyEvent.objects.order_by("id").last()
    assert (last.kind, last.region, last.year, last.old_hours, last.new_hours, last.policy) == (
        HoursPolicyEvent.Kind.DELETED,
        regions["sjz"],
        2024,
        Decimal("40.0"),
        None,
        None,
    )


def test_the_api_and_the_admin_record_the_change_and_the_admin_shows_it(city_admin, superuser, regions):
    # given
    api = APIClient()
    api.force_authenticate(city_admin)
    created = api.post(
        "/api/v1/hours-policies/", {"region": "130102", "year": 2024, "required_hours": "40"}, format="json"
    )
    policy_id = created.json()["id"]
    # when
    api.patch(f"/api/v1/hours-policies/{policy_id}/", {"required_hours": "45.5"}, format="json")
    browser = Client()
    browser.force_login(city_admin)
    browser.post(f"/admin/training/hourspolicy/{policy_id}/change/", {"required_hours": "50"})
    page = browser.get(f"/admin/training/hourspolicy/{policy_id}/change/").content.decode()
    # then
    hours = list(HoursPolicyEvent.objects.order_by("id").values_list("old_hours", "new_hours"))
    assert hours == [(None, Decimal("40.0")), (Decimal("40.0"), Decimal("45.5")), (Decimal("45.5"), Decimal("50.0"))]
    assert "变更记录" in page and "45.5 → 50" in page and "50.0" not in page.split("变更记录", 1)[1]
    # when: a superuser deletes it in the admin, through the service
    root = Client()
    root.force_login(superuser)
    response = root.post(f"/admin/training/hourspolicy/{policy_id}/delete/", {"post": "yes"})
    # then
    assert response.status_code == 302
    assert HoursPolicyEvent.objects.order_by("id").last().kind == HoursPolicyEvent.Kind.DELETED


# --- batches ---------------------------------------------------------------------------------------


def test_a_batch_created_and_moved_through_its_statuses_leaves_each_step(city_admin, course, regions):
    # given
    start = in_days(40)
    batch = services.batch_create(
        actor=city_admin,
        data={
            "course": course,
            "region": regions["sjz"],
            "starts_on": start,
            "ends_on": start,
            "capacity": 10,
            "enrollment_deadline": start - dt.timedelta(days=3),
        },
    )
    # when
    for status in (BatchStatus.OPEN, BatchStatus.CLOSED, BatchStatus.OPEN, BatchStatus.CANCELLED):
        services.batch_update(actor=city_admin, batch=batch, data={"status": status})
    # then
    steps = trail(batch)
    assert steps[0][0] == Kind.CREATED
    assert steps[0][1]["capacity"] == [None, 10] and steps[0][1]["region"] == [None, "130100"]
    assert steps[1:] == [
        (Kind.OPENED, {"status": ["draft", "open"]}),
        (Kind.CLOSED, {"status": ["open", "closed"]}),
        (Kind.OPENED, {"status": ["closed", "open"]}),
        (Kind.CANCELLED, {"status": ["open", "cancelled"]}),
    ]
    assert set(batch.events.values_list("actor", flat=True)) == {city_admin.pk}


def test_an_edit_records_old_and_new_and_an_edit_that_changes_nothing_records_nothing(city_admin, batch):
    # when
    services.batch_update(actor=city_admin, batch=batch, data={"capacity": 2})
    services.batch_update(actor=city_admin, batch=batch, data={"capacity": 5, "place": "新会场"})
    # then
    assert trail(batch) == [(Kind.CHANGED, {"capacity": [2, 5], "place": ["石家庄市应急管理局培训室", "新会场"]})]


def test_a_refused_edit_records_nothing(city_admin, other_city_admin, batch):
    with pytest.raises(AccessDenied):
        services.batch_update(actor=other_city_admin, batch=batch, data={"capacity": 9})
    with pytest.raises(Conflict):
        services.batch_update(actor=city_admin, batch=batch, data={"status": BatchStatus.DRAFT})
    assert trail(batch) == []


def test_completing_a_batch_is_recorded_with_its_counts(city_admin, batch, coal, move_to_past):
    # given
    services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    move_to_past(batch)
    services.attendance_mark(batch=batch, actor=city_admin, day=batch.starts_on, absent=[coal[0].pk])
    # when
    services.batch_complete(batch=batch, actor=city_admin, overrides={coal[0].pk: "病假补训"})
    # then
    [(kind, changes)] = trail(batch)
    assert (kind, changes) == (Kind.COMPLETED, {"status": ["open", "completed"]})
    assert batch.events.get().reason == "结业 1 人（特批 1 人），缺席 0 人"


def test_api_status_moves_and_admin_actions_leave_events_and_the_admin_page_shows_them(city_admin, course, regions):
    # given
    draft = BatchFactory(course=course, region=regions["sjz"], status=BatchStatus.DRAFT, starts_on=in_days(30))
    api = APIClient()
    api.force_authenticate(city_admin)
    browser = Client()
    browser.force_login(city_admin)
    # when
    api.patch(f"/api/v1/batches/{draft.pk}/", {"status": "open"}, format="json")
    browser.post(
        "/admin/training/batch/", {"action": "close_enrollment", ACTION_CHECKBOX_NAME: [draft.pk]}, follow=True
    )
    page = browser.get(f"/admin/training/batch/{draft.pk}/change/").content.decode()
    # then
    assert [kind for kind, _c in trail(draft)] == [Kind.OPENED, Kind.CLOSED]
    assert "变更记录" in page and "状态: 报名中 → 报名截止" in page and "截止报名" in page


# --- courses ---------------------------------------------------------------------------------------


def test_a_course_created_and_edited_is_on_record(province_admin, db):
    # when
    course = services.course_save(
        actor=province_admin,
        data={
            "code": "GK-09",
            "title": "公示实务",
            "topics": ["publicity"],
            "hours": Decimal("4"),
            "delivery": "online",
        },
    )
    services.course_save(actor=province_admin, course=course, data={"hours": Decimal("4.0")})  # no change
    services.course_save(actor=province_admin, course=course, data={"topics": ["publicity", "legal_review"]})
    # then
    rows = list(course.events.order_by("id").values_list("kind", "changes", "actor"))
    assert [kind for kind, _c, _a in rows] == [CourseEvent.Kind.CREATED, CourseEvent.Kind.CHANGED]
    assert rows[0][1]["code"] == [None, "GK-09"] and rows[0][1]["hours"] == [None, "4"]
    assert rows[1][1] == {"covers_legal_review": [False, True]}
    assert {actor for _k, _c, actor in rows} == {province_admin.pk}


# --- the histories in the API ----------------------------------------------------------------------


def test_the_api_serves_a_batchs_history_to_its_admins_only(city_admin, other_city_admin, inspector_user, batch):
    # given
    services.batch_update(actor=city_admin, batch=batch, data={"capacity": 4})
    url = f"/api/v1/batches/{batch.pk}/events/"
    clients = {}
    for name, user in (("mine", city_admin), ("other", other_city_admin), ("inspector", inspector_user)):
        clients[name] = APIClient()
        clients[name].force_authenticate(user)
    # when
    mine = clients["mine"].get(url)
    # then
    assert mine.status_code == 200
    [row] = mine.json()
    assert (row["kind"], row["kind_display"], row["changes"], row["actor"]) == (
        "changed",
        "修改",
        {"capacity": [2, 4]},
        city_admin.username,
    )
    assert clients["other"].get(url).status_code == 404  # another city's batch is not there
    assert clients["inspector"].get(url).status_code in (403, 404)


def test_the_api_serves_the_history_of_a_regions_required_hours(city_admin, regions):
    # given
    api = APIClient()
    api.force_authenticate(city_admin)
    policy_id = api.post(
        "/api/v1/hours-policies/", {"region": "130102", "year": 2024, "required_hours": "40"}, format="json"
    ).json()["id"]
    api.patch(f"/api/v1/hours-policies/{policy_id}/", {"required_hours": "36"}, format="json")
    # when
    rows = api.get(f"/api/v1/hours-policies/{policy_id}/events/").json()
    # then
    assert [(r["region"], r["year"], r["old_hours"], r["new_hours"], r["actor"]) for r in rows] == [
        ("130102", 2024, None, "40.0", city_admin.username),
        ("130102", 2024, "40.0", "36.0", city_admin.username),
    ]


def test_enrollments_cannot_be_deleted_in_the_admin_even_by_a_superuser(superuser, batch, coal, city_admin):
    # given: deleting would free the seat without promoting anyone and erase the trail
    enrollment = services.enrollment_create(batch=batch, inspector=coal[0], actor=city_admin)
    browser = Client()
    browser.force_login(superuser)
    # when
    response = browser.post(f"/admin/training/enrollment/{enrollment.pk}/delete/", {"post": "yes"})
    # then
    assert response.status_code == 403
    assert enrollment.events.count() == 1
