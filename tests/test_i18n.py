"""English next to the default Simplified Chinese: the catalog is complete and compiled, and
the language a request asks for (Accept-Language, the language cookie, /i18n/setlang/) is
the one its labels, choices, API errors, admin pages and page templates come in."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from personnel.models import Inspector, Sector
from tests.factories import InspectorFactory

CATALOG = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w*\}|%[sdif]")


# --- the catalog ---------------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: flags, msgctxt, msgid, msgid_plural, msgstr / msgstr[n]."""
    entries, entry, field = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry, field = None, None
            continue
        if line.startswith("#~"):  # an obsolete entry: not in the catalog
            continue
        if entry is None:
            entry = {"flags": set(), "msgctxt": None, "msgid_plural": None, "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if isinstance(field, int):
                entry["msgstr"][field] += value
            else:
                entry[field] += value
        else:
            keyword, value = line.split(" ", 1)
            value = ast.literal_eval(value)
            if keyword.startswith("msgstr["):
                field = int(keyword[len("msgstr[") : -1])
                entry["msgstr"][field] = value
            elif keyword == "msgstr":
                field = 0
                entry["msgstr"][0] = value
            else:
                field = keyword
                entry[keyword] = value
    return entries


@pytest.fixture(scope="module")
def po_entries():
    entries = read_po(CATALOG / "django.po")
    assert entries[0]["msgid"] == "", "the catalog starts with its header"
    return entries


def test_catalog_header_is_english_and_not_fuzzy(po_entries):
    header = po_entries[0]
    assert "fuzzy" not in header["flags"]
    assert "Language: en\n" in header["msgstr"][0]
    assert "charset=UTF-8" in header["msgstr"][0]


def test_every_entry_is_translated_and_none_is_fuzzy(po_entries):
    messages = po_entries[1:]
    assert len(messages) > 400
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in messages if not all(e["msgstr"].values())]
    assert fuzzy == []
    assert untranslated == []
    plural = [e for e in messages if e["msgid_plural"] is not None]
    assert all(sorted(e["msgstr"]) == [0, 1] for e in plural)


def test_translations_keep_their_placeholders(po_entries):
    wrong = []
    for entry in po_entries[1:]:
        expected = set(PLACEHOLDER.findall(entry["msgid"]))
        for msgstr in entry["msgstr"].values():
            if set(PLACEHOLDER.findall(msgstr)) != expected:
                wrong.append((entry["msgid"], msgstr))
    assert wrong == []


