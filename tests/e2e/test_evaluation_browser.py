"""评教 on a phone: an inspector who completed a batch last week opens /me/, picks a score for each
question with the keyboard and the finger, leaves a comment, submits, and sees "已评价"; the page
keeps to the phone's width and the strict CSP reports nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from personnel.models import RegionLevel
from tests.factories import InspectorFactory, RegionFactory, UserFactory
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
    return enrollment


def test_an_inspector_rates_a_batch_on_the_phone(chromium_available, live_server, completed, screenshot_dir):
    from playwright.sync_api import expect, sync_playwright

    enrollment_id = completed.pk
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", "pingjiao")
            page.fill("#id_password", PASSWORD)
            page.get_by_role("button", name="登录", exact=True).click()
            page.wait_for_url(f"{live_server.url}/me/")

            # given: the section and its form, each question a named radio group
            section = page.locator("#evaluations")
            expect(section.get_by_role("heading", name="待评价的培训")).to_be_visible()
            expect(section).to_contain_text("执法全过程记录制度实务")
            for question in ("课程内容", "授课教师", "组织安排"):
                expect(section.get_by_role("group", name=question)).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390

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
            assert problems == []
        finally:
            browser.close()

    given = Evaluation.objects.get(enrollment_id=enrollment_id)
    assert (given.content, given.trainer, given.organisation, given.comment) == (5, 4, 3, "案例很实用")
