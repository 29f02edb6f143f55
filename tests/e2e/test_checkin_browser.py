"""QR sign-in (扫码签到) in headless Chromium: the trainer's page at 1366x768 shows today's QR
code; an inspector's phone (390x844) opens the code's link signed out, logs in, comes back
to it and sees success; the trainer's page then counts 1 without a reload. No page logs a
Content-Security-Policy violation nor axe-core WCAG 2.0 A/AA violation (the live states too),
and the phone pages do not scroll sideways; the attendance grid marks the scan.

Screenshots go to E2E_SCREENSHOT_DIR when it is set (else the test's tmp_path).
"""

import datetime as dt
import os

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.e2e.test_accessibility import AXE, AXE_RUN
from tests.factories import InspectorFactory, RegionAdminFactory, UserFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import Attendance, AttendanceSource, BatchStatus

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync Playwright runs an event loop in this thread

PASSWORD = "pass-Word-123"
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_today(regions, settings):
    """石家庄's batch running today with 张三 and two others enrolled; scans open all day."""
    settings.CHECKIN_HOURS = (0, 24)
    today = timezone.localdate()
    batch = BatchFactory(
        course=CourseFactory(title="行政执法三项制度专题培训"),
        region=regions["sjz"],
        status=BatchStatus.CLOSED,
        starts_on=today,
        enrollment_deadline=today - dt.timedelta(days=3),
        place="石家庄市应急管理局三楼培训室",
    )
    zhang = InspectorFactory(region=regions["changan"], name="张三", user=UserFactory(username="zhangsan"))
    EnrollmentFactory(batch=batch, inspector=zhang)
    for name in ("李四", "王五"):
        EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["qiaoxi"], name=name))
    RegionAdminFactory(user__username="sjz_office", region=regions["sjz"])
    return batch


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.0 A/AA violations on the page as it is now (as tests/e2e/test_accessibility.py runs it)."""
    result = page.evaluate(AXE_RUN, True)
    return [f"{page.url}: {v['id']} at {t}" for v in result["violations"] for t in v["targets"]]


def csp_violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def test_an_inspector_signs_in_by_the_qr_code_and_the_trainer_sees_the_count(
    live_server, running_today, chromium_available, screenshot_dir
):
    from playwright.sync_api import expect, sync_playwright

    batch = running_today
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        # given: the trainer's page on the office's laptop
        office = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        office.add_init_script(path=str(AXE))
        trainer = office.new_page()
        trainer_csp = csp_violations(trainer)
        trainer.goto(live_server.url + "/admin/login/")
        trainer.fill("#id_username", "sjz_office")
        trainer.fill("#id_password", PASSWORD)
        trainer.click("input[type=submit]")
        trainer.goto(live_server.url + reverse("admin:training_batch_change", args=[batch.pk]))
        trainer.click("#link-checkin")
        trainer.wait_for_url("**" + reverse("checkin-trainer", args=[batch.pk]))
        qr = trainer.locator("#checkin-qr")
        assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
        box = qr.bounding_box()
        assert box["width"] >= 400 and box["y"] + box["height"] <= 768  # big, and whole on the screen
        assert trainer.text_content("#checkin-signed") == "0"
        assert trainer.text_content("#checkin-enrolled") == "3"
        assert len(trainer.text_content("#checkin-code").strip()) == 6
        url = qr.get_attribute("data-url")
        assert url.startswith(live_server.url + "/checkin/?t=")
        trainer.screenshot(path=str(screenshot_dir / "checkin-trainer.png"))
        problems = axe_violations(trainer)

        # when: 张三's phone opens the code's link, signed out
        handset = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
        handset.add_init_script(path=str(AXE))
        phone = handset.new_page()
        phone_csp = csp_violations(phone)
        phone.goto(url)
        assert "/accounts/login/" in phone.url
        phone.fill("#id_username", "zhangsan")
        phone.fill("#id_password", PASSWORD)
        phone.screenshot(path=str(screenshot_dir / "checkin-phone-login.png"))
        phone.click("main button[type=submit]")

        # then: back on the link, signed in
        phone.wait_for_selector("#checkin-result")
        assert phone.get_attribute("#checkin-result", "data-result") == "recorded"
        assert "签到成功" in phone.text_content("#checkin-result")
        assert batch.course.title in phone.text_content("#checkin-result")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.screenshot(path=str(screenshot_dir / "checkin-phone-success.png"), full_page=True)
        problems += axe_violations(phone)

        # and: scanning again says so kindly
        phone.goto(url)
        assert phone.get_attribute("#checkin-result", "data-result") == "already"
        # the code form, for a phone whose camera will not do
        phone.goto(live_server.url + reverse("checkin"))
        assert phone.is_visible("label[for=id_code]")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.screenshot(path=str(screenshot_dir / "checkin-phone-code.png"), full_page=True)
        problems += axe_violations(phone)

        # then: the trainer's page counts 1 and names 张三, without a reload
        expect(trainer.locator("#checkin-signed")).to_have_text("1", timeout=20_000)  # a string to eval: CSP says no
        assert trainer.text_content("#checkin-latest") == "张三"
        trainer.screenshot(path=str(screenshot_dir / "checkin-trainer-counted.png"))
        problems += axe_violations(trainer)
        # the office's grid marks the scan (扫码) and links today's sign-in page
        trainer.goto(live_server.url + reverse("admin:training_batch_attendance", args=[batch.pk]))
        assert trainer.is_visible("small.scanned")
        assert trainer.is_visible(f"a#checkin-{timezone.localdate():%Y%m%d}")
        trainer.screenshot(path=str(screenshot_dir / "checkin-attendance-grid.png"))
        problems += axe_violations(trainer)
        assert problems == []

        assert trainer_csp == [] and phone_csp == []
        handset.close()
        office.close()
        browser.close()

    # and the row is the scan's (read here: an ORM call inside sync Playwright's block opens a
    # connection of its own, left open at the end on PostgreSQL)
    row = Attendance.objects.select_related("enrollment__inspector").get()
    assert (row.enrollment.inspector.name, row.source, row.present) == ("张三", AttendanceSource.CHECKIN, True)
