"""Who sees which inspectors: one selector decides, every role is checked here."""

import pytest

from core.errors import NotFound
from personnel import access
from personnel.models import Sector
from personnel.selectors import (
    can_see_full_national_id,
    inspector_get_for_actor,
    inspector_list,
    region_list,
    region_subtree,
)
from tests.factories import InspectorFactory, UserFactory


@pytest.fixture
def people(regions):
    return {
        "prov": InspectorFactory(region=regions["province"], name="省厅甲"),
        "sjz": InspectorFactory(region=regions["sjz"], name="石家庄乙"),
        "changan": InspectorFactory(region=regions["changan"], name="长安丙", sector=Sector.HAZARDOUS_CHEMICALS),
        "qiaoxi": InspectorFactory(region=regions["qiaoxi"], name="桥西丁"),
        "ts": InspectorFactory(region=regions["ts"], name="唐山戊"),
        "lunan": InspectorFactory(region=regions["lunan"], name="路南己"),
    }


def names(qs):
    return sorted(i.name for i in qs)


def test_region_subtree_is_one_prefix_query(regions, django_assert_num_queries):
    # when / then
    with django_assert_num_queries(1):
        codes = sorted(r.code for r in region_subtree(region=regions["sjz"]))
    assert codes == ["130100", "130102", "130104"]


def test_provincial_admin_sees_everyone(province_admin, people):
    assert access.scope_for(province_admin).kind == access.ALL
    assert inspector_list(actor=province_admin).count() == 6


def test_superuser_sees_everyone(superuser, people):
    assert inspector_list(actor=superuser).count() == 6


def test_city_admin_sees_own_city_and_its_counties_only(city_admin, people):
    # when
    visible = inspector_list(actor=city_admin)
    # then
    assert names(visible) == sorted(["石家庄乙", "长安丙", "桥西丁"])


def test_city_admin_cannot_see_another_city(city_admin, people):
    with pytest.raises(NotFound):
        inspector_get_for_actor(actor=city_admin, inspector_id=people["ts"].pk)
    with pytest.raises(NotFound):
        inspector_get_for_actor(actor=city_admin, inspector_id=people["prov"].pk)


def test_county_admin_sees_own_county_only(county_admin, people):
    assert names(inspector_list(actor=county_admin)) == ["长安丙"]
    with pytest.raises(NotFound):
        inspector_get_for_actor(actor=county_admin, inspector_id=people["sjz"].pk)


def test_inspector_sees_only_themself(inspector_user, people):
    # given: the inspector fixture lives in 长安区 next to 长安丙
    me = inspector_user.inspector
    # when
    visible = inspector_list(actor=inspector_user)
    # then
    assert list(visible) == [me]
    with pytest.raises(NotFound):
        inspector_get_for_actor(actor=inspector_user, inspector_id=people["changan"].pk)


def test_user_without_role_sees_nothing(regions, people):
    nobody = UserFactory(username="nobody")
    assert inspector_list(actor=nobody).count() == 0
    assert region_list(actor=nobody).count() == 0


def test_filters_apply_after_scoping(city_admin, people, regions):
    assert names(inspector_list(actor=city_admin, filters={"sector": Sector.HAZARDOUS_CHEMICALS})) == ["长安丙"]
    # a region filter outside the scope finds nothing rather than widening it
    assert inspector_list(actor=city_admin, filters={"region": "130200"}).count() == 0
    assert names(inspector_list(actor=city_admin, filters={"region": "130104"})) == ["桥西丁"]
    assert names(inspector_list(actor=city_admin, filters={"search": "长安"})) == ["长安丙"]


def test_full_id_number_only_for_admins_of_the_region(city_admin, other_city_admin, inspector_user, people):
    changan = people["changan"]
    assert can_see_full_national_id(actor=city_admin, inspector=changan)
    assert not can_see_full_national_id(actor=other_city_admin, inspector=changan)
    assert not can_see_full_national_id(actor=inspector_user, inspector=inspector_user.inspector)


def test_region_list_per_role(city_admin, inspector_user, province_admin, regions):
    assert region_list(actor=province_admin).count() == 6
    assert sorted(r.code for r in region_list(actor=city_admin)) == ["130100", "130102", "130104"]
    assert [r.code for r in region_list(actor=inspector_user)] == ["130102"]


def test_moving_a_city_moves_its_subtree(regions, city_admin, people):
    # given: 石家庄 with two counties and inspectors in them
    sjz = regions["sjz"]
    # when: the city is re-coded (its path changes)
    sjz.code = "130900"
    sjz.save()
    # then: the counties' paths follow, and scoping still finds them
    regions["changan"].refresh_from_db()
    assert regions["changan"].path == "130000/130900/130102/"
    assert regions["changan"].depth == 2
    assert names(inspector_list(actor=city_admin)) == sorted(["石家庄乙", "长安丙", "桥西丁"])
