"""An inspector sits a whole online exam on a phone (390x844) in headless Chromium: logs in,
opens 在线考试与练习 from /me/, starts the sitting, answers every question one a page (each
saved as it is given: 已保存; with the connection down 保存失败，重试中, then saved once it is
back), reloads in the middle and finds the answers still there, sees
the whole paper at once with the toggle, hands in through the confirm step and sees the score
per part. A second paper runs out of time on the server's clock: the page shows it submitted.

Screenshots go to E2E_SCREENSHOT_DIR when it is set (else the test's tmp_path).
"""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from exams import online
from exams.models import (
    Attempt,
    AttemptState,
    PaperRule,
    Question,
    QuestionKind,
    QuestionVersion,
    SittingMode,
    SubmittedBy,
)
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync Playwright runs an event loop in this thread

PASSWORD = "pass-Word-123"
PHONE = {"width": 390, "height": 844}
LAW, TRADE = "安全生产法律法规", "行政执法程序"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def bank_question(region, category, n, kind) -> None:
    options = (
        ["正确", "错误"]
        if kind == QuestionKind.TRUE_FALSE
        else [f"{category}第{n}题的第{i}个选项，文字稍长一些以便在手机上换行显示" for i in range(1, 5)]
    )
    content = {
        "kind": kind,
        "stem": f"{category}第{n}题：生产经营单位的主要负责人对本单位安全生产工作负有哪些职责？",
        "options": options,
        "answer": {"single": "B", "multiple": "AC", "true_false": "A"}[kind],
        "explanation": f"解析{n}",
        "category": category,
        "difficulty": 2,
    }
    q = Question.objects.create(region=region, digest=f"{category}-{n}", **content)
    QuestionVersion.objects.create(question=q, version=1, **content)


def online_exam(regions, *, closes_in: dt.timedelta, minutes: int = 30):
    """The province's exam: 法律 2 × 20 and 程序 3 × 20 (single, multiple, true/false), an
    online sitting open since an hour ago."""
    exam = ExamFactory(region=regions["province"], title="2026年行政执法资格在线考试")
    parts = parts_of(exam)
    kinds = [QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUE_FALSE]
    for n in range(3):
        bank_question(regions["province"], LAW, n, kinds[n % 3])
        bank_question(regions["province"], TRADE, n, kinds[n % 3])
    PaperRule.objects.create(part=parts[GENERAL], category=LAW, count=2, points=Decimal("20"))
    PaperRule.objects.create(part=parts[SPECIALIST], category=TRADE, count=3, points=Decimal("20"), order=1)
    now = timezone.now()
    return SittingFactory(
        exam=exam,
        mode=SittingMode.ONLINE,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + closes_in,
        duration_minutes=minutes,
        held_on=timezone.localdate(),
    )


@pytest.fixture
def candidate(regions):
    return InspectorFactory(region=regions["changan"], user=UserFactory(username="kaosheng"), name="王考生")


def right_answers(attempt_id: int) -> dict[int, str]:
    """The key of each question as shown, read while the browser runs: an ORM call under
    Playwright's event loop gets a connection of its own, closed here (else PostgreSQL cannot
    drop the test database afterwards)."""
    try:
        items = Attempt.objects.get(pk=attempt_id).items.select_related("version")
        return {i.position: online.to_display(i.version.answer, i.option_order) for i in items}
    finally:
        connection.close()


def log_in(page, url):
    page.goto(f"{url}/me/")
    page.fill("#id_username", "kaosheng")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{url}/me/")


def answer(page, position: int, letters: str):
    from playwright.sync_api import expect

    fieldset = page.locator(f"#q-{position}")
    expect(fieldset).to_be_visible()
    for letter in letters:
        fieldset.locator(f"label[for=q{position}-{letter}]").click()
    expect(page.locator(f'[data-status-for="{position}"]')).to_have_text("已保存")


