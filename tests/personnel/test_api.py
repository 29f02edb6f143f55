"""The personnel API as its callers use it: scoped lists, masking, CRUD, errors."""

import pytest
from django.urls import reverse

from personnel.models import Inspector, Sector
from tests.factories import InspectorFactory, UserFactory, national_id_for


@pytest.fixture
def people(regions):
    return {
        "changan": InspectorFactory(region=regions["changan"], name="长安甲", sector=Sector.COAL),
        "qiaoxi": InspectorFactory(region=regions["qiaoxi"], name="桥西乙", sector=Sector.INDUSTRY_TRADE),
        "lunan": InspectorFactory(region=regions["lunan"], name="路南丙", sector=Sector.COAL),
    }


LIST = "/api/v1/inspectors/"


def test_anonymous_is_refused_with_the_error_shape(api_client, people):
    response = api_client.get(LIST)
    assert response.status_code == 401
    assert set(response.json()) == {"code", "detail", "fields"}


def test_city_admin_lists_only_own_subtree_with_full_ids(client_for, city_admin, people):
    # when
    body = client_for(city_admin).get(LIST).json()
    # then
    assert body["count"] == 2
    names = {row["name"] for row in body["results"]}
    assert names == {"长安甲", "桥西乙"}
    by_name = {row["name"]: row for row in body["results"]}
    assert by_name["长安甲"]["national_id"] == people["changan"].national_id


