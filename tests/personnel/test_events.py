"""Every write to regions and inspectors leaves its event row, in the same transaction:
who, when, which fields from what to what, personal numbers masked."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import Conflict, ValidationFailed
from personnel import services
from personnel.imports import roster_import
from personnel.models import Inspector, InspectorEvent, RegionEvent
from tests.factories import InspectorFactory, national_id_for
from tests.personnel.test_roster_import import good_rows, xlsx

Kind = InspectorEvent.Kind


def test_registering_an_inspector_records_the_fields_with_the_id_number_masked(city_admin, regions):
    # given
    number = national_id_for("130102", 7)
    # when
    inspector = services.inspector_create(
        actor=city_admin, name="新人", national_id=number, region=regions["changan"], sector="coal", phone="13812345678"
    )
    # then
    event = InspectorEvent.objects.get(inspector=inspector)
    assert (event.kind, event.actor) == (Kind.CREATED, city_admin)
    assert event.changes["national_id"] == [None, number[:4] + "**********" + number[-4:]]
    assert event.changes["phone"] == [None, "1381***5678"]
    assert event.changes["region"] == [None, "130102"]
    assert number not in str(event.changes)


def test_an_update_records_old_and_new_and_an_update_that_changes_nothing_records_nothing(city_admin, regions):
    # given
    someone = InspectorFactory(region=regions["changan"], position="科员")
    # when
    services.inspector_update(actor=city_admin, inspector=someone, data={"position": "科员"})
    services.inspector_update(actor=city_admin, inspector=someone, data={"position": "科长", "status": "on_leave"})
    # then
    [event] = InspectorEvent.objects.filter(inspector=someone)
    assert event.changes == {"position": ["科员", "科长"], "status": ["active", "on_leave"]}


def test_a_refused_update_leaves_no_event(city_admin, regions):
    # given
    someone = InspectorFactory(region=regions["changan"])
    # when
    with pytest.raises(ValidationFailed):
        services.inspector_update(actor=city_admin, inspector=someone, data={"phone": "not a phone"})
    # then
    assert not InspectorEvent.objects.exists()


def test_linking_a_login_is_recorded(city_admin, regions):
    # given
    from tests.factories import UserFactory

    someone = InspectorFactory(region=regions["changan"])
    login = UserFactory(username="someone")
    # when
    services.inspector_link_user(inspector=someone, user=login, actor=city_admin)
    # then
    event = InspectorEvent.objects.get(inspector=someone)
    assert (event.kind, event.changes) == (Kind.USER_LINKED, {"user": [None, "someone"]})


def test_a_region_created_and_changed_is_on_record(province_admin, regions):
    # when
    created = services.region_create(
        code="130199", name="新区", level="county", parent=regions["sjz"], actor=province_admin
    )
    services.region_update(actor=province_admin, region=created, data={"parent": regions["ts"], "name": "新县"})
    # then
    created.refresh_from_db()
    assert created.path == "130000/130200/130199/"
    trail = list(RegionEvent.objects.filter(region=created).values_list("kind", "changes"))
    assert trail == [
        (
            RegionEvent.Kind.CREATED,
            {"code": [None, "130199"], "name": [None, "新区"], "level": [None, "county"], "parent": [None, "130100"]},
        ),
        (RegionEvent.Kind.CHANGED, {"name": ["新区", "新县"], "parent": ["130100", "130200"]}),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"parent": "self"}, "parent"), ({"parent": "child"}, "parent"), ({"level": "county"}, "level")],
)
def test_a_region_cannot_move_under_itself_nor_change_level_under_its_parent(province_admin, regions, change, field):
    # given
    sjz = regions["sjz"]
    value = (
        {"self": sjz, "child": regions["changan"]}.get(change.get("parent")) if "parent" in change else change["level"]
    )
    # when
    with pytest.raises((ValidationFailed, Conflict)) as refused:
        services.region_update(actor=province_admin, region=sjz, data={next(iter(change)): value})
    # then
    assert field in refused.value.fields
    assert not RegionEvent.objects.filter(region=sjz).exists()


def test_only_provincial_admins_change_regions(city_admin, regions):
    from core.errors import AccessDenied

    with pytest.raises(AccessDenied):
        services.region_update(actor=city_admin, region=regions["changan"], data={"name": "x"})


def test_a_roster_import_writes_one_event_per_inspector_created_or_changed(province_admin, regions):
    # given: two already registered (one to change, one unchanged) and one new
    rows = good_rows(3)
    assert roster_import(actor=province_admin, data=xlsx(rows[:2]), filename="a.xlsx").ok
    rows[0][4] = "科长"
    # when
    result = roster_import(actor=province_admin, data=xlsx(rows), filename="b.xlsx")
    # then
    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    changed = Inspector.objects.get(national_id=rows[0][1])
    new = Inspector.objects.get(national_id=rows[2][1])
    assert list(changed.events.values_list("kind", "changes", "actor")) == [
        (Kind.IMPORTED, changed.events.first().changes, province_admin.pk),
        (Kind.IMPORT_CHANGED, {"position": ["科员", "科长"]}, province_admin.pk),
    ]
    [created] = new.events.all()
    assert created.kind == Kind.IMPORTED
    assert created.changes["national_id"][1].count("*") == 10
    assert InspectorEvent.objects.count() == 4  # 2 + 1 created, 1 changed; the unchanged one has none


def test_a_dry_run_or_a_refused_import_writes_no_event(province_admin):
    # given
    rows = good_rows(2)
    rows[1][3] = "渔业"
    # when
    roster_import(actor=province_admin, data=xlsx(good_rows(2)), filename="a.xlsx", dry_run=True)
    roster_import(actor=province_admin, data=xlsx(rows), filename="b.xlsx")
    # then
    assert not InspectorEvent.objects.exists()


def import_statements(actor, rows) -> tuple[int, int]:
    """(statements writing events, all other statements but the inspector rows' own
    INSERT/UPDATE batches, whose number the backend's parameter limit sets)."""
    with CaptureQueriesContext(connection) as queries:
        assert roster_import(actor=actor, data=xlsx(rows), filename="r.xlsx").ok
    sql = [q["sql"] for q in queries.captured_queries]
    events = sum(s.startswith('INSERT INTO "personnel_inspectorevent"') for s in sql)
    inspector_rows = ('INSERT INTO "personnel_inspector" ', 'UPDATE "personnel_inspector" ')
    return events, sum(not s.startswith(('INSERT INTO "personnel_inspectorevent"', *inspector_rows)) for s in sql)


def test_the_import_writes_its_events_in_one_statement_for_1_or_150_rows(province_admin, regions):
    # given: the admin's scope already read (it is cached per request), people to register
    roster_import(actor=province_admin, data=xlsx(good_rows(1)), filename="w.xlsx", dry_run=True)
    few = [[f"甲{i}", national_id_for("130102", 500 + i), *row[2:]] for i, row in enumerate(good_rows(1))]
    many = [[f"乙{i}", national_id_for("130102", 1000 + i), *row[2:]] for i, row in enumerate(good_rows(150))]
    # when: registered, then each of them changed
    created = [import_statements(province_admin, few), import_statements(province_admin, many)]
    for row in few + many:
        row[4] = "科长"
    changed = [import_statements(province_admin, few), import_statements(province_admin, many)]
    # then: one INSERT of events whatever the rows, and nothing else grows with them
    assert created[0] == created[1]
    assert changed[0] == changed[1]
    assert created[0][0] == changed[0][0] == 1
    assert InspectorEvent.objects.filter(kind=Kind.IMPORT_CHANGED).count() == 151


def test_the_api_serves_an_inspectors_history_to_admins_with_numbers_masked(city_admin, inspector_user, regions):
    # given
    from rest_framework.test import APIClient

    someone = InspectorFactory(region=regions["changan"], phone="13800001111")
    services.inspector_update(actor=city_admin, inspector=someone, data={"phone": "13912345678"})
    admin, own = APIClient(), APIClient()
    admin.force_authenticate(city_admin)
    own.force_authenticate(inspector_user)
    me = inspector_user.inspector
    # when
    rows = admin.get(f"/api/v1/inspectors/{someone.pk}/events/").json()
    # then
    assert [(r["kind"], r["changes"], r["actor"]) for r in rows] == [
        ("changed", {"phone": ["1380***1111", "1391***5678"]}, city_admin.username)
    ]
    assert own.get(f"/api/v1/inspectors/{me.pk}/events/").status_code == 403
