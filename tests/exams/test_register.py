"""The public register (/register/, /register/changes/ and their API twins): who is listed,
what a row shows (and never shows), search and filters, pagination, hostile query strings
(4xx with a reason or an empty page, never 500), the verify rate limit, HEAD, and a bounded
number of statements."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exams import numbers, services
from exams.register import HOLDERS, PAGE_SIZE, register_page, register_query
from personnel.models import InspectorStatus, Sector
from tests.factories import InspectorFactory

PHONE = "13912345678"
ROW_FIELDS = {"name", "unit", "region", "sector", "sector_display", "number", "number_printed", "valid_until"}


@pytest.fixture
def admin(province_admin):
    return province_admin


@pytest.fixture
def people(regions, admin):
    """张 (长安, coal, valid), 李 (路南, chemicals, valid), 王 (桥西, suspended), 赵 (长安,
    revoked), 钱 (长安, returned on retirement), 孙 (桥西, valid but past its date)."""
    today = timezone.localdate()
    made = {}
    for key, name, region, sector in (
        ("zhang", "张晓明", "changan", Sector.COAL),
        ("li", "李建国", "lunan", Sector.HAZARDOUS_CHEMICALS),
        ("wang", "王秀英", "qiaoxi", Sector.COAL),
        ("zhao", "赵德胜", "changan", Sector.COAL),
        ("qian", "钱多多", "changan", Sector.COAL),
        ("sun", "孙悟空", "qiaoxi", Sector.COAL),
    ):
        person = InspectorFactory(name=name, region=regions[region], sector=sector, phone=PHONE)
        issued_on = today - dt.timedelta(days=2000 if key == "sun" else 30)
        cert = services.certificate_issue(holder=person, region=regions["sjz"], actor=admin, issued_on=issued_on)
        made[key] = cert
    services.certificate_suspend(certificate=made["wang"], reason="违规", actor=admin)
    services.certificate_revoke(certificate=made["zhao"], reason="出借执法证", actor=admin)
    holder = made["qian"].holder
    holder.status = InspectorStatus.RETIRED
    holder.save()
    services.certificate_return(certificate=made["qian"], reason="", actor=admin)
    for cert in made.values():
        cert.refresh_from_db()
    return made


def _get(client, path, **params):
    cache.clear()  # the verify limit is shared: each call here gets a fresh budget
    return client.get(path, params)


@pytest.mark.django_db
def test_the_register_lists_the_valid_holders_only(client, people):
    # when
    body = _get(client, "/api/v1/register/").json()

    # then: 张 and 李 (王 suspended, 赵 revoked, 钱 returned, 孙 past its date)
    assert [row["name"] for row in body["results"]] == ["张晓明", "李建国"]
    assert body["count"] == 2 and body["page"] == 1 and body["pages"] == 1
    row = body["results"][0]
    assert set(row) == ROW_FIELDS
    zhang = people["zhang"]
    assert row == {
        "name": "张晓明",
        "unit": "长安区应急管理局",  # no unit of his own: his region's enforcement body
        "region": "长安区",
        "sector": "coal",
        "sector_display": "煤矿",
        "number": zhang.number,
        "number_printed": f"冀应急执字第{zhang.number}号",
        "valid_until": zhang.valid_until.isoformat(),
    }


@pytest.mark.django_db
def test_the_page_shows_the_same_rows_and_no_id_number_nor_phone(client, people):
    # when
    response = _get(client, "/register/")

    # then
    text = response.content.decode()
    assert response.status_code == 200
    assert "张晓明" in text and "李建国" in text
    assert numbers.printed(people["zhang"].number) in text
    for absent in ("王秀英", "赵德胜", "钱多多", "孙悟空", PHONE):
        assert absent not in text
    for cert in people.values():
        national_id = cert.holder.national_id
        assert national_id not in text and national_id[-6:] not in text
    assert 'style="' not in text and "<script" not in text  # the strict CSP
    assert 'href="/verify/"' in text


@pytest.mark.django_db
def test_the_changes_list_issued_revoked_and_returned_in_the_last_90_days(client, people):
    # when
    body = _get(client, "/api/v1/register/changes/").json()

    # then: six issued, one revoked, one returned; no suspension; newest first
    changes = [(row["change"], row["name"]) for row in body["results"]]
    assert changes[:2] == [("returned", "钱多多"), ("revoked", "赵德胜")]
    assert sorted(changes[2:]) == sorted(("issued", p.holder.name) for p in people.values())
    assert body["results"][0]["change_display"] == "收回"
    assert body["results"][0]["date"] == timezone.localdate().isoformat()
    page = _get(client, "/register/changes/").content.decode()
    assert "吊销" in page and "赵德胜" in page and PHONE not in page


@pytest.mark.django_db
def test_an_older_change_is_not_listed(client, people):
    # given: 张's issue 91 days ago
    people["zhang"].events.update(at=timezone.now() - dt.timedelta(days=91))

    # when
    body = _get(client, "/api/v1/register/changes/").json()

    # then
    assert ("issued", "张晓明") not in [(r["change"], r["name"]) for r in body["results"]]
    assert body["count"] == 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"q": "张晓"}, ["张晓明"]),
        ({"q": "路南"}, ["李建国"]),  # the unit: his region's enforcement body
        ({"q": "路南区应急管理局"}, ["李建国"]),
        ({"q": "长安区应急"}, ["张晓明"]),
        ({"region": "130100"}, ["张晓明"]),  # a city: its counties
        ({"region": "130202"}, ["李建国"]),
        ({"sector": "hazardous_chemicals"}, ["李建国"]),
        ({"region": "130100", "sector": "hazardous_chemicals"}, []),
        ({"q": "没有这个人"}, []),
    ],
)
def test_search_and_filters(client, people, params, names):
    body = _get(client, "/api/v1/register/", **params).json()
    assert [row["name"] for row in body["results"]] == names


@pytest.mark.django_db
def test_an_inspector_s_own_unit_is_shown_and_searched(client, people):
    # given
    holder = people["li"].holder
    holder.unit = "唐山市路南区安全生产监察大队"
    holder.save()

    # when
    found = _get(client, "/api/v1/register/", q="监察大队").json()["results"]
    by_region = _get(client, "/api/v1/register/", q="路南区应急管理局").json()["results"]

    # then
    assert [(row["name"], row["unit"]) for row in found] == [("李建国", "唐山市路南区安全生产监察大队")]
    assert by_region == []
    assert "唐山市路南区安全生产监察大队" in _get(client, "/register/").content.decode()


@pytest.mark.django_db
def test_search_by_number_in_any_form_people_type(client, people):
    number = people["li"].number
    full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for typed in (number, numbers.printed(number), f"{number[:6]} {number[6:]}", full_width, number[:12]):
        body = _get(client, "/api/v1/register/", q=typed).json()
        assert [row["name"] for row in body["results"]] == ["李建国"], typed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"page": "999999999"},
        {"page": "99999999999999999999"},
        {"page": "٣"},
        {"page": "３"},
        {"page": "-1"},
        {"page": "0"},
        {"page": "1e3"},
        {"q": "张" * 10_000},
        {"q": "x" * 10_000},
        {"region": "٣٣٠١٠٠"},
        {"region": "999999"},
        {"region": "1" * 5000},
        {"sector": "<script>"},
        {"q": "\x00"},
        {"q": "%"},
        {"q": "_"},
    ],
)
def test_hostile_query_strings_answer_4xx_or_an_empty_page(client, people, params):
    for path in ("/register/", "/register/changes/", "/api/v1/register/", "/api/v1/register/changes/"):
        response = _get(client, path, **params)
        assert response.status_code in (200, 400, 404), (path, params, response.status_code)
        if response.status_code == 200:
            if path.startswith("/api/"):
                assert response.json()["results"] == [], (path, params)
        elif path.startswith("/api/"):
            body = response.json()
            assert body["code"] and body["detail"], body
        else:
            assert "<script>" not in response.content.decode()


@pytest.mark.django_db
def test_a_page_past_the_last_is_404_with_a_reason(client, people):
    response = _get(client, "/api/v1/register/", page="2")
    assert response.status_code == 404 and response.json()["detail"] == "没有这一页。"
    page = _get(client, "/register/", page="2")
    assert page.status_code == 404 and "没有这一页。" in page.content.decode()


@pytest.mark.django_db
def test_a_too_long_search_is_400_naming_the_field(client, people):
    response = _get(client, "/api/v1/register/", q="张" * 51)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"q"}


@pytest.mark.django_db
def test_pages_link_to_each_other_keeping_the_filters(client, regions, admin):
    # given: 45 valid holders in 长安
    for n in range(PAGE_SIZE * 2 + 5):
        person = InspectorFactory(name=f"执法员{n:03d}", region=regions["changan"])
        services.certificate_issue(holder=person, region=regions["sjz"], actor=admin)

    # when
    first = _get(client, "/api/v1/register/", region="130100").json()
    last = _get(client, "/api/v1/register/", region="130100", page="3").json()
    page = _get(client, "/register/", region="130100", page="2").content.decode()

    # then
    assert first["count"] == 45 and first["pages"] == 3 and len(first["results"]) == PAGE_SIZE
    assert first["next"].endswith("/api/v1/register/?region=130100&page=2") and first["previous"] is None
    assert len(last["results"]) == 5 and last["next"] is None
    assert last["previous"].endswith("/api/v1/register/?region=130100&page=2")
    assert 'href="/register/?region=130100&amp;page=3"' in page
    assert 'href="/register/?region=130100"' in page  # the first page
    assert "执法员020" in page and "执法员019" not in page


@pytest.mark.django_db
def test_statements_do_not_grow_with_the_page(regions, admin):
    def statements() -> int:
        query = register_query({})
        with CaptureQueriesContext(connection) as ctx:
            register_page(kind=HOLDERS, query=query, with_regions=True)
            register_page(kind="changes", query=query, with_regions=True)
        return len(ctx.captured_queries)

    person = InspectorFactory(region=regions["changan"])
    services.certificate_issue(holder=person, region=regions["sjz"], actor=admin)
    one = statements()
    for _ in range(PAGE_SIZE):
        services.certificate_issue(
            holder=InspectorFactory(region=regions["qiaoxi"]), region=regions["sjz"], actor=admin
        )
    assert statements() == one <= 6


@pytest.mark.django_db
def test_the_verify_limit_counts_the_register_too(client, people):
    cache.clear()
    with override_settings(VERIFY_RATE="3/min"):
        statuses = [client.get(path).status_code for path in ("/register/", "/api/v1/register/", "/verify/x/")]
        page = client.get("/register/")
        api = client.get("/api/v1/register/changes/")
    assert statuses == [200, 200, 404]
    assert page.status_code == 429 and page["Retry-After"] and "查询过于频繁" in page.content.decode()
    assert api.status_code == 429 and api.json()["code"]


@pytest.mark.django_db
def test_head_is_answered_like_get_without_a_body(people):
    client = Client()
    for path in ("/register/", "/register/changes/", "/api/v1/register/", "/api/v1/register/changes/"):
        cache.clear()
        response = client.head(path)
        assert response.status_code == 200 and response.content == b"", path
        cache.clear()
        assert client.post(path).status_code in (403, 405), path


@pytest.mark.django_db
def test_the_verify_page_links_to_the_register(client, people):
    assert 'href="/register/"' in _get(client, "/verify/").content.decode()
    assert 'href="/register/"' in _get(client, f"/verify/{people['zhang'].number}/").content.decode()


@pytest.mark.django_db
def test_the_schema_documents_both_operations_as_public():
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/schema/?format=json").json()
    for path in ("/api/v1/register/", "/api/v1/register/changes/"):
        operation = schema["paths"][path]["get"]
        assert operation["security"] == []
        assert {"200", "400", "404", "429"} <= set(operation["responses"])
        assert {p["name"] for p in operation["parameters"]} == {"q", "region", "sector", "page"}


@pytest.mark.django_db
def test_past_the_deepest_page_the_visitor_is_asked_to_narrow_the_search(client, people, monkeypatch):
    # given: a register of more pages than are shown
    from exams import register

    monkeypatch.setattr(register, "PAGE_SIZE", 1)
    monkeypatch.setattr(register, "MAX_PAGE", 1)

    # when
    first = _get(client, "/api/v1/register/").json()
    deeper = _get(client, "/api/v1/register/", page="2")
    page = _get(client, "/register/", page="2")

    # then: the first page says there is one page, and no next one
    assert first["count"] == 2 and first["pages"] == 1 and first["next"] is None
    assert deeper.status_code == 400 and set(deeper.json()["fields"]) == {"page"}
    assert page.status_code == 400 and "缩小查询范围" in page.content.decode()


@pytest.mark.django_db
def test_a_number_shaped_search_looks_at_numbers_only(client, people):
    number = people["zhang"].number
    body = _get(client, "/api/v1/register/", q=number[:6]).json()
    assert {row["number"][:6] for row in body["results"]} == {number[:6]}
