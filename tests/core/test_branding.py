"""One product name (core.branding.PRODUCT_NAME) in every page's title and header, admin and
public; the favicon linked from both base templates and answered at /favicon.ico."""

import re

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.urls import reverse

from core.branding import PRODUCT_NAME
from exams import numbers

NAME = "执法人员培训与持证管理"
NAME_EN = "Enforcement Inspector Training and Certification"
OLD_NAMES = ["行政执法证管理", "执法培训管理"]
TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def title_of(page: str) -> str:
    found = TITLE.search(page)
    assert found, "the page has a <title>"
    return found.group(1).strip()


def viewable_changelists(user) -> list[str]:
    """Every admin list the user may see (as the admin decides it: its view permission)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_view_permission(request)
    )


def test_the_name_has_one_home():
    assert str(PRODUCT_NAME) == NAME
    assert str(admin.site.site_header) == NAME
    assert str(admin.site.site_title) == NAME


@pytest.fixture
def admin_client(city_admin):
    client = Client()
    client.force_login(city_admin)
    return client


def admin_pages(user) -> list[str]:
    return ["/admin/", "/admin/overview/", *viewable_changelists(user), "/admin/training/batch/add/"]


def test_every_admin_page_title_and_header_carry_the_name(admin_client, city_admin):
    pages = admin_pages(city_admin)
    assert len(pages) > 8  # the lists of every app, not only one
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert title_of(page).endswith(f"| {NAME}"), (url, title_of(page))
        assert f'<div id="site-name"><a href="/admin/">{NAME}</a></div>' in page, url
        assert not any(old in page for old in OLD_NAMES), url


def test_admin_titles_in_english_carry_the_english_name(admin_client, city_admin):
    for url in admin_pages(city_admin):
        page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert title_of(page).endswith(f"| {NAME_EN}"), (url, title_of(page))


def test_public_page_titles_and_brand_carry_the_name(client, city_admin):
    unknown = numbers.make(province_prefix="13", year=2001, serial=999_999)
    urls = ["/verify/", f"/verify/{unknown}/", "/accounts/login/", "/admin/login/"]
    for url in urls:
        page = client.get(url).content.decode()
        assert title_of(page).endswith(f"| {NAME}"), (url, title_of(page))
        assert not any(old in page for old in OLD_NAMES), url
    assert f'<a class="brand" href="/verify/">{NAME}</a>' in client.get("/verify/").content.decode()

    client.force_login(city_admin)  # not an inspector: the "not an inspector" page of /me/
    assert title_of(client.get("/me/").content.decode()).endswith(f"| {NAME}")

    english = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert title_of(english) == f"Enforcement certificate check | {NAME_EN}"


def test_favicon_answers_and_both_base_templates_link_it(client, admin_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302  # the hashed name changes with the file (config/urls.py)
    assert "max-age=86400" in response["Cache-Control"]
    assert response["Location"] == "/static/core/favicon.ico"

    ico = finders.find("core/favicon.ico")
    svg = finders.find("core/favicon.svg")
    assert ico and svg
    with open(ico, "rb") as f:
        assert f.read(4) == b"\x00\x00\x01\x00"  # an ICO file's header
    with open(svg, encoding="utf-8") as f:
        assert f.read().startswith("<svg ")

    links = [
        '<link rel="icon" href="/static/core/favicon.svg" type="image/svg+xml">',
        '<link rel="alternate icon" href="/static/core/favicon.ico" sizes="16x16 32x32">',
    ]
    for page in [client.get("/verify/"), client.get("/admin/login/"), admin_client.get("/admin/")]:
        html = page.content.decode()
        assert all(link in html for link in links)


def test_a_missing_page_carries_the_name_too(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert title_of(page) == f"页面没有找到 | {NAME}"
    assert "非常抱歉，请求的页面不存在。" in page

    english = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert title_of(english) == f"Page not found | {NAME_EN}"
    assert client.get("/api/v1/no-such-thing/").json()["code"] == "not_found"  # the API keeps its envelope
