"""The demo seed: Hebei's region tree, valid inspectors on every level, logins per role, idempotent."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from personnel import access, demo, idcard
from personnel.models import Inspector, Region, RegionAdmin, RegionLevel, Sector

SMALL = 300


@pytest.fixture
def seeded(db):
    return demo.seed_personnel(inspectors=SMALL)


def _counts():
    return (
        Region.objects.count(),
        Inspector.objects.count(),
        get_user_model().objects.count(),
        RegionAdmin.objects.count(),
        Inspector.objects.filter(user__isnull=False).count(),
    )


def test_seed_builds_the_hebei_region_tree(seeded):
    # given / when: seeded
    province = Region.objects.get(code="130000")

    # then
    assert province.name == "河北省"
    assert province.level == RegionLevel.PROVINCE
    assert province.parent is None
    direct = province.children.all()
    assert direct.count() == 11 + 2 + 1
    assert {r.level for r in direct} == {RegionLevel.CITY}
    assert {"130181", "130682", "133100"} <= {r.code for r in direct}
    assert Region.objects.get(code="130102").path == "130000/130100/130102/"
    assert Region.objects.filter(level=RegionLevel.COUNTY, parent__parent=province).count() >= 11 * 3
    assert all(r.path == r.build_path() for r in Region.objects.select_related("parent"))


def test_seed_creates_valid_inspectors_on_every_level_and_sector(seeded):
    # given / when: seeded
    inspectors = list(Inspector.objects.select_related("region"))

    # then
    assert len(inspectors) == SMALL
    for inspector in inspectors:
        parsed = idcard.parse(inspector.national_id)
        assert inspector.national_id[:6] == inspector.region.code
        assert inspector.gender == parsed.gender
        assert inspector.birth_date == parsed.birth_date
        assert 1965 <= inspector.birth_date.year <= 1998
        assert inspector.phone.isdigit() and len(inspector.phone) == 11 and inspector.phone[0] == "1"
        assert inspector.name and inspector.position
    assert {i.sector for i in inspectors} == set(Sector.values)
    assert {i.region.level for i in inspectors} == set(RegionLevel.values)
    assert seeded["inspectors_created"] == SMALL


def test_seed_creates_logins_with_the_right_scope(seeded):
    # given
    users = {u.username: u for u in get_user_model().objects.all()}

    # when
    scopes = {name: access.scope_for(user) for name, user in users.items()}

    # then
    assert scopes["admin"].kind == access.ALL
    assert users["admin"].is_superuser
    assert scopes["province_admin"].kind == access.ALL
    assert scopes["sjz_admin"].kind == access.REGION
    assert scopes["sjz_admin"].region_path == "130000/130100/"
    assert scopes["ts_admin"].kind == access.REGION
    assert scopes["ts_admin"].region_path == "130000/130200/"
    assert scopes["inspector"].kind == access.SELF
    for name in ("province_admin", "sjz_admin", "ts_admin"):
        assert users[name].is_staff
    linked = Inspector.objects.select_related("region__parent").get(user=users["inspector"])
    assert linked.status == "active"
    assert linked.region.level == RegionLevel.COUNTY
    assert linked.region.parent.code == "130100"
    for user in users.values():
        assert user.check_password(demo.DEMO_PASSWORD)
    assert {login.username for login in seeded["logins"]} == set(users)


def test_seeding_twice_changes_no_counts(seeded):
    # given
    before = _counts()
    linked_before = Inspector.objects.get(user__username="inspector").pk

    # when
    again = demo.seed_personnel(inspectors=SMALL)

    # then
    assert _counts() == before
    assert again["regions_created"] == 0
    assert again["inspectors_created"] == 0
    assert again["inspectors_existing"] == SMALL
    assert Inspector.objects.get(user__username="inspector").pk == linked_before


def test_a_larger_seed_keeps_the_smaller_one_and_adds_the_rest(seeded):
    # given
    ids_before = set(Inspector.objects.values_list("national_id", flat=True))

    # when
    result = demo.seed_personnel(inspectors=SMALL + 100)

    # then
    assert ids_before <= set(Inspector.objects.values_list("national_id", flat=True))
    assert result["inspectors_created"] == 100
    assert Inspector.objects.count() == SMALL + 100


@pytest.mark.django_db
def test_the_command_seeds_and_prints_the_logins():
    # given
    out = io.StringIO()

    # when
    call_command("seed_demo", "--inspectors", "120", stdout=out)

    # then
    assert Inspector.objects.count() == 120
    text = out.getvalue()
    for username in ("admin", "province_admin", "sjz_admin", "ts_admin", "inspector"):
        assert username in text
    assert demo.DEMO_PASSWORD in text
