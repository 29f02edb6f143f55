"""Every figure that appears on more than one surface, read from each surface of one world
and compared: the yearly workbook and the roster export (read back with openpyxl), the
overview page, the hours, hours summary and coverage API, the inspector's ``/api/v1/me/``
and the annual review. Each must agree with the others and with the count made by hand
below (docs/definitions.md).

The world, year Y = this year (``/me/`` shows this year's hours), built through the services:

- b1 province, the three-systems course (16 h), March: A B C D E enrolled; B misses a day
  (no-show), the rest complete. Its exam sits twice: in the first sitting A passes, C fails,
  D is absent; in the second (the resit) C passes and D fails;
- b2 石家庄, the sector course (24 h), one seat: A completes;
- b3 唐山, the sector course: E enrolls and cancels, G completes;
- b4 province, the three-systems course across New Year (Y-12-30 .. Y+1-01-02): C and F
  complete, 16 h each, counted in Y; F sits its exam on 2 January (C passed it already);
- b5 province, the sector course in late December (two seats), not finished: E and G
  enrolled, B waitlisted (a waitlisted enrollment is no person-time);
- the qualification exam in October (no batch): E passes (a certificate), G is absent;
- required hours in Y: the province 32, 路南区 (the county with few people: E and G) 16;
- certificates reviewed for Y: A, B, E (from the exam) and F.

By hand, the province in Y: 11 person-times (b1 5, b2 1, b3 1, b4 2, b5 2), 7 persons,
8 completions, 1 no-show, completion rate 8/11; 5 batches; 144 hours (A 40, C 32, G 24, D E F
16, B 0); hours met by A (40/32), C (32/32), E (16/16), G (24/16): 4 of 7; exams: 4 sittings,
5 candidates who sat (A C D on the course exam, F on it too, E on the qualification exam),
1 absent (G), 4 passed (A, C by the resit, F, E), pass rate 4/5.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from exams import services as exams
from exams.models import AnnualReview, Certificate, ExamKind
from personnel.models import Region, Sector
from reports import figures, services, xlsx
from tests.factories import InspectorFactory, UserFactory
from tests.reports.conftest import _batch, _run, _score, open_book, table
from training import services as training
from training.models import Topic

HOURS = "/api/v1/hours/"
COVERAGE = "/api/v1/coverage/"
ME = "/api/v1/me/"


def this_year() -> int:
    return timezone.localdate().year


@pytest.fixture
def world(regions, province_admin):
    """The world of the module docstring."""
    Y = this_year()
    r, actor = regions, province_admin
    people = {
        "A": InspectorFactory(name="甲一", region=r["changan"], sector=Sector.COAL),
        "B": InspectorFactory(name="乙二", region=r["changan"], sector=Sector.COAL),
        "C": InspectorFactory(
            name="丙三", region=r["qiaoxi"], sector=Sector.COAL, user=UserFactory(username="agreement_c")
        ),
        "D": InspectorFactory(name="丁四", region=r["qiaoxi"], sector=Sector.HAZARDOUS_CHEMICALS),
        "E": InspectorFactory(name="戊五", region=r["lunan"], sector=Sector.COAL),
        "F": InspectorFactory(name="己六", region=r["ts"], sector=Sector.INDUSTRY_TRADE),
        "G": InspectorFactory(name="庚七", region=r["lunan"], sector=Sector.COAL),
    }
    A, B, C, D, E, F, G = (people[k] for k in "ABCDEFG")
    special = training.course_save(
        actor=actor,
        data={
            "code": "AG-SZ",
            "title": "三项制度专题培训",
            "topics": [Topic.PUBLICITY, Topic.PROCESS_RECORDING, Topic.LEGAL_REVIEW],
            "hours": Decimal("16"),
        },
    )
    sector_course = training.course_save(
        actor=actor,
        data={"code": "AG-HY", "title": "执法业务培训", "topics": [Topic.OTHER], "hours": Decimal("24")},
    )
    course_exam = exams.exam_create(
        actor=actor,
        title="三项制度结业考试",
        kind=ExamKind.COURSE,
        region=r["province"],
        parts=[("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))],
        course=special,
    )
    qualification = exams.exam_create(
        actor=actor,
        title="行政执法资格考试",
        kind=ExamKind.QUALIFICATION,
        region=r["province"],
        parts=[("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))],
    )
    training.hours_policy_set(actor=actor, region=r["province"], year=Y, required_hours=Decimal("32"))
    training.hours_policy_set(actor=actor, region=r["lunan"], year=Y, required_hours=Decimal("16"))

    b1 = _batch(actor, special, r["province"], dt.date(Y, 3, 2), 3)
    _run(actor, b1, [A, B, C, D, E], absent_day2=[B])
    s1 = exams.sitting_create(actor=actor, exam=course_exam, held_on=dt.date(Y, 3, 5), batch=b1)
    _score(s1, A, actor, 30, 50)
    _score(s1, C, actor, 20, 20)
    _score(s1, D, actor, 0, 0, absent=True)
    s2 = exams.sitting_create(actor=actor, exam=course_exam, held_on=dt.date(Y, 4, 10), batch=b1)
    _score(s2, C, actor, 30, 40)
    _score(s2, D, actor, 10, 20)

    b2 = _batch(actor, sector_course, r["sjz"], dt.date(Y, 6, 1), 2, capacity=1, sector=Sector.COAL)
    _run(actor, b2, [A])

    b3 = _batch(actor, sector_course, r["ts"], dt.date(Y, 9, 1), 2)
    before = b3.starts_on - dt.timedelta(days=10)
    e_seat = training.enrollment_create(batch=b3, inspector=E, actor=actor, today=before)
    training.enrollment_create(batch=b3, inspector=G, actor=actor, today=before)
    training.enrollment_cancel(enrollment=e_seat, actor=actor, reason="工作冲突")
    for n in range(b3.days):
        training.attendance_mark(batch=b3, actor=actor, day=b3.starts_on + dt.timedelta(days=n), all_present=True)
    training.batch_complete(batch=b3, actor=actor, today=b3.ends_on)

    b4 = _batch(actor, special, r["province"], dt.date(Y, 12, 30), 4)
    _run(actor, b4, [C, F])
    s4 = exams.sitting_create(actor=actor, exam=course_exam, held_on=dt.date(Y + 1, 1, 2), batch=b4)
    _score(s4, F, actor, 30, 45)

    b5 = _batch(actor, sector_course, r["province"], dt.date(Y, 12, 14), 3, capacity=2)
    for person in (E, G, B):  # B is third: waitlisted
        training.enrollment_create(batch=b5, inspector=person, actor=actor, today=b5.starts_on - dt.timedelta(days=10))

    q = exams.sitting_create(actor=actor, exam=qualification, held_on=dt.date(Y, 10, 10))
    _score(q, E, actor, 35, 45)  # passes: a certificate
    _score(q, G, actor, 0, 0, absent=True)
    for holder in (A, B, F):
        exams.certificate_issue(holder=holder, region=holder.region, actor=actor, issued_on=dt.date(Y - 1, 5, 1))
    return {"year": Y, "people": people, "batches": {"b1": b1, "b2": b2, "b3": b3, "b4": b4, "b5": b5}}


# --- what the world holds, counted by hand (the module docstring) ------------------------------------

HOURS_BY_HAND = {"A": 40, "B": 0, "C": 32, "D": 16, "E": 16, "F": 16, "G": 24}
REQUIRED_BY_HAND = {"A": 32, "B": 32, "C": 32, "D": 32, "E": 16, "F": 32, "G": 16}
MET_BY_HAND = {"A", "C", "E", "G"}
PROVINCE_BY_HAND = {
    "person_times": 11,
    "persons": 7,
    "completions": 8,
    "no_shows": 1,
    "completion_rate": round(8 / 11, 4),
    "batches": 5,
    "hours": 144,
    "inspectors": 7,
    "hours_met": 4,
    "hours_met_rate": round(4 / 7, 4),
    "sittings": 4,
    "candidates": 5,
    "absences": 1,
    "passes": 4,
    "pass_rate": 0.8,
}
# 路南区, the county with few people: E (b1 completed, b3 cancelled, b5 enrolled), G (b3
# completed, b5 enrolled): 4 person-times, 2 completions: 50 %, not the 100 % of
# completions / (completions + no-shows).
LUNAN_BY_HAND = {
    "person_times": 4,
    "persons": 2,
    "completions": 2,
    "no_shows": 0,
    "completion_rate": 0.5,
    "hours": 40,
    "inspectors": 2,
    "hours_met": 2,
}
# 分批次: (报名人次, 结业, 缺席, 候补, 参考人次, 考试合格率); b1's exam counts C and D once each
# (the resit sitting is the same candidates), C by the resit they passed, D by the resit they failed.
BATCHES_BY_HAND = {
    "b1": (5, 4, 1, 0, 3, round(2 / 3, 4)),
    "b2": (1, 1, 0, 0, 0, None),
    "b3": (1, 1, 0, 0, 0, None),
    "b4": (2, 2, 0, 0, 1, 1.0),
    "b5": (2, 0, 0, 1, 0, None),
}
# Coverage of the three systems in Y (the special course completed in a Y batch), active
# inspectors per sector: coal A B C E G (A C E), chemicals D (D), industry and trade F (F,
# by the batch across New Year).
COVERAGE_BY_HAND = {
    Sector.COAL: (5, 3),
    Sector.NON_COAL_MINE: (0, 0),
    Sector.HAZARDOUS_CHEMICALS: (1, 1),
    Sector.INDUSTRY_TRADE: (1, 1),
}


# --- reading each surface ------------------------------------------------------------------------------


def workbook(tmp_path, *, year: int, code: str = "130000", actor=None):
    path = tmp_path / f"book-{code}.xlsx"
    scope = figures.Scope(region=Region.objects.get(code=code), year=year)
    xlsx.yearly_workbook(str(path), scope=scope, actor=actor)
    return open_book(path)


def by_label(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def overview(user, year: int, code: str = "130000"):
    client = Client()
    client.force_login(user)
    response = client.get("/admin/overview/", {"year": year, "region": code})
    assert response.status_code == 200
    return response.context


def api(client, url: str, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def every_page(client, url: str, **params) -> list[dict]:
    rows, body = [], api(client, url, **params)
    rows += body["results"]
    while body["next"]:
        body = client.get(body["next"]).json()
        rows += body["results"]
    return rows


def pct(value) -> float | None:
    """A rate as the API shows it (a percentage to one place) from a fraction."""
    return None if value is None else round(value * 100, 1)


# --- the test ---------------------------------------------------------------------------------------------


def test_every_shared_figure_agrees_on_every_surface(tmp_path, world, province_admin, client_for):
    # given: the world of the module docstring, year Y
    Y, people = world["year"], world["people"]
    name_of = {key: person.name for key, person in people.items()}

    # when: every surface is read
    book = workbook(tmp_path, year=Y, actor=province_admin)
    sheet = {row["指标"]: row[f"{Y}年"] for row in table(book["汇总"], "指标")}
    workbook_summary = {key: sheet[figures.LABELS[key]] for key in PROVINCE_BY_HAND}
    regions_sheet = by_label(table(book["分地区"], "排名"), "地区")
    sectors_sheet = by_label(table(book["分行业"], "行业"), "行业")
    hours_sheet = by_label(table(book["学时达标"], "姓名"), "姓名")
    batch_sheet = {(row["批次"], row["组织单位"]): row for row in table(book["分批次"], "批次")}
    roster_path = tmp_path / "roster.xlsx"
    xlsx.roster_workbook(str(roster_path), scope=figures.Scope(region=Region.objects.get(code="130000"), year=Y))
    roster = by_label(table(open_book(roster_path)["名册"], "姓名"), "姓名")

    # (the page reads the stored figures, refreshed as the beat does: reports.services)
    for year in (Y, Y - 1):
        services.overview_figures_refresh(year=year)
    page = overview(province_admin, Y)
    assert page["figures_stale"] is False and page["computed_at"]
    page_summary = {row["key"]: row["current"] for row in page["summary"]}
    page_cities = {row["name"]: row for row in page["cities"]}

    client = client_for(province_admin)
    hours_rows = by_label(every_page(client, HOURS, year=Y), "name")
    met_rows = {row["name"] for row in every_page(client, HOURS, year=Y, met="true")}
    summary_api = api(client, f"{HOURS}summary/", year=Y)
    lunan_api = api(client, f"{HOURS}summary/", year=Y, region="130202")
    coverage_api = by_label(api(client, COVERAGE, year=Y), "sector")
    missing_api = {row["name"] for row in every_page(client, f"{COVERAGE}missing/", year=Y, topic="publicity")}

    me = api(client_for(people["C"].user), ME)["hours"]

    reviews = {}
    for key in "ABEF":
        certificate = Certificate.objects.get(holder=people[key])
        reviews[key] = exams.certificate_review(certificate=certificate, year=Y, actor=province_admin)

    # then: the yearly totals, workbook and overview page, equal the count by hand
    for key, want in PROVINCE_BY_HAND.items():
        shown = round(want, 3) if figures.KINDS[key] == "pct" else want  # a rate stored as its 0.0% shows
        assert workbook_summary[key] == pytest.approx(shown, abs=1e-9), key
        assert page_summary[key] == pytest.approx(want, abs=1e-4), key

    # the hours summary API says the same as the workbook and the page
    assert summary_api["inspectors"] == workbook_summary["inspectors"] == 7
    assert summary_api["met"] == workbook_summary["hours_met"] == 4
    assert summary_api["met_rate"] == pct(workbook_summary["hours_met_rate"]) == 57.1
    assert Decimal(summary_api["hours_delivered"]) == Decimal(workbook_summary["hours"]) == Decimal("144")

    # the county with few people, on the 分地区 sheet and in the API
    lunan = regions_sheet["路南区"]
    for key, want in LUNAN_BY_HAND.items():
        shown = round(want, 3) if figures.KINDS[key] == "pct" else want
        assert lunan[figures.LABELS[key]] == pytest.approx(shown, abs=1e-9), key
    assert (lunan_api["inspectors"], lunan_api["met"]) == (lunan["在岗执法人员"], lunan["学时达标人数"])
    assert Decimal(lunan_api["hours_delivered"]) == Decimal(lunan["累计学时"])

    # the cities, on the 分地区 sheet and the overview page
    for city in ("石家庄市", "唐山市"):
        row, shown = regions_sheet[city], page_cities[city]
        assert shown["completion_rate"] == f"{row['结业率']:.1%}", city
        assert shown["hours_met_rate"] == f"{row['学时达标率']:.1%}", city
        assert (shown["inspectors"], shown["hours_met"]) == (row["在岗执法人员"], row["学时达标人数"]), city
        assert shown["hours"] == f"{row['累计学时']:,.1f}", city

    # each inspector's hours, required hours and 达标: 学时达标 sheet, roster export, hours
    # API, met filter, /me/ (C) and the annual review (A, B, E, F)
    for key, name in name_of.items():
        sheet_row, api_row = hours_sheet[name], hours_rows[name]
        assert sheet_row[f"{Y}年学时"] == float(Decimal(api_row["hours"])) == HOURS_BY_HAND[key], name
        assert sheet_row["应修学时"] == float(Decimal(api_row["required"])) == REQUIRED_BY_HAND[key], name
        assert (roster[name][f"{Y}年学时"], roster[name]["应修学时"]) == (
            sheet_row[f"{Y}年学时"],
            sheet_row["应修学时"],
        )
        assert (sheet_row["是否达标"] == "达标") is api_row["met"] is (key in MET_BY_HAND), name
        assert (name in met_rows) is (key in MET_BY_HAND), name
    assert (Decimal(me["hours"]), Decimal(me["required"]), me["met"], me["year"]) == (
        Decimal(hours_rows[name_of["C"]]["hours"]),
        Decimal(hours_rows[name_of["C"]]["required"]),
        hours_rows[name_of["C"]]["met"],
        Y,
    )
    for key, review in reviews.items():
        api_row = hours_rows[name_of[key]]
        assert (review.hours, review.required_hours) == (Decimal(api_row["hours"]), Decimal(api_row["required"])), key
        assert review.passed is api_row["met"] is (key in MET_BY_HAND), key
    assert AnnualReview.objects.filter(year=Y).count() == 4

    # coverage of the three systems: the 分行业 sheet, the coverage API, and who is missing
    for sector, (inspectors, covered) in COVERAGE_BY_HAND.items():
        label, api_row = str(sector.label), coverage_api[sector.value]
        assert (api_row["inspectors"], api_row["all_three"]) == (inspectors, covered), sector
        assert sectors_sheet[label]["三项全部·已培训人数"] == covered, sector
        assert sectors_sheet[label]["在岗执法人员"] == inspectors, sector
        assert pct(sectors_sheet[label]["三项全部·覆盖率"]) == api_row["all_three_rate"], sector
    assert missing_api == {name_of["B"], name_of["G"]}

    # the 分批次 sheet, batch by batch; its candidates add up to the 汇总's with the
    # qualification exam's one (E)
    for key, want in BATCHES_BY_HAND.items():
        batch = world["batches"][key]
        row = batch_sheet[(str(batch.label), batch.region.name)]
        got = (row["报名人次"], row["结业"], row["缺席"], row["候补"], row["参考人次"], row["考试合格率"])
        assert got[:5] == want[:5], key
        assert got[5] == (None if want[5] is None else round(want[5], 3)), key
    assert sum(row["参考人次"] for row in batch_sheet.values()) + 1 == workbook_summary["candidates"]
    assert sum(row["报名人次"] for row in batch_sheet.values()) == workbook_summary["person_times"]
