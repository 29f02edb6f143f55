"""The Django admin as each role sees it: scoped lists, the roster upload page."""

import io

import pytest
from django.test import Client

from personnel.models import Inspector
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
