"""评教 on a phone: an inspector who completed a batch last week opens /me/, picks a score for each
question with the keyboard and the finger, leaves a comment, submits, and sees "已评价"; the page
keeps to the phone's width and the strict CSP reports nothing. Then the city's admin reads it:
the 评教 list, the batch's and the course's pages and the overview. axe-core (WCAG 2.0 A and AA,
as tests/e2e/test_accessibility.py runs it) finds nothing on the form nor on those pages."""

import datetime as dt

import pytest
from django.utils import timezone

from personnel.models import RegionLevel
from tests.e2e.test_accessibility import AXE, AXE_RUN
from tests.factories import InspectorFactory, RegionAdminFactory, RegionFactory, UserFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import BatchStatus, EnrollmentStatus, Evaluation

PASSWORD = "pass-Word-123"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def completed(db):
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    city = RegionFactory(code="130100", name="石家庄市", level=RegionLevel.CITY, parent=province)
    user = UserFactory(username="pingjiao", password=PASSWORD)
    inspector = InspectorFactory(name="李评教", region=city, user=user)
    ended = timezone.localdate() - dt.timedelta(days=6)
    batch = BatchFactory(
        course=CourseFactory(title="执法全过程记录制度实务"),
        region=city,
        starts_on=ended - dt.timedelta(days=1),
        ends_on=ended,
        status=BatchStatus.COMPLETED,
    )
    enrollment = EnrollmentFactory(batch=batch, inspector=inspector, status=EnrollmentStatus.COMPLETED)
    admin = RegionAdminFactory(user__username="sjz_pingjiao", region=city).user
    admin.set_password(PASSWORD)
    admin.is_staff = True
    admin.save()
    return enrollment


def _axe(page, where: str) -> list[str]:
    result = page.evaluate(AXE_RUN, True)
    return [
        f"{where}: {v['id']} ({v['impact']}) at {t}: {v['help']}" for v in result["violations"] for t in v["targets"]
    ]


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()


def test_an_inspector_rates_a_batch_on_the_phone(chromium_available, live_server, completed, screenshot_dir):
    from playwright.sync_api import expect, sync_playwright

    enrollment_id = completed.pk
    batch_id, course_id, year = completed.batch_id, completed.batch.course_id, completed.batch.year
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

            _login(page, live_server.url, "pingjiao")
            page.wait_for_url(f"{live_server.url}/me/")

            # given: the section and its form, each question a named radio group
            section = page.locator("#evaluations")
            expect(section.get_by_role("heading", name="待评价的培训")).to_be_visible()
            expect(section).to_contain_text("执法全过程记录制度实务")
            for question in ("课程内容", "授课教师", "组织安排"):
                expect(section.get_by_role("group", name=question)).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390

            checker = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            checker.add_init_script(path=str(AXE))
            form_page = checker.new_page()
            _login(form_page, live_server.url, "pingjiao")
            form_page.wait_for_url(f"{live_server.url}/me/")
            assert _axe(form_page, "/me/ with the form") == []
            checker.close()

            # when: a tap for content, the keyboard for the trainer, a tap for organisation
            section.get_by_role("group", name="课程内容").get_by_label("5").check()
            section.get_by_role("group", name="授课教师").get_by_label("1").focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")  # 4
            section.get_by_role("group", name="组织安排").get_by_label("3").check()
            section.get_by_label("意见建议（选填）").fill("案例很实用")
            page.screenshot(path=str(screenshot_dir / "evaluation-phone.png"), full_page=True)
            section.get_by_role("button", name="提交评价").click()

            # then: back on /me/, thanked, marked rated, the form gone
            page.wait_for_url(f"{live_server.url}/me/#evaluations")
            expect(page.locator("#evaluations")).to_contain_text("已评价，感谢您的反馈。")
            expect(page.locator("#evaluations .pill")).to_have_text("已评价")
            expect(page.locator("#evaluations form")).to_have_count(0)
            assert problems == []  # the strict CSP refused nothing

            # then: axe (which adds styles of its own: no CSP check from here) finds nothing on the
            # rated page, nor on the city's admin pages, which show it anonymously
            page.context.add_init_script(path=str(AXE))
            page.reload()
            violations = _axe(page, "/me/ rated")
            office = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
            office.add_init_script(path=str(AXE))
            admin = office.new_page()
            admin.goto(f"{live_server.url}/admin/login/")
            admin.fill("#id_username", "sjz_pingjiao")
            admin.fill("#id_password", PASSWORD)
            admin.locator("input[type=submit]").click()
            admin.wait_for_url(f"{live_server.url}/admin/")
            for path, shows in (
                ("/admin/training/evaluation/", "案例很实用"),
                (f"/admin/training/batch/{batch_id}/change/", "100.0%"),
                (f"/admin/training/course/{course_id}/change/", "4.00"),
                (f"/admin/overview/?year={year}", "评教（按组织单位）"),
            ):
                admin.goto(live_server.url + path)
                expect(admin.locator("body")).to_contain_text(shows)
                assert "李评教" not in admin.content()
                violations += _axe(admin, path)
            assert violations == []
        finally:
            browser.close()

    given = Evaluation.objects.get(enrollment_id=enrollment_id)
    assert (given.content, given.trainer, given.organisation, given.comment) == (5, 4, 3, "案例很实用")
