"""The Django admin as each role sees it: scoped lists, the roster upload page."""

import io

import pytest
from django.test import Client

from personnel.models import Inspector, InspectorEvent, Region, RegionAdmin, RegionEvent
from tests.factories import InspectorFactory
from tests.personnel.test_roster_import import good_rows, xlsx


@pytest.fixture
def browser():
    return Client()


@pytest.fixture
def people(regions):
    InspectorFactory(region=regions["changan"], name="长安甲")
    InspectorFactory(region=regions["lunan"], name="路南乙")


def test_city_admin_list_is_scoped_and_in_chinese(browser, city_admin, people):
    # given
    browser.force_login(city_admin)
    # when
    page = browser.get("/admin/personnel/inspector/").content.decode()
    # then
    assert "长安甲" in page
    assert "路南乙" not in page
    assert "执法人员" in page
    assert "导入名册" in page


def test_city_admin_cannot_open_an_inspector_of_another_city(browser, city_admin, regions):
    other = InspectorFactory(region=regions["lunan"])
    browser.force_login(city_admin)
    response = browser.get(f"/admin/personnel/inspector/{other.pk}/change/")
    assert response.status_code in (302, 404)
    assert other.name not in response.content.decode()


def test_inspector_login_cannot_enter_the_admin(browser, inspector_user):
    inspector_user.is_staff = True
    inspector_user.save()
    browser.force_login(inspector_user)
    assert browser.get("/admin/personnel/inspector/").status_code == 403


def test_filters_and_search(browser, province_admin, people):
    browser.force_login(province_admin)
    page = browser.get("/admin/personnel/inspector/", {"region_code": "130200"}).content.decode()
    assert "路南乙" in page and "长安甲" not in page
    page = browser.get("/admin/personnel/inspector/", {"q": "长安"}).content.decode()
    assert "长安甲" in page and "路南乙" not in page


def test_upload_page_shows_errors_by_row_and_column(browser, province_admin):
    browser.force_login(province_admin)
    rows = good_rows(2)
    rows[1][3] = "渔业"
    upload = io.BytesIO(xlsx(rows))
    upload.name = "roster.xlsx"
    page = browser.post("/admin/personnel/inspector/import/", {"file": upload}).content.decode()
    assert "未写入任何数据" in page
    assert "D 行业" in page
    assert Inspector.objects.count() == 0


def test_upload_page_imports_and_redirects(browser, province_admin):
    browser.force_login(province_admin)
    upload = io.BytesIO(xlsx(good_rows(2)))
    upload.name = "roster.xlsx"
    response = browser.post("/admin/personnel/inspector/import/", {"file": upload})
    assert response.status_code == 302
    assert Inspector.objects.count() == 2


