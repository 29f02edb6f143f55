"""The candidate's online exam pages (exams.online_pages) without script: the list and the
practice entry, start, the paper as one form saved through the service, the confirm step with
the unanswered questions, the result (score when shown; answers and explanations after
practice), the server's clock, and nobody else's paper."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from exams import online
from exams.models import (
    Attempt,
    AttemptState,
    PaperRule,
    Question,
    QuestionKind,
    QuestionVersion,
    ScoreShown,
    SittingMode,
    SubmittedBy,
)
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, UserFactory

pytestmark = pytest.mark.django_db

LAW, TRADE = "法律基础", "专业知识"


def bank_question(region, category, n, kind=QuestionKind.SINGLE) -> Question:
    options = ["正确", "错误"] if kind == QuestionKind.TRUE_FALSE else [f"{category}{n}选项{i}" for i in range(1, 5)]
    content = {
        "kind": kind,
        "stem": f"{category}第{n}题",
        "options": options,
        "answer": {"single": "B", "multiple": "AC", "true_false": "A"}[kind],
        "explanation": f"解析{category}{n}",
        "category": category,
        "difficulty": 2,
    }
    q = Question.objects.create(region=region, digest=f"{category}-{n}", **content)
    QuestionVersion.objects.create(question=q, version=1, **content)
    return q


@pytest.fixture
def exam(regions):
    """The province's exam: 法律基础 2 × 20 (40), 专业知识 3 × 20 (60), single, multiple and
    true/false questions."""
    exam = ExamFactory(region=regions["province"], title="在线执法资格考试")
    parts = parts_of(exam)
    kinds = [QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUE_FALSE]
    for n in range(3):
        bank_question(regions["province"], LAW, n, kinds[n % 3])
        bank_question(regions["province"], TRADE, n, kinds[n % 3])
    PaperRule.objects.create(part=parts[GENERAL], category=LAW, count=2, points=Decimal("20"))
    PaperRule.objects.create(part=parts[SPECIALIST], category=TRADE, count=3, points=Decimal("20"), order=1)
    return exam


def open_sitting(exam, **extra):
    now = timezone.now()
    return SittingFactory(
        exam=exam,
        mode=SittingMode.ONLINE,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(hours=3),
        duration_minutes=30,
        held_on=timezone.localdate(),
        **extra,
    )


@pytest.fixture
def candidate(regions):
    return InspectorFactory(region=regions["changan"], user=UserFactory(username="cand"), name="考生甲")


@pytest.fixture
def browser(candidate):
    client = Client()
    client.force_login(candidate.user)
    return client


def right_answers(attempt) -> dict[int, str]:
    return {
        i.position: online.to_display(i.version.answer, i.option_order) for i in attempt.items.select_related("version")
    }


def form_of(answers: dict[int, str], then: str) -> dict:
    data = {f"q-{p}": list(letters) for p, letters in answers.items()}
    data["then"] = then
    return data


def test_the_list_shows_my_open_sitting_and_the_practice_entry(browser, exam):
    # given
    sitting = open_sitting(exam)
    # when
    page = browser.get("/me/exams/")
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="sitting-{sitting.pk}"' in html and "在线执法资格考试" in html and "限时 30 分钟" in html
    assert f'href="/me/exams/sittings/{sitting.pk}/"' in html
    assert 'action="/me/exams/practice/"' in html
    assert [html.count(f'<option value="{c}">') for c in (LAW, TRADE)] == [1, 1]  # each category once
    assert 'id="online-exams-link"' in browser.get("/me/").content.decode()


def test_a_whole_exam_without_script(browser, exam, candidate):
    # given
    sitting = open_sitting(exam)
    assert browser.get(f"/me/exams/sittings/{sitting.pk}/").status_code == 200
    # when: start
    started = browser.post(f"/me/exams/sittings/{sitting.pk}/start/")
    attempt = Attempt.objects.get(sitting=sitting, inspector=candidate)
    assert started["Location"] == f"/me/exams/attempts/{attempt.pk}/"
    paper = browser.get(started["Location"]).content.decode()
    # then: five fieldsets with legends, every option labelled
    assert paper.count('<fieldset class="question"') == 5 and paper.count("<legend") == 5
    for option_id in re.findall(r'<input type="(?:radio|checkbox)" id="([^"]+)"', paper):
        assert f'<label for="{option_id}">' in paper
    assert "<script src=" in paper and not re.search(r"<script>|style=", paper)
    # when: four answered right and saved, one left blank
    right = right_answers(attempt)
    blank = max(right)
    answers = {p: a for p, a in right.items() if p != blank}
    saved = browser.post(f"/me/exams/attempts/{attempt.pk}/answers/", form_of(answers, "save"), follow=True)
    # then: the page comes back with them checked
    html = saved.content.decode()
    assert "答案已保存" in html
    for position, letters in answers.items():
        for letter in letters:
            assert re.search(rf'id="q{position}-{letter}" name="q-{position}" value="{letter}" checked', html)
    # when: on to hand in
    confirm = browser.post(f"/me/exams/attempts/{attempt.pk}/answers/", form_of(answers, "submit"), follow=True)
    # then: the confirm step names the unanswered question
    html = confirm.content.decode()
    assert 'id="unanswered-list"' in html and f'#q-{blank}">第 {blank} 题' in html
    # when: confirmed
    result = browser.post(f"/me/exams/attempts/{attempt.pk}/submit/", follow=True)
    # then: 80 of 100, passed, per part
    html = result.content.decode()
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SUBMITTED and attempt.submitted_by == SubmittedBy.CANDIDATE
    assert attempt.score == Decimal("80")
    assert re.search(r'id="total-score">80<', html) and "合格" in html
    assert 'id="part-scores"' in html and GENERAL in html and SPECIALIST in html
    # and: the answers cannot change any more
    late = browser.post(f"/me/exams/attempts/{attempt.pk}/answers/", form_of(right, "save"), follow=True)
    assert "答卷已提交" in late.content.decode()
    assert Attempt.objects.get(pk=attempt.pk).score == Decimal("80")


def test_a_score_shown_on_close_is_not_shown_yet(browser, exam, candidate):
    # given
    sitting = open_sitting(exam, score_shown=ScoreShown.ON_CLOSE)
    browser.post(f"/me/exams/sittings/{sitting.pk}/start/")
    attempt = Attempt.objects.get(sitting=sitting, inspector=candidate)
    # when
    html = browser.post(f"/me/exams/attempts/{attempt.pk}/submit/", follow=True).content.decode()
    # then
    assert 'id="score-hidden"' in html and 'id="total-score"' not in html


def test_time_runs_out_on_the_servers_clock(browser, exam, candidate):
    # given: a started paper whose deadline has passed
    sitting = open_sitting(exam)
    browser.post(f"/me/exams/sittings/{sitting.pk}/start/")
    attempt = Attempt.objects.get(sitting=sitting, inspector=candidate)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    # when: an answer comes in late, then the page is opened
    late = browser.post(f"/me/exams/attempts/{attempt.pk}/answers/", form_of({1: "A"}, "save"), follow=True)
    # then: refused, submitted by the server
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SUBMITTED and attempt.submitted_by == SubmittedBy.TIMEOUT
    assert not attempt.items.exclude(answer="").exists()
    assert 'id="timed-out"' in late.content.decode()


def test_practice_shows_answers_and_explanations_after_submitting(browser, exam, candidate):
    # when
    started = browser.post("/me/exams/practice/", {"category": LAW, "count": "10"})
    attempt = Attempt.objects.get(inspector=candidate, practice=True)
    paper = browser.get(started["Location"]).content.decode()
    # then: the paper tells nothing of the answers
    assert paper.count('<fieldset class="question"') == 3 and "解析" not in paper
    # when
    browser.post(f"/me/exams/attempts/{attempt.pk}/answers/", form_of(right_answers(attempt), "save"))
    html = browser.post(f"/me/exams/attempts/{attempt.pk}/submit/", follow=True).content.decode()
    # then
    assert "答对 3 题，共 3 题" in html and f"解析{LAW}0" in html and 'id="review-1"' in html


def test_nobody_else_sees_my_paper(browser, exam, candidate, regions, city_admin):
    # given
    sitting = open_sitting(exam)
    browser.post(f"/me/exams/sittings/{sitting.pk}/start/")
    attempt = Attempt.objects.get(sitting=sitting, inspector=candidate)
    other = Client()
    other.force_login(InspectorFactory(region=regions["changan"], user=UserFactory(username="other")).user)
    admin = Client()
    admin.force_login(city_admin)
    # when / then: another inspector is told it does not exist; an admin has no candidate pages
    for url in (f"/me/exams/attempts/{attempt.pk}/", f"/me/exams/attempts/{attempt.pk}/submit/"):
        assert other.get(url).status_code == 404
    assert other.post(f"/me/exams/attempts/{attempt.pk}/submit/").status_code == 404
    assert Attempt.objects.get(pk=attempt.pk).state == AttemptState.ACTIVE
    assert "此页面供执法人员使用" in admin.get("/me/exams/").content.decode()
    assert admin.get(f"/me/exams/attempts/{attempt.pk}/").status_code == 404
    assert admin.post("/me/exams/practice/").status_code == 404
    assert Client().get("/me/exams/").status_code == 302


def test_an_inspector_of_another_city_cannot_start_a_citys_sitting(exam, regions):
    # given: 石家庄's own exam; an inspector of 唐山
    city_exam = ExamFactory(region=regions["sjz"])
    sitting = open_sitting(city_exam)
    client = Client()
    client.force_login(InspectorFactory(region=regions["lunan"], user=UserFactory(username="ts_i")).user)
    # when / then
    assert client.get(f"/me/exams/sittings/{sitting.pk}/").status_code == 404
    assert client.post(f"/me/exams/sittings/{sitting.pk}/start/").status_code == 404
    assert not Attempt.objects.filter(sitting=sitting).exists()