def test_the_committed_mo_matches_the_po(po_entries):
    """Run `manage.py compilemessages -l en --ignore=.venv` after editing the .po."""
    with open(CATALOG / "django.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for entry in po_entries[1:]:
        ctx, msgid, plural = entry["msgctxt"], entry["msgid"], entry["msgid_plural"]
        if plural is not None:
            got = [compiled.ngettext(msgid, plural, 1), compiled.ngettext(msgid, plural, 2)]
            want = [entry["msgstr"][0], entry["msgstr"][1]]
        elif ctx is not None:
            got, want = compiled.pgettext(ctx, msgid), entry["msgstr"][0]
        else:
            got, want = compiled.gettext(msgid), entry["msgstr"][0]
        if got != want:
            stale.append(msgid)
    assert stale == []


# --- the running application ---------------------------------------------------------------


def test_model_names_and_choices_follow_the_active_language():
    with translation.override("en"):
        assert str(Inspector._meta.verbose_name) == "enforcement inspector"
        assert str(Sector.NON_COAL_MINE.label) == "Non-coal mines"
        assert str(Sector.HAZARDOUS_CHEMICALS.label) == "Hazardous chemicals"
    with translation.override("zh-hans"):
        assert str(Inspector._meta.verbose_name) == "执法人员"
        assert str(Sector.NON_COAL_MINE.label) == "非煤矿山"


def test_a_formatted_message_keeps_its_values_in_english():
    with translation.override("en"):
        assert translation.gettext("%(n)s 已用完 %(m)d 次考试机会。") % {"n": "张三", "m": 3} == (
            "张三 has used up all 3 attempts."
        )
        assert translation.pgettext("certificate action", "暂扣") == "Suspend"
        assert translation.gettext("暂扣") == "Suspended"


@pytest.fixture
def coal_inspector(regions):
    return InspectorFactory(region=regions["changan"], name="长安甲", sector=Sector.COAL)


def test_api_labels_and_errors_in_english_on_accept_language(client_for, province_admin, coal_inspector):
    client = client_for(province_admin)
    row = client.get(f"/api/v1/inspectors/{coal_inspector.pk}/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").json()
    assert row["sector_display"] == "Coal mines"

    bad = {"name": "新人", "national_id": "123", "region": "130102", "sector": "coal"}
    response = client.post("/api/v1/inspectors/", bad, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["detail"] == "The inspector data is invalid."
    assert response.json()["fields"] == {"national_id": ["The ID card number must have 18 characters, not 3"]}
    assert response["Content-Language"] == "en"

    unknown_sector = client.post(
        "/api/v1/inspectors/", {**bad, "sector": "x"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert unknown_sector["detail"] == "The submitted data is invalid."
    assert unknown_sector["fields"] == {"sector": ['"x" is not a valid choice.']}


def test_api_stays_chinese_without_accept_language(client_for, province_admin, coal_inspector):
    client = client_for(province_admin)
    row = client.get(f"/api/v1/inspectors/{coal_inspector.pk}/").json()
    assert row["sector_display"] == "煤矿"

    bad = {"name": "新人", "national_id": "123", "region": "130102", "sector": "coal"}
    response = client.post("/api/v1/inspectors/", bad, format="json")
    assert response.json()["detail"] == "人员信息有误。"
    assert response.json()["fields"] == {"national_id": ["身份证号应为18位，实际为3位"]}
    assert response["Content-Language"] == "zh-hans"


def test_drf_own_errors_follow_accept_language(api_client):
    english = api_client.get("/api/v1/inspectors/", HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = api_client.get("/api/v1/inspectors/").json()
    assert english["detail"] == "Authentication credentials were not provided."
    assert chinese["detail"] != english["detail"]


@pytest.fixture
def browser(city_admin, coal_inspector):
    client = Client()
    client.force_login(city_admin)
    return client


def test_admin_page_in_english_on_accept_language(browser):
    page = browser.get("/admin/personnel/inspector/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in page
    assert "Select enforcement inspector to change" in page
    assert "Enforcement Inspector Training and Certification" in page
    assert "Coal mines" in page


def test_admin_page_in_chinese_by_default(browser):
    page = browser.get("/admin/personnel/inspector/").content.decode()
    assert '<html lang="zh-hans"' in page
    assert "执法人员培训与持证管理" in page
    assert "Select enforcement inspector" not in page


def test_set_language_switches_later_pages_to_english(browser):
    response = browser.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert response.status_code == 302
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    page = browser.get("/admin/personnel/inspector/").content.decode()
    assert '<html lang="en"' in page
    assert "Enforcement inspector" in page

    browser.post("/i18n/setlang/", {"language": "zh-hans", "next": "/admin/"})
    page = browser.get("/admin/personnel/inspector/").content.decode()
    assert '<html lang="zh-hans"' in page


SWITCH_FORM = re.compile(r'<form id="language-switch"[^>]*>(.*?)</form>', re.S)


def language_switch(page: str) -> dict:
    """The header's language switch: where it posts, its hidden fields and its buttons."""
    form = SWITCH_FORM.search(page)
    assert form, "the page has a language switch"
    tag = form.group(0)
    return {
        "action": re.search(r'action="([^"]*)"', tag).group(1),
        "method": re.search(r'method="([^"]*)"', tag).group(1),
        "hidden": dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(1))),
        "buttons": re.findall(
            r'<button type="submit" name="language" value="([^"]+)"[^>]*aria-pressed="(\w+)"[^>]*>([^<]+)</button>',
            form.group(1),
        ),
    }


def test_admin_header_switches_the_language_and_comes_back(city_admin):
    # enforce_csrf_checks: the switch must carry its token as a browser's post does
    client = Client(enforce_csrf_checks=True)
    client.force_login(city_admin)
    page = client.get("/admin/personnel/inspector/?q=1").content.decode()
    switch = language_switch(page)
    assert (switch["action"], switch["method"]) == ("/i18n/setlang/", "post")
    assert switch["hidden"]["next"] == "/admin/personnel/inspector/?q=1"
    assert switch["buttons"] == [("zh-hans", "true", "简体中文"), ("en", "false", "English")]
    assert "Log out" not in page

    response = client.post(
        switch["action"],
        {
            "language": "en",
            "next": switch["hidden"]["next"],
            "csrfmiddlewaretoken": switch["hidden"]["csrfmiddlewaretoken"],
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/personnel/inspector/?q=1"

    english = client.get(response["Location"]).content.decode()
    assert '<html lang="en"' in english
    assert "Log out" in english
    assert "Select enforcement inspector to change" in english
    assert language_switch(english)["buttons"] == [("zh-hans", "false", "简体中文"), ("en", "true", "English")]
    index = client.get("/admin/").content.decode()
    assert "Site administration" in index or "Administration home" in index


def test_admin_login_page_has_the_language_switch(client, db):
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert language_switch(page)["hidden"]["next"] == "/admin/login/?next=/admin/"
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/login/"})
    assert "Log in" in client.get("/admin/login/").content.decode()


def test_public_pages_switch_the_language_too(client, city_admin):
    # the login page and, signed in, every page (here /me/) carry the switch
    switch = language_switch(client.get("/accounts/login/").content.decode())
    assert switch["hidden"]["next"] == "/accounts/login/"
    response = client.post(switch["action"], {"language": "en", "next": switch["hidden"]["next"]})
    assert response["Location"] == "/accounts/login/"
    english = client.get("/accounts/login/").content.decode()
    assert '<html lang="en"' in english
    assert chinese_left(english) == []

    client.force_login(city_admin)
    switch = language_switch(client.get("/me/").content.decode())
    assert switch["hidden"]["next"] == "/me/"
    assert switch["buttons"] == [("zh-hans", "false", "简体中文"), ("en", "true", "English")]


def test_verify_pages_carry_no_switch(client, db):
    # an anonymous verify page is the same bytes for every number asked (no token, no path)
    for url in ["/verify/", "/verify/1320010999999/"]:
        assert 'id="language-switch"' not in client.get(url).content.decode()


# --- the page templates ---------------------------------------------------------------------

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
SWITCH_CHINESE = re.compile(r'<button[^>]*lang="zh-hans"[^>]*>简体中文</button>')


def chinese_left(html: str) -> list[str]:
    """Chinese characters on an English page, except the language switch's 简体中文: each
    language is offered by its own name, so that a reader finds theirs on any page."""
    return CJK.findall(SWITCH_CHINESE.sub("", html))


def text_of(html: str) -> str:
    """What a reader sees: the page without its tags, scripts, styles and inline SVG."""
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_verify_form_in_english_on_accept_language(client, db):
    page = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in page
    assert "<title>Enforcement certificate check | Enforcement Inspector Training and Certification</title>" in page
    assert "Enter the number printed on the certificate (13 digits, e.g. 1320250001237)" in page
    assert 'placeholder="Enter the certificate number"' in page
    assert ">Log in</a>" in page
    assert chinese_left(page) == []


def test_verify_not_found_in_english_on_accept_language(client, db):
    from exams import numbers

    unknown = numbers.make(province_prefix="13", year=2001, serial=999_999)
    response = client.get(f"/verify/{unknown}/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 404
    assert '<html lang="en"' in page
    assert "<h1>Certificate number not found</h1>" in page
    assert "No enforcement certificate matches this number." in page
    assert chinese_left(page) == []


def test_verify_pages_stay_chinese_by_default(client, db):
    from exams import numbers

    form = client.get("/verify/").content.decode()
    assert '<html lang="zh-hans"' in form
    assert "<h1>行政执法证核验</h1>" in form
    assert 'placeholder="请输入证号"' in form
    assert "Enter the number" not in form

    unknown = numbers.make(province_prefix="13", year=2001, serial=999_999)
    not_found = client.get(f"/verify/{unknown}/").content.decode()
    assert '<html lang="zh-hans"' in not_found
    assert "<h1>未找到该证号</h1>" in not_found
    assert "没有查到与该证号对应的行政执法证。" in not_found


def test_login_page_follows_the_language_cookie(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get("/accounts/login/").content.decode()
    assert '<html lang="en"' in english
    assert '<label for="id_username">Username</label>' in english
    assert '<label for="id_password">Password</label>' in english
    assert '<button type="submit">Log in</button>' in english
    assert chinese_left(english) == []

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = client.get("/accounts/login/").content.decode()
    assert '<html lang="zh-hans"' in chinese
    assert '<label for="id_username">用户名</label>' in chinese
    assert "执法人员登录后可查看本人证件、学时、培训安排与考试成绩。" in chinese


@pytest.fixture
def my_page(client, inspector_user, regions):
    """/me/ of an inspector holding a certificate valid for another 400 days, with an exam sat."""
    import datetime as dt

    from django.utils import timezone

    from exams import services

    today = timezone.localdate()
    until = today + dt.timedelta(days=400)
    if (until.month, until.day) == (2, 29):
        until -= dt.timedelta(days=1)
    services.certificate_issue(
        holder=inspector_user.inspector,
        region=regions["sjz"],
        actor=None,
        issued_on=until.replace(year=until.year - settings.CERTIFICATE_VALIDITY_YEARS),
    )
    client.force_login(inspector_user)

    def get(**headers):
        response = client.get("/me/", **headers)
        assert response.status_code == 200
        return response.content.decode()

    get.valid_until = until
    return get


def test_my_page_in_english_on_accept_language(my_page):
    page = my_page(HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en"' in page
    assert "<title>My certificate and training | Enforcement Inspector Training and Certification</title>" in page
    assert "<h1>Hello, 张三</h1>" in page  # the name is data, not text to translate
    assert "<h2>Enforcement certificate</h2>" in page
    assert "<dt>Valid until</dt>" in page
    assert f"<dd>{my_page.valid_until:%B} {my_page.valid_until.day}, {my_page.valid_until.year}</dd>" in page
    assert "400 day(s) until expiry" in page
    assert "Subscribe to the training calendar" in page
    assert "No exam results yet." in page
    for chinese in ("您好", "行政执法证", "有效期至", "年度学时", "培训安排", "考试成绩", "订阅培训日历", "年"):
        assert chinese not in text_of(page), chinese


def test_my_page_stays_chinese_by_default(my_page):
    page = my_page()
    assert '<html lang="zh-hans"' in page
    assert "<h1>张三，您好</h1>" in page
    assert "<h2>行政执法证</h2>" in page
    valid_until = my_page.valid_until
    assert f"<dd>{valid_until.year}年{valid_until.month}月{valid_until.day}日</dd>" in page
    assert "订阅培训日历" in page
    assert "暂无考试成绩。" in page
    assert "Subscribe" not in page


def test_admin_overview_in_english_on_accept_language(browser):
    page = browser.get("/admin/overview/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in page
    assert "Statistics overview" in page
    assert "<summary>All figures</summary>" in page
    assert "<h2>By sector</h2>" in page
    assert "Training hours requirement by region" in page
    assert "Current and upcoming training batches (0 in total)" in page
    # the figures' names and the charts' titles too (the workbooks keep them in Chinese)
    assert "Person-times trained" in page and "Hours compliance rate" in page
    assert "Completion rate and hours compliance by region" in page
    for chinese in (
        "统计概览",
        "全部指标",
        "分行业",
        "各地区学时达标情况",
        "即将开始的培训批次",
        "培训人次",
        "学时达标率",
        "各地区结业率与学时达标率",
    ):
        assert chinese not in text_of(page), chinese


def test_admin_overview_stays_chinese_by_default(browser):
    page = browser.get("/admin/overview/").content.decode()
    assert '<html lang="zh-hans"' in page
    assert "统计概览" in page
    assert "<summary>全部指标</summary>" in page
    assert "即将开始的培训批次（共 0 期）" in page
    assert "培训人次" in page and "各地区结业率与学时达标率" in page
    assert "Statistics overview" not in page and "Person-times trained" not in page
