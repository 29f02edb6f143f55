"""The score grid and the attendance grid for a keyboard and a screen reader, in headless
Chromium at 1366 x 768.

- axe-core (the copy bundled with axe-playwright-python), tags wcag2a and wcag2aa only, finds
  no violation on either grid, in zh-hans and in en, the score grid showing a refused save
  (an error summary, a bad cell);
- Chromium itself names each input by its candidate and column ("王小明 通用法律知识"), the bad
  cell is invalid and described by its row's error, the summary has the focus after the
  refused save and its link puts the focus in the bad cell;
- keyboard only: from the top of the page Tab reaches the first score input, Tab goes to the
  next cell of the row, Enter moves down a row without submitting, and the scores typed are
  saved by Tab to 保存成绩 and Enter; on the attendance grid the arrows move between the
  boxes, Space ticks, Enter does not submit, and the day is saved from the keyboard.

The data is made with factories before the browser starts; the reads after a save close
their connection (Playwright's greenlet, see test_batch_pages_browser).
"""

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from exams.models import ExamKind, Result
from personnel.models import Sector
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, ResultFactory, SittingFactory
from tests.factories import InspectorFactory, RegionAdminFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import Attendance, BatchStatus, EnrollmentStatus

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync Playwright runs an event loop in this thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-Word-123"
VIEWPORT = {"width": 1366, "height": 768}
LANGUAGES = ("zh-hans", "en")
# the sitting's candidates, as the grid orders them (by name)
CANDIDATES = ["王小明", "李国强", "张丽华"]
SCORES = {"王小明": ("32", "46.5"), "李国强": ("30", "40"), "张丽华": ("20", "25")}
AXE = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js")
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]},
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""
ACTIVE = """() => {
  const e = document.activeElement;
  return {id: e.id, tag: e.tagName, name: e.getAttribute("name"), text: e.textContent.trim()};
}"""


@pytest.fixture
def grids(regions):
    """石家庄's admin; a sitting of a completed batch with three candidates (no score yet); an
    open sitting (no batch: one recorded candidate and the blank rows for new ones); a closed
    three-day batch of four people, its attendance not yet recorded."""
    admin = RegionAdminFactory(user__username="sjz_grids", region=regions["sjz"]).user
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    done = BatchFactory(
        region=regions["sjz"], sector=Sector.COAL, starts_on=dt.date(2025, 6, 10), status=BatchStatus.COMPLETED
    )
    for name in CANDIDATES:
        EnrollmentFactory(
            batch=done,
            inspector=InspectorFactory(region=regions["changan"], sector=Sector.COAL, name=name),
            status=EnrollmentStatus.COMPLETED,
        )
    sitting = SittingFactory(
        exam=ExamFactory(region=regions["sjz"], kind=ExamKind.COURSE, course=done.course), batch=done
    )
    open_sitting = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    ResultFactory(
        sitting=open_sitting, inspector=InspectorFactory(region=regions["changan"], name="赵建军"), absent=True
    )
    closed = BatchFactory(
        region=regions["sjz"], sector=Sector.COAL, starts_on=dt.date(2025, 7, 1), status=BatchStatus.CLOSED
    )
    for k in range(4):
        EnrollmentFactory(
            batch=closed, inspector=InspectorFactory(region=regions["qiaoxi"], sector=Sector.COAL, name=f"学员{k}")
        )
    return {
        "score": reverse("admin:exams_sitting_grid", args=[sitting.pk]),
        "open": reverse("admin:exams_sitting_grid", args=[open_sitting.pk]),
        "attendance": reverse("admin:training_batch_attendance", args=[closed.pk]),
        "days": [closed.starts_on + dt.timedelta(days=n) for n in range(closed.days)],
    }


def _browser(p, chromium_available):
    return p.chromium.launch(**chromium_available)


def _signed_in(browser, base: str, language: str):
    context = browser.new_context(viewport=VIEWPORT, locale="en-US" if language == "en" else "zh-CN")
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    # axe-core comes with every page as an init script: the Content-Security-Policy
    # (script-src 'self') would refuse it as a <script> added to the page
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/admin/login/")
    page.fill("#id_username", "sjz_grids")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(base + "/admin/")
    return page, errors


def _axe(page) -> list[str]:
    return page.evaluate(AXE_RUN)