def test_an_inspector_sits_an_online_exam_on_a_phone(
    chromium_available, live_server, regions, candidate, screenshot_dir
):
    from playwright.sync_api import expect, sync_playwright

    sitting = online_exam(regions, closes_in=dt.timedelta(hours=3))
    url = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            log_in(page, url)

            # the list, from /me/
            page.locator("#online-exams-link").click()
            page.wait_for_url(f"{url}/me/exams/")
            row = page.locator(f"#sitting-{sitting.pk}")
            expect(row).to_contain_text("可开始答题")
            expect(row).to_contain_text("限时 30 分钟")
            page.screenshot(path=str(screenshot_dir / "online-list-phone.png"), full_page=True)
            row.get_by_role("link", name="进入考试").click()
            page.get_by_role("button", name="开始答题").click()
            page.wait_for_url(f"{url}/me/exams/attempts/*/")
            attempt_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
            right = right_answers(attempt_id)
            assert len(right) == 5

            # one question a page: the first shown, the others hidden; time counts down
            expect(page.locator("#q-1")).to_be_visible()
            expect(page.locator("#q-2")).to_be_hidden()
            expect(page.locator("#pager-position")).to_have_text("第 1 题，共 5 题")
            shown = page.locator("#time-left").inner_text()
            assert shown.startswith(("29:", "30:")), shown
            # a wrong answer to question 1 (then all others right): 80 of 100
            # (another letter; for a multiple-choice question only part of the key)
            wrong = ("A" if right[1] != "A" else "B") if len(right[1]) == 1 else right[1][0]
            answer(page, 1, wrong)
            expect(page.locator("#save-status")).to_contain_text("已保存")
            page.screenshot(path=str(screenshot_dir / "online-question-phone.png"))
            page.get_by_role("button", name="下一题").click()
            expect(page.locator("#q-2 legend")).to_be_focused()
            answer(page, 2, right[2])
            page.get_by_role("button", name="下一题").click()
            # question 3 with the connection down: the save fails and is retried, then goes through
            context.set_offline(True)
            for letter in right[3]:
                page.locator(f"label[for=q3-{letter}]").click()
            expect(page.locator('[data-status-for="3"]')).to_have_text("保存失败，重试中…")
            expect(page.locator("#save-status")).to_have_text("网络已断开，恢复后自动保存")
            page.screenshot(path=str(screenshot_dir / "online-offline-phone.png"))
            context.set_offline(False)
            expect(page.locator('[data-status-for="3"]')).to_have_text("已保存")

            # reload in the middle: the three answers come back from the server
            page.reload()
            for position, letters in ((1, wrong), (2, right[2]), (3, right[3])):
                for letter in letters:
                    expect(page.locator(f"#q{position}-{letter}")).to_be_checked()
            expect(page.locator("#answered-count")).to_have_text("3")
            expect(page.locator(".qnav a.answered")).to_have_count(3)

            # on to question 4 from the numbers, then 5
            page.locator('.qnav a[data-position="4"]').click()
            expect(page.locator("#q-4 legend")).to_be_focused()
            answer(page, 4, right[4])
            page.get_by_role("button", name="下一题").click()
            answer(page, 5, right[5])
            expect(page.locator("#next-question")).to_be_disabled()

            # the whole paper at once
            page.get_by_role("button", name="整卷").click()
            for position in range(1, 6):
                expect(page.locator(f"#q-{position}")).to_be_visible()
            expect(page.locator("#pager")).to_be_hidden()
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(screenshot_dir / "online-paper-all-phone.png"), full_page=True)

            # hand in: the confirm step, then the result
            page.get_by_role("button", name="交卷").click()
            page.wait_for_url(f"{url}/me/exams/attempts/{attempt_id}/submit/")
            expect(page.locator("#all-answered")).to_contain_text("全部 5 题均已作答")
            page.screenshot(path=str(screenshot_dir / "online-confirm-phone.png"), full_page=True)
            page.get_by_role("button", name="确认交卷").click()
            page.wait_for_url(f"{url}/me/exams/attempts/{attempt_id}/")
            expect(page.locator("#total-score")).to_have_text("80")
            expect(page.locator("#passed")).to_have_text("合格")
            expect(page.locator("#part-scores")).to_contain_text(GENERAL)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(screenshot_dir / "online-result-phone.png"), full_page=True)

            # the same pages at a desktop's size
            page.set_viewport_size({"width": 1366, "height": 768})
            page.goto(f"{url}/me/exams/")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366
            page.screenshot(path=str(screenshot_dir / "online-list-desktop.png"), full_page=True)
            # the saves refused while offline are the only errors the console may show
            assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == [], errors
        finally:
            browser.close()

    attempt = Attempt.objects.get(pk=attempt_id)
    assert attempt.state == AttemptState.SUBMITTED and attempt.submitted_by == SubmittedBy.CANDIDATE
    assert attempt.score == Decimal("80") and attempt.result.score == Decimal("80")


def test_the_server_submits_when_time_runs_out(chromium_available, live_server, regions, candidate, screenshot_dir):
    from playwright.sync_api import expect, sync_playwright

    # given: the sitting closes in 12 seconds, so the paper's deadline is then
    sitting = online_exam(regions, closes_in=dt.timedelta(seconds=12))
    url = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            log_in(page, url)
            page.goto(f"{url}/me/exams/sittings/{sitting.pk}/")
            page.get_by_role("button", name="开始答题").click()
            page.wait_for_url(f"{url}/me/exams/attempts/*/")
            attempt_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
            answer(page, 1, right_answers(attempt_id)[1])
            # when: the clock runs out, the page asks the server, which submits; then it shows so
            expect(page.locator("#timed-out")).to_be_visible(timeout=30_000)
            expect(page.locator("#submitted")).to_contain_text("已交卷")
            page.screenshot(path=str(screenshot_dir / "online-timed-out-phone.png"), full_page=True)
        finally:
            browser.close()

    attempt = Attempt.objects.get(pk=attempt_id)
    assert attempt.state == AttemptState.SUBMITTED and attempt.submitted_by == SubmittedBy.TIMEOUT
    assert attempt.items.exclude(answer="").count() == 1
