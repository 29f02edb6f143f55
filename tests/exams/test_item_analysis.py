"""试题分析 (exams.item_analysis, exams.admin_analysis): the figures on a paper small enough to
count by hand, the same figures in the admin page and in the xlsx, a fixed number of queries,
and who may see them.

The world: 石家庄's online exam (通用法律知识 40 + 专门法律知识 60, pass mark 60). Five
candidates submitted in the sitting; each paper has q1 (single, 20), q2 (true/false, 20) in the
first part, q3 (multiple, 30) and one of q4 / q5 (single, 30, drawn at random) in the second:

    candidate  q1(B)  q2(A)  q3(AC)  q4(D)  q5(A)   通用  专门  total
    A          B ✓    A ✓    AC ✓    D ✓           40    60    100
    B          B ✓    B ✗    AC ✓    A ✗           20    30    50
    C          B ✓    A ✓    A  ✗    D ✓           40    30    70
    D          C ✗    —  ✗   AC ✓           A ✓    0     60    60
    E          —  ✗   B ✗    ABC ✗          C ✗    0     0     0

Five candidates: groups of round(0.27 × 5) = 1: upper A (100), lower E (0). A sixth candidate
(F, 100, all right) sat a second sitting of the exam; a practice paper and an attempt still
being answered never count.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from exams import item_analysis
from exams.item_analysis import (
    discrimination,
    exam_item_analysis,
    group_size,
    p_value,
    ranked_groups,
    score_bin,
    sitting_item_analysis,
)
from exams.models import (
    Attempt,
    AttemptItem,
    AttemptState,
    Question,
    QuestionKind,
    QuestionVersion,
    SittingMode,
    SubmittedBy,
)
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, RegionAdminFactory, UserFactory

D = Decimal
OPENS = dt.datetime(2025, 6, 20, 9, 0, tzinfo=dt.UTC)

# question key -> (kind, part, points, options, answer)
QUESTIONS = {
    "q1": (QuestionKind.SINGLE, GENERAL, 20, ["甲", "乙", "丙", "丁"], "B"),
    "q2": (QuestionKind.TRUE_FALSE, GENERAL, 20, ["正确", "错误"], "A"),
    "q3": (QuestionKind.MULTIPLE, SPECIALIST, 30, ["子", "丑", "寅", "卯"], "AC"),
    "q4": (QuestionKind.SINGLE, SPECIALIST, 30, ["一", "二", "三", "四"], "D"),
    "q5": (QuestionKind.SINGLE, SPECIALIST, 30, ["东", "南", "西", "北"], "A"),
}
PAPERS = {
    "A": {"q1": "B", "q2": "A", "q3": "AC", "q4": "D"},
    "B": {"q1": "B", "q2": "B", "q3": "AC", "q4": "A"},
    "C": {"q1": "B", "q2": "A", "q3": "A", "q4": "D"},
    "D": {"q1": "C", "q2": "", "q3": "AC", "q5": "A"},
    "E": {"q1": "", "q2": "B", "q3": "ABC", "q5": "C"},
}
ALL_RIGHT = {"q1": "B", "q2": "A", "q3": "AC", "q4": "D"}


def online_sitting(exam, day: int):
    opens = OPENS + dt.timedelta(days=day)
    return SittingFactory(
        exam=exam,
        held_on=opens.date(),
        mode=SittingMode.ONLINE,
        opens_at=opens,
        closes_at=opens + dt.timedelta(hours=3),
        duration_minutes=60,
    )


def make_questions(region) -> dict[str, QuestionVersion]:
    versions = {}
    for n, (key, (kind, _part, _points, options, answer)) in enumerate(QUESTIONS.items()):
        fields = {
            "kind": kind,
            "stem": f"第{key}题的题干",
            "options": options,
            "answer": answer,
            "category": "安全生产法",
            "difficulty": 2,
        }
        question = Question.objects.create(region=region, digest=f"digest-{n}", **fields)
        versions[key] = QuestionVersion.objects.create(question=question, version=1, **fields)
    return versions


def sit(sitting, inspector, versions, answers: dict[str, str], *, state=AttemptState.SUBMITTED, practice=False):
    """An attempt written directly (its items scored as exams.online scores them: right when
    the answer is exactly the key; blank is wrong)."""
    parts = parts_of(sitting.exam) if sitting else {}
    started = (sitting.opens_at if sitting else OPENS) + dt.timedelta(minutes=5)
    attempt = Attempt.objects.create(
        sitting=sitting,
        inspector=inspector,
        practice=practice,
        seed=1,
        state=state,
        started_at=started,
        deadline=started + dt.timedelta(minutes=60),
    )
    total = D(0)
    for position, (key, answer) in enumerate(answers.items(), start=1):
        _kind, part, points, _options, key_answer = QUESTIONS[key]
        right = answer == key_answer
        awarded = D(points) if right else D(0)
        total += awarded
        submitted = state == AttemptState.SUBMITTED
        AttemptItem.objects.create(
            attempt=attempt,
            position=position,
            part=parts.get(part),
            version=versions[key],
            option_order=[0, 1, 2, 3][: len(QUESTIONS[key][3])],
            points=D(points),
            answer=answer,
            answered_at=started if answer else None,
            correct=right if submitted else None,
            awarded=awarded if submitted else None,
        )
    if state == AttemptState.SUBMITTED:
        attempt.score = total
        attempt.submitted_at = started + dt.timedelta(minutes=30)
        attempt.submitted_by = SubmittedBy.CANDIDATE
        attempt.save()
    return attempt


@pytest.fixture
def world(regions):
    exam = ExamFactory(region=regions["sjz"], title="石家庄在线执法资格考试")
    sitting = online_sitting(exam, 0)
    second = online_sitting(exam, 1)
    versions = make_questions(regions["sjz"])
    people = {key: InspectorFactory(region=regions["changan"], name=f"考生{key}") for key in [*PAPERS, "F", "G"]}
    attempts = {key: sit(sitting, people[key], versions, answers) for key, answers in PAPERS.items()}
    attempts["F"] = sit(second, people["F"], versions, ALL_RIGHT)
    # never counted: a paper still being answered, and a practice paper (all wrong)
    sit(sitting, people["G"], versions, {"q1": "A", "q2": "B"}, state=AttemptState.ACTIVE)
    sit(None, people["A"], versions, {"q1": "A", "q2": "B", "q3": "B"}, practice=True)
    return {"exam": exam, "sitting": sitting, "second": second, "attempts": attempts, "versions": versions}


def by_question(analysis) -> dict[str, item_analysis.ItemRow]:
    """The rows by question key, in the analysis' order (the questions were made q1 to q5)."""
    ids = Question.objects.filter(region=analysis.exam.region).order_by("id").values_list("id", flat=True)
    keys = {pk: f"q{n + 1}" for n, pk in enumerate(ids)}
    return {keys[row.question_id]: row for row in analysis.items}