@pytest.mark.parametrize("language", LANGUAGES)
def test_both_grids_pass_axe_and_name_every_input(live_server, grids, chromium_available, screenshot_dir, language):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    with sync_playwright() as p:
        browser = _browser(p, chromium_available)
        page, errors = _signed_in(browser, base, language)

        # the score grid after a refused save: the first row's first part above full marks
        page.goto(base + grids["score"])
        top = page.locator("#score-grid tbody th").first.inner_text()
        bad = page.get_by_role("textbox", name=f"{top} {GENERAL}", exact=True)
        bad.fill("45")
        page.locator("#score-grid-form .submit-row [type=submit]").click()
        page.wait_for_selector("#grid-errors")
        page.screenshot(path=str(screenshot_dir / f"score-grid-error-{language}.png"), full_page=True)
        score_violations = _axe(page)

        # what a screen reader is given, as Chromium computes it
        assert page.evaluate(ACTIVE)["id"] == "grid-errors"  # the summary took the focus
        expect(page.locator("#grid-errors")).to_have_attribute("role", "alert")
        expect(bad).to_have_attribute("aria-invalid", "true")
        expect(bad).to_have_accessible_description(re.compile("40"))  # the row's error: above 40
        for name in CANDIDATES:
            for part in (GENERAL, SPECIALIST):
                expect(page.get_by_role("textbox", name=f"{name} {part}", exact=True)).to_have_count(1)
        absent = "缺考" if language == "zh-hans" else page.locator("#sg-absent").text_content().strip()
        expect(page.get_by_role("checkbox", name=f"{top} {absent}", exact=True)).to_have_count(1)
        # the summary's link takes the keyboard to the bad cell
        page.locator("#grid-errors a").first.focus()
        page.keyboard.press("Enter")
        assert page.evaluate(ACTIVE)["name"] == bad.get_attribute("name")

        page.goto(base + grids["attendance"])
        page.screenshot(path=str(screenshot_dir / f"attendance-{language}.png"), full_page=True)
        attendance_violations = _axe(page)
        day = " ".join(page.locator("#day-" + grids["days"][1].strftime("%Y%m%d")).text_content().split())
        expect(page.get_by_role("checkbox", name=f"学员2 {day}", exact=True)).to_have_count(1)
        expect(page.get_by_role("button", name=re.compile(rf"{re.escape(day)}$"))).to_have_count(1)

        # the open sitting's grid: a new row with an ID number that is none
        page.goto(base + grids["open"])
        page.locator("#score-grid input.national-id").first.fill("123")
        page.locator("#score-grid-form .submit-row [type=submit]").click()
        page.wait_for_selector("#grid-errors")
        expect(page.locator("#score-grid input.national-id").first).to_have_attribute("aria-invalid", "true")
        open_violations = _axe(page)

        # and both grids in the dark theme (the admin follows the system's)
        page.emulate_media(color_scheme="dark")
        dark = {}
        for name in ("open", "attendance"):
            page.goto(base + grids[name])
            dark[name] = _axe(page)

        assert errors == [], errors
        browser.close()
    assert score_violations == [], "\n".join(score_violations)
    assert attendance_violations == [], "\n".join(attendance_violations)
    assert open_violations == [], "\n".join(open_violations)
    assert dark == {"open": [], "attendance": []}, dark


def test_scores_are_typed_and_saved_with_the_keyboard_only(live_server, grids, chromium_available):
    from playwright.sync_api import sync_playwright

    base = live_server.url
    with sync_playwright() as p:
        browser = _browser(p, chromium_available)
        page, errors = _signed_in(browser, base, "zh-hans")
        page.goto(base + grids["score"])
        inputs = {
            (name, part): page.get_by_role("textbox", name=f"{name} {part}", exact=True).get_attribute("name")
            for name in CANDIDATES
            for part in (GENERAL, SPECIALIST)
        }

        # Tab from the top of the page reaches the first score input (rows in the database's
        # order of names)
        order = page.locator("#score-grid tbody th").all_inner_texts()
        assert sorted(order) == sorted(CANDIDATES)
        for _ in range(200):
            page.keyboard.press("Tab")
            if page.evaluate(ACTIVE)["name"] == inputs[(order[0], GENERAL)]:
                break
        else:
            pytest.fail("Tab never reached the first score input")

        # Tab goes along the row (the next part); Enter goes down a row, without submitting
        first, second = order[0], order[1]
        page.keyboard.type(SCORES[first][0])
        page.keyboard.press("Tab")
        assert page.evaluate(ACTIVE)["name"] == inputs[(first, SPECIALIST)]
        page.keyboard.type(SCORES[first][1])
        page.keyboard.press("Enter")
        assert page.evaluate(ACTIVE)["name"] == inputs[(second, SPECIALIST)]
        assert page.url == base + grids["score"] and page.locator(".messagelist").count() == 0
        page.keyboard.press("ArrowUp")
        assert page.evaluate(ACTIVE)["name"] == inputs[(first, SPECIALIST)]
        page.keyboard.press("Tab")  # 缺考
        page.keyboard.press("Tab")  # the next row's name (a link)
        page.keyboard.press("Tab")
        for name in order[1:]:
            assert page.evaluate(ACTIVE)["name"] == inputs[(name, GENERAL)]
            page.keyboard.type(SCORES[name][0])
            page.keyboard.press("Tab")
            page.keyboard.type(SCORES[name][1])
            page.keyboard.press("Tab")  # 缺考
            page.keyboard.press("Tab")  # the next row's name, or past the grid
            if name != order[-1]:
                page.keyboard.press("Tab")
        # past the last row: the help, then 保存成绩
        for _ in range(5):
            if page.evaluate(ACTIVE)["tag"] == "INPUT" and page.evaluate("document.activeElement.type") == "submit":
                break
            page.keyboard.press("Tab")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "成绩已保存" in page.locator(".messagelist").inner_text()

        # the attendance grid: arrows between the boxes, Space ticks, Enter does nothing
        page.goto(base + grids["attendance"])
        second_day = grids["days"][1].strftime("%Y%m%d")
        box = page.locator(f'#attendance-grid tbody input[data-day="{second_day}"]').first
        box.focus()
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
        assert page.url == base + grids["attendance"] and page.locator(".messagelist").count() == 0
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowDown")  # the third person: left absent
        assert page.is_checked(f'input.record-day[data-day="{second_day}"]')  # ticked by the change
        page.locator("#attendance-form .submit-row [type=submit]").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "考勤已保存" in page.locator(".messagelist").inner_text()
        assert errors == [], errors
        browser.close()

    # the grid's candidates (the open sitting's absent 赵建军, made for the axe case, is not on it)
    saved = {
        r.inspector.name: (r.score, r.absent)
        for r in Result.objects.select_related("inspector").filter(inspector__name__in=CANDIDATES)
    }
    marks = sorted(
        (a.enrollment.inspector.name, a.present) for a in Attendance.objects.select_related("enrollment__inspector")
    )
    connection.close()
    assert saved == {n: (Decimal(a) + Decimal(b), False) for n, (a, b) in SCORES.items()}
    assert marks == [("学员0", True), ("学员1", True), ("学员2", False), ("学员3", False)]