def test_add_inspector_through_admin_uses_the_service(browser, city_admin, regions):
    browser.force_login(city_admin)
    rows = good_rows(1)
    response = browser.post(
        "/admin/personnel/inspector/add/",
        {
            "name": "新人",
            "national_id": rows[0][1],
            "region": regions["qiaoxi"].pk,
            "sector": "coal",
            "status": "active",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Inspector.objects.get(name="新人").region == regions["qiaoxi"]


def test_adding_an_id_number_held_in_another_city_says_only_that_it_cannot_be_registered_here(
    browser, city_admin, regions
):
    # given: a number held in 唐山's 路南区
    outsider = InspectorFactory(region=regions["lunan"], name="路南丙")
    browser.force_login(city_admin)
    # when
    response = browser.post(
        "/admin/personnel/inspector/add/",
        {
            "name": "新人",
            "national_id": outsider.national_id,
            "region": regions["qiaoxi"].pk,
            "sector": "coal",
            "status": "active",
        },
    )
    # then: the form comes back with the one answer, and nothing about 路南丙 or where they are
    assert response.status_code == 200
    page = response.content.decode()
    assert "该身份证号不能在此登记。如需办理，请联系上级管理员（其管辖范围同时包含您的地区）。" in page
    for leak in ("已存在", "已登记", "管辖范围以外", "路南", "唐山", outsider.name):
        assert leak not in page, leak
    assert not Inspector.objects.filter(name="新人").exists()


def test_binding_a_region_admin_in_the_admin_lets_them_in(browser, superuser, regions):
    # given
    from tests.factories import UserFactory

    newcomer = UserFactory(username="newcomer", is_staff=False)
    browser.force_login(superuser)
    # when
    response = browser.post("/admin/personnel/regionadmin/add/", {"user": newcomer.pk, "region": regions["ts"].pk})
    # then
    assert response.status_code == 302, response.content.decode()[:500]
    newcomer.refresh_from_db()
    assert newcomer.is_staff
    assert newcomer.region_admin.region == regions["ts"]


# --- edits go through the services, refusals are form errors, every write leaves its event ----


def inspector_form(inspector, **changes):
    form = {
        "name": inspector.name,
        "region": inspector.region_id,
        "sector": inspector.sector,
        "position": inspector.position,
        "phone": inspector.phone,
        "status": inspector.status,
        "hired_on": "",
        "user": "",
    }
    return {**form, **changes}


def form_errors(response) -> dict[str, list[str]]:
    return {k: [str(m) for m in v] for k, v in response.context["adminform"].form.errors.items()}


def test_an_inspector_edit_goes_through_the_service_and_is_on_record(browser, city_admin, regions):
    # given
    someone = InspectorFactory(region=regions["changan"], name="旧名", phone="13800001111")
    browser.force_login(city_admin)
    url = f"/admin/personnel/inspector/{someone.pk}/change/"
    # when
    response = browser.post(url, inspector_form(someone, name="新名", phone="13912345678", region=regions["qiaoxi"].pk))
    # then
    assert response.status_code == 302, response.content.decode()[:2000]
    someone.refresh_from_db()
    assert (someone.name, someone.region, someone.phone) == ("新名", regions["qiaoxi"], "13912345678")
    event = InspectorEvent.objects.get(inspector=someone)
    assert (event.kind, event.actor) == (InspectorEvent.Kind.CHANGED, city_admin)
    assert event.changes["name"] == ["旧名", "新名"]
    assert event.changes["region"] == ["130102", "130104"]
    # the mobile number is recorded as changed, masked
    assert event.changes["phone"] == ["1380***1111", "1391***5678"]
    # and the change page shows the history
    page = browser.get(url).content.decode()
    assert "变更记录" in page and "姓名: 旧名 → 新名" in page and "13912345678" not in page.split("变更记录")[1]


def test_a_refused_inspector_edit_is_a_form_error_with_the_form_kept(browser, city_admin, province_admin, regions):
    # given: the service refuses to link an administrator's login to an inspector
    someone = InspectorFactory(region=regions["changan"], name="原名")
    browser.force_login(city_admin)
    url = f"/admin/personnel/inspector/{someone.pk}/change/"
    # when
    response = browser.post(url, inspector_form(someone, name="改了的名", user=province_admin.pk))
    # then: 200, the same form as typed, the refusal on the user field, nothing written
    assert response.status_code == 200
    errors = form_errors(response)
    assert errors["user"] == ["管理员账号。"], errors
    assert response.context["adminform"].form["name"].value() == "改了的名"
    assert 'class="errornote"' in response.content.decode()
    someone.refresh_from_db()
    assert (someone.name, someone.user) == ("原名", None)
    assert not InspectorEvent.objects.exists()


def test_the_id_number_is_read_only_on_the_change_page(browser, city_admin, regions):
    # given
    someone = InspectorFactory(region=regions["changan"])
    browser.force_login(city_admin)
    # when
    response = browser.get(f"/admin/personnel/inspector/{someone.pk}/change/")
    # then: shown, not a field (the service never changes an ID number; the page said nothing when it ignored one)
    assert "national_id" not in response.context["adminform"].form.fields


def region_form(region, **changes):
    form = {"code": region.code, "name": region.name, "level": region.level, "parent": region.parent_id or ""}
    return {**form, **changes}


def test_a_region_edit_goes_through_the_service_and_is_on_record(browser, province_admin, regions):
    # given
    changan = regions["changan"]
    browser.force_login(province_admin)
    # when
    response = browser.post(f"/admin/personnel/region/{changan.pk}/change/", region_form(changan, name="长安新区"))
    # then
    assert response.status_code == 302, response.content.decode()[:2000]
    changan.refresh_from_db()
    assert changan.name == "长安新区"
    event = RegionEvent.objects.get(region=changan, kind=RegionEvent.Kind.CHANGED)
    assert (event.changes, event.actor) == ({"name": ["长安区", "长安新区"]}, province_admin)


def test_a_refused_region_edit_is_a_form_error_with_the_form_kept(browser, province_admin, regions):
    # given: a county under a city cannot become a city
    changan = regions["changan"]
    browser.force_login(province_admin)
    # when
    response = browser.post(
        f"/admin/personnel/region/{changan.pk}/change/", region_form(changan, name="长安市", level="city")
    )
    # then
    assert response.status_code == 200
    assert form_errors(response)["level"] == ["级别与上级不符。"]
    assert response.context["adminform"].form["name"].value() == "长安市"
    changan.refresh_from_db()
    assert (changan.name, changan.level) == ("长安区", "county")
    assert not RegionEvent.objects.filter(region=changan).exists()


def test_a_refused_region_creation_is_a_form_error(browser, province_admin, regions):
    # given
    browser.force_login(province_admin)
    # when: a county directly under the province
    response = browser.post(
        "/admin/personnel/region/add/",
        {"code": "130999", "name": "错级县", "level": "county", "parent": regions["province"].pk},
    )
    # then
    assert response.status_code == 200
    assert form_errors(response)["level"] == ["级别与上级不符。"]
    assert response.context["adminform"].form["name"].value() == "错级县"
    assert not Region.objects.filter(code="130999").exists()


def test_binding_an_inspectors_login_as_region_admin_is_a_form_error(browser, superuser, inspector_user, regions):
    # given
    browser.force_login(superuser)
    # when
    response = browser.post(
        "/admin/personnel/regionadmin/add/", {"user": inspector_user.pk, "region": regions["ts"].pk}
    )
    # then
    assert response.status_code == 200
    assert form_errors(response)["user"] == ["执法人员账号。"]
    assert not RegionAdmin.objects.filter(user=inspector_user).exists()


def test_binding_and_removing_a_region_admin_is_on_the_regions_record(browser, superuser, regions):
    # given
    from tests.factories import UserFactory

    newcomer = UserFactory(username="newcomer2")
    browser.force_login(superuser)
    browser.post("/admin/personnel/regionadmin/add/", {"user": newcomer.pk, "region": regions["ts"].pk})
    binding = RegionAdmin.objects.get(user=newcomer)
    # when
    response = browser.post(f"/admin/personnel/regionadmin/{binding.pk}/delete/", {"post": "yes"})
    # then
    assert response.status_code == 302
    assert not RegionAdmin.objects.filter(user=newcomer).exists()
    trail = list(RegionEvent.objects.filter(region=regions["ts"]).values_list("kind", "changes", "actor"))
    assert trail == [
        (RegionEvent.Kind.ADMIN_ASSIGNED, {"admin": [None, "newcomer2"]}, superuser.pk),
        (RegionEvent.Kind.ADMIN_REMOVED, {"admin": ["newcomer2", None]}, superuser.pk),
    ]