def test_other_city_admin_gets_404_for_an_inspector_outside(client_for, other_city_admin, people):
    response = client_for(other_city_admin).get(f"{LIST}{people['changan'].pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_inspector_sees_only_self_and_a_masked_id(client_for, inspector_user, people):
    # when
    body = client_for(inspector_user).get(LIST).json()
    # then
    assert body["count"] == 1
    row = body["results"][0]
    assert row["name"] == "张三"
    assert "*" in row["national_id"] and len(row["national_id"]) == 18
    other = client_for(inspector_user).get(f"{LIST}{people['changan'].pk}/")
    assert other.status_code == 404


def test_filters_sector_region_status_search(client_for, province_admin, people):
    client = client_for(province_admin)
    assert client.get(LIST, {"sector": "coal"}).json()["count"] == 2
    assert client.get(LIST, {"region": "130100"}).json()["count"] == 2
    assert client.get(LIST, {"region": "130200"}).json()["count"] == 1
    assert client.get(LIST, {"search": "桥西"}).json()["count"] == 1
    assert client.get(LIST, {"status": "retired"}).json()["count"] == 0


def test_bad_filter_value_is_a_400_naming_the_field(client_for, province_admin, people):
    response = client_for(province_admin).get(LIST, {"sector": "fishing"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "sector" in body["fields"]


def test_list_query_count_does_not_grow_with_rows(client_for, province_admin, regions, django_assert_max_num_queries):
    client = client_for(province_admin)
    InspectorFactory.create_batch(5, region=regions["changan"])
    with django_assert_max_num_queries(6) as small:
        client.get(LIST)
    InspectorFactory.create_batch(40, region=regions["lunan"])
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(LIST)


def test_admin_creates_inspector_in_own_region(client_for, city_admin, regions):
    # given
    nid = national_id_for("130104", 7)
    # when
    response = client_for(city_admin).post(
        LIST,
        {"name": "新同事", "national_id": nid.lower(), "region": "130104", "sector": "industry_trade"},
        format="json",
    )
    # then
    assert response.status_code == 201, response.json()
    created = Inspector.objects.get(national_id=nid)
    assert created.birth_date.year == 1985
    assert response.json()["national_id"] == nid


def test_admin_cannot_create_in_another_city(client_for, city_admin, regions):
    response = client_for(city_admin).post(
        LIST,
        {"name": "外人", "national_id": national_id_for("130202", 1), "region": "130202", "sector": "coal"},
        format="json",
    )
    assert response.status_code == 403
    assert not Inspector.objects.filter(name="外人").exists()


def test_duplicate_id_is_a_409(client_for, province_admin, people):
    response = client_for(province_admin).post(
        LIST,
        {"name": "重复", "national_id": people["changan"].national_id, "region": "130102", "sector": "coal"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"
    assert "national_id" in response.json()["fields"]


NOT_HERE = "该身份证号不能在此登记。如需办理，请联系上级管理员（其管辖范围同时包含您的地区）。"


def test_an_id_number_held_outside_the_scope_cannot_be_registered_here_and_nothing_tells_where(
    client_for, county_admin, regions
):
    # given: numbers held in a sibling county (桥西区), by 石家庄 itself (above 长安区) and
    # in another city (路南区, 唐山)
    held = {
        key: InspectorFactory(region=regions[key], name=f"在{regions[key].name}的人")
        for key in ("qiaoxi", "sjz", "lunan")
    }
    client = client_for(county_admin)

    # when: 长安区's admin registers each number in 长安区
    answers = {
        key: client.post(
            LIST,
            {"name": "新登记", "national_id": person.national_id, "region": "130102", "sector": "coal"},
            format="json",
        )
        for key, person in held.items()
    }

    # then: one answer for all three, that says neither whether nor where the person exists
    bodies = {key: (response.status_code, response.json()) for key, response in answers.items()}
    expected = (
        409,
        {"code": "national_id_not_here", "detail": NOT_HERE, "fields": {"national_id": ["不能在此登记。"]}},
    )
    assert bodies == dict.fromkeys(held, expected)
    for key, response in answers.items():
        text = response.content.decode()
        assert "管辖范围以外" not in text and "已登记" not in text
        assert held[key].name not in text and held[key].region.name not in text
    assert not Inspector.objects.filter(name="新登记").exists()


def test_an_id_number_held_inside_the_scope_is_reported_as_already_registered(client_for, city_admin, people):
    # given: 长安甲 is in 石家庄's subtree: its admin sees them anyway
    # when
    response = client_for(city_admin).post(
        LIST,
        {"name": "重复", "national_id": people["changan"].national_id, "region": "130104", "sector": "coal"},
        format="json",
    )
    # then
    assert (response.status_code, response.json()["code"]) == (409, "duplicate")


def test_bad_checksum_is_a_400_on_the_field(client_for, province_admin, regions):
    nid = national_id_for("130102", 3)
    wrong = nid[:-1] + ("0" if nid[-1] != "0" else "1")
    response = client_for(province_admin).post(
        LIST, {"name": "错号", "national_id": wrong, "region": "130102", "sector": "coal"}, format="json"
    )
    assert response.status_code == 400
    assert "校验位" in str(response.json()["fields"]["national_id"])


def test_inspector_cannot_create_or_edit(client_for, inspector_user, regions):
    client = client_for(inspector_user)
    response = client.post(
        LIST,
        {"name": "x", "national_id": national_id_for("130102", 9), "region": "130102", "sector": "coal"},
        format="json",
    )
    assert response.status_code == 403
    me = inspector_user.inspector
    response = client.patch(f"{LIST}{me.pk}/", {"position": "局长"}, format="json")
    assert response.status_code == 403
    me.refresh_from_db()
    assert me.position != "局长"


def test_admin_patches_status_and_moving_out_of_scope_is_refused(client_for, city_admin, people):
    client = client_for(city_admin)
    url = f"{LIST}{people['changan'].pk}/"
    assert client.patch(url, {"status": "on_leave"}, format="json").status_code == 200
    response = client.patch(url, {"region": "130202"}, format="json")
    assert response.status_code == 403
    people["changan"].refresh_from_db()
    assert people["changan"].region.code == "130102"
    assert people["changan"].status == "on_leave"


def test_token_authentication_works(api_client, people, province_admin):
    # given
    province_admin.set_password("pass-Word-123")
    province_admin.save()
    token = api_client.post("/api/v1/auth/token/", {"username": "prov", "password": "pass-Word-123"}).json()["token"]
    # when
    response = api_client.get(LIST, HTTP_AUTHORIZATION=f"Token {token}")
    # then
    assert response.status_code == 200
    assert response.json()["count"] == 3


def test_regions_endpoint_is_scoped(client_for, city_admin, regions):
    body = client_for(city_admin).get("/api/v1/regions/").json()
    assert sorted(r["code"] for r in body["results"]) == ["130100", "130102", "130104"]
    assert client_for(city_admin).get("/api/v1/regions/130200/").status_code == 404
    assert client_for(city_admin).get("/api/v1/regions/", {"level": "county"}).json()["count"] == 2


def test_schema_and_offline_docs_are_served(api_client, db):
    schema = api_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/inspectors/import/" in schema.content
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # the UI assets come from the app itself (sidecar), not a CDN
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content


def test_user_without_role_gets_empty_lists(client_for, people, db):
    nobody = UserFactory(username="nobody")
    assert client_for(nobody).get(LIST).json()["count"] == 0
    assert reverse("inspector-list") == LIST


def test_a_login_links_to_one_inspector_only(people, inspector_user, province_admin):
    from core.errors import Conflict
    from personnel.services import inspector_link_user

    with pytest.raises(Conflict):
        inspector_link_user(inspector=people["changan"], user=inspector_user)
    with pytest.raises(Conflict):
        inspector_link_user(inspector=people["changan"], user=province_admin)
