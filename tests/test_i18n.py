"""English next to the default Simplified Chinese: the catalog is complete and compiled, and
the language a request asks for (Accept-Language, the language cookie, /i18n/setlang/) is
the one its labels, choices, API errors and admin pages come in."""

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