# --- the definitions ----------------------------------------------------------------------------


def test_group_size_is_27_percent_rounded_half_up_never_overlapping():
    assert [group_size(n) for n in (0, 1, 2, 3, 4, 5, 6, 10, 100, 2000)] == [0, 0, 1, 1, 1, 1, 2, 3, 27, 540]


def test_groups_rank_by_score_and_break_ties_by_attempt():
    # given two 60s at the top and two 10s at the bottom
    scores = [(5, D(60)), (3, D(60)), (9, D(10)), (7, D(10))]
    # when / then: the earlier attempt ranks higher within a tie
    assert ranked_groups(scores) == ({3}, {9})
    assert ranked_groups([(1, D(50))]) == (set(), set())


def test_p_value_discrimination_and_bins():
    assert p_value(3, 5) == 0.6
    assert p_value(0, 0) is None
    assert discrimination(upper_right=2, upper_asked=2, lower_right=1, lower_asked=2) == 0.5
    assert discrimination(upper_right=1, upper_asked=1, lower_right=0, lower_asked=0) is None
    # bins of 10 % of 40: 0-3.9 in the first, 4 opens the second, the maximum in the last
    assert [score_bin(D(s), D(40)) for s in ("0", "3.9", "4", "20", "39.9", "40")] == [0, 0, 1, 5, 9, 9]


# --- one sitting, by hand -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sitting_per_question_by_hand(world):
    # when
    analysis = sitting_item_analysis(sitting=world["sitting"])
    # then: five submitted attempts (not the active one, not the practice), groups of one
    assert analysis.attempts == 5
    assert analysis.group_size == 1
    rows = by_question(analysis)
    figures = {
        k: (r.asked, r.right, r.unanswered, r.upper_asked, r.upper_right, r.lower_asked, r.lower_right)
        for k, r in rows.items()
    }
    assert figures == {
        "q1": (5, 3, 1, 1, 1, 1, 0),
        "q2": (5, 2, 1, 1, 1, 1, 0),
        "q3": (5, 3, 0, 1, 1, 1, 0),
        "q4": (3, 2, 0, 1, 1, 0, 0),
        "q5": (2, 1, 0, 0, 0, 1, 0),
    }
    assert rows["q1"].p == 0.6 and rows["q2"].p == 0.4 and rows["q4"].p == pytest.approx(2 / 3)
    assert rows["q1"].d == 1.0
    assert rows["q4"].d is None and rows["q5"].d is None  # nobody of one group was asked it
    # options: counted by the letters of each answer (a multiple answer counts for each letter)
    assert [(o.letter, o.chosen, o.key) for o in rows["q1"].options] == [
        ("A", 0, False),
        ("B", 3, True),
        ("C", 1, False),
        ("D", 0, False),
    ]
    assert [(o.letter, o.text, o.chosen) for o in rows["q3"].options] == [
        ("A", "子", 5),
        ("B", "丑", 1),
        ("C", "寅", 4),
        ("D", "卯", 0),
    ]
    assert rows["q3"].options[2].share == 0.8
    assert [(o.text, o.chosen) for o in rows["q2"].options] == [("正确", 2), ("错误", 2)]
    # the hardest first within the category
    assert list(rows) == ["q2", "q5", "q1", "q3", "q4"]


@pytest.mark.django_db
def test_a_sitting_score_distribution_by_hand(world):
    # when
    analysis = sitting_item_analysis(sitting=world["sitting"])
    general, specialist = analysis.parts
    total = analysis.total
    # then: 通用 40, 20, 40, 0, 0 (max 40: bins of 4)
    assert (general.name, general.n, general.mean, general.median, general.high, general.low) == (
        GENERAL,
        5,
        D("20.0"),
        D("20.0"),
        D(40),
        D(0),
    )
    assert [b.count for b in general.bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert general.pass_mark is None and general.passed is None
    # 专门 60, 30, 30, 60, 0 (max 60: bins of 6)
    assert (specialist.mean, specialist.median) == (D("36.0"), D("30.0"))
    assert [b.count for b in specialist.bins] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert specialist.bins[5].label == "[30, 36)" and specialist.bins[9].label == "[54, 60]"
    # total 100, 50, 70, 60, 0: pass mark 60 reached by A, C and D
    assert (total.max_score, total.mean, total.median, total.high, total.low) == (
        D(100),
        D("56.0"),
        D("60.0"),
        D(100),
        D(0),
    )
    assert (total.pass_mark, total.passed, total.pass_rate) == (D(60), 3, 0.6)
    assert [b.count for b in total.bins] == [1, 0, 0, 0, 0, 1, 1, 1, 0, 1]


@pytest.mark.django_db
def test_the_exam_across_its_sittings(world):
    # when
    analysis = exam_item_analysis(exam=world["exam"])
    # then: six candidates, groups of 2: upper A and F (100, A the earlier), lower B (50) and E (0)
    assert analysis.attempts == 6 and analysis.group_size == 2
    q1 = by_question(analysis)["q1"]
    assert (q1.asked, q1.right) == (6, 4)
    assert (q1.upper_right, q1.upper_asked, q1.lower_right, q1.lower_asked) == (2, 2, 1, 2)
    assert q1.d == 0.5
    assert analysis.total.passed == 4


@pytest.mark.django_db
def test_a_question_edited_between_papers_is_one_row(world, regions):
    # given: q1 edited (v2) and asked once more in the second sitting, answered right
    v1 = world["versions"]["q1"]
    v2 = QuestionVersion.objects.create(
        question=v1.question,
        version=2,
        kind=v1.kind,
        stem="第q1题的新题干",
        options=v1.options,
        answer="B",
        category=v1.category,
        difficulty=v1.difficulty,
    )
    sit(world["second"], InspectorFactory(region=regions["changan"]), {**world["versions"], "q1": v2}, {"q1": "B"})
    # when
    q1 = by_question(exam_item_analysis(exam=world["exam"]))["q1"]
    # then: both versions in one row, read as the newest
    assert q1.versions == (1, 2) and q1.versions_text == "v1、v2"
    assert (q1.asked, q1.right, q1.stem) == (7, 5, "第q1题的新题干")


@pytest.mark.django_db
def test_an_empty_sitting_has_no_figures(regions):
    sitting = online_sitting(ExamFactory(region=regions["sjz"]), 0)
    analysis = sitting_item_analysis(sitting=sitting)
    assert analysis.attempts == 0 and analysis.items == []
    assert analysis.total.n == 0 and analysis.total.mean is None and analysis.total.pass_rate is None


@pytest.mark.django_db
def test_one_candidate_makes_no_groups(regions):
    # given
    sitting = online_sitting(ExamFactory(region=regions["sjz"]), 0)
    sit(sitting, InspectorFactory(region=regions["changan"]), make_questions(regions["sjz"]), PAPERS["B"])
    # when
    analysis = sitting_item_analysis(sitting=sitting)
    # then: p as ever, no D
    assert (analysis.attempts, analysis.group_size) == (1, 0)
    assert {(r.p, r.d) for r in analysis.items} == {(1.0, None), (0.0, None)}


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_candidates(world, regions):
    # given
    def count() -> int:
        sitting = world["sitting"]
        with CaptureQueriesContext(connection) as queries:
            sitting_item_analysis(sitting=sitting)
        return len(queries)

    before = count()
    for _ in range(6):
        sit(world["sitting"], InspectorFactory(region=regions["changan"]), world["versions"], ALL_RIGHT)
    # when / then
    assert count() == before == 5  # attempts, items grouped, versions, parts, part sums


# --- the admin page and the workbook ------------------------------------------------------------


@pytest.fixture
def browser(city_admin):
    client = Client()
    client.force_login(city_admin)
    return client


@pytest.mark.django_db
def test_the_page_shows_the_figures_with_captions(world, browser):
    # when
    response = browser.get(f"/admin/exams/sitting/{world['sitting'].pk}/analysis/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    for table, caption in (("analysis-distribution", "分数分布"), ("analysis-items", "逐题分析")):
        start = html.index(f'<table id="{table}">')
        assert html[start:].split(f'<caption id="{table}-caption">', 1)[1].startswith(caption)
        # each table scrolls in its own box (a phone), named by its caption, reachable by keyboard
        assert f'<div class="table-scroll" role="region" aria-labelledby="{table}-caption" tabindex="0">' in html
        assert '<th scope="col">' in html[start : html.index("</thead>", start)]
    analysis = response.context["analysis"]
    assert analysis.attempts == 5
    q1 = world["versions"]["q1"].question_id
    row = html[html.index(f'id="item-{q1}"') :]
    row = row[: row.index("</tr>")]
    assert "60.0%" in row and "1.00" in row and "第q1题的题干" in row
    assert "考生A" not in html  # figures, not people
    # the change page of an online sitting links here; the exam-wide page answers too
    change = browser.get(f"/admin/exams/sitting/{world['sitting'].pk}/change/")
    assert f"/admin/exams/sitting/{world['sitting'].pk}/analysis/" in change.content.decode()
    assert browser.get(f"/admin/exams/exam/{world['exam'].pk}/analysis/").context["analysis"].attempts == 6
    exam_page = browser.get(f"/admin/exams/exam/{world['exam'].pk}/change/").content.decode()
    assert f'href="/admin/exams/exam/{world["exam"].pk}/analysis/"' in exam_page


@pytest.mark.django_db
def test_the_workbook_holds_the_same_figures(world, browser):
    # when
    response = browser.get(f"/admin/exams/sitting/{world['sitting'].pk}/analysis.xlsx")
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["试题", "选项", "分数分布"]
    items = book["试题"]
    assert items.freeze_panes == "A4"  # title, note, header
    header = [c.value for c in items[3]]
    assert header[:3] == ["题号", "版本", "分类"] and "区分度" in header
    analysis = sitting_item_analysis(sitting=world["sitting"])
    cells = {row[0]: row for row in items.iter_rows(min_row=4, values_only=True)}
    for item in analysis.items:
        row = cells[item.question_id]
        assert row[7:10] == (item.asked, item.right, item.unanswered)
        assert row[10] == round(item.p, 3)
        assert row[13] == (None if item.d is None else round(item.d, 2))
    options = [r for r in book["选项"].iter_rows(min_row=4, values_only=True) if r[0] is not None]
    assert sum(len(i.options) for i in analysis.items) == len(options)
    spread = {r[0]: r for r in book["分数分布"].iter_rows(min_row=4, max_row=6, values_only=True)}
    assert spread["总分"][1:10] == (100, 5, 56, 60, 100, 0, 60, 3, 0.6)
    assert list(spread[GENERAL][10:20]) == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert items.page_setup.orientation == "landscape"


@pytest.mark.django_db
def test_only_admins_of_the_exam_region_and_above_see_it(world, regions, province_admin, city_admin):
    # given: the exam is 石家庄's
    sitting, exam = world["sitting"], world["exam"]
    urls = [
        f"/admin/exams/sitting/{sitting.pk}/analysis/",
        f"/admin/exams/sitting/{sitting.pk}/analysis.xlsx",
        f"/admin/exams/exam/{exam.pk}/analysis/",
        f"/admin/exams/exam/{exam.pk}/analysis.xlsx",
    ]
    county = RegionAdminFactory(user__username="changan_a", region=regions["changan"]).user
    other = RegionAdminFactory(user__username="ts_a", region=regions["ts"]).user
    staff_no_role = UserFactory(username="staff_only", is_staff=True)
    inspector = UserFactory(username="insp")
    InspectorFactory(region=regions["changan"], user=inspector)

    def statuses(user):
        client = Client()
        if user is not None:
            client.force_login(user)
        return {client.get(url).status_code for url in urls}

    # when / then
    assert statuses(province_admin) == {200}
    assert statuses(city_admin) == {200}
    assert statuses(county) == {404}  # below the exam's region: as if it did not exist
    assert statuses(other) == {404}
    assert statuses(staff_no_role) == {403}
    assert statuses(inspector) == {302}  # not staff: the admin's login page
    assert statuses(None) == {302}
    missing = Client()
    missing.force_login(province_admin)
    assert missing.get("/admin/exams/sitting/999999/analysis/").status_code == 404
