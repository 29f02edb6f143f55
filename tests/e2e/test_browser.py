"""Headless Chromium (Debian's package) driven by Playwright against a live server: an
inspector logs in through the form and sees their certificate and hours bar on /me/; an
anonymous visitor opens a verify page and sees the masked name and the status.

Skipped when Chromium or Playwright is missing, except under REQUIRE_SERVICES=1 (CI),
where a missing browser is a failure (tests/e2e/conftest.py).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from exams import services
from exams.models import Certificate
from personnel.models import RegionLevel
from tests.factories import InspectorFactory, RegionFactory, UserFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus

PASSWORD = "pass-Word-123"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inspector_with_certificate(db):
    """王小明, an inspector in 长安区 with a certificate 60 days from expiry (amber), 24 of
    60 hours this year, one upcoming batch, and one exam result."""
    province = RegionFactory(code="130000", name="河北省", level=RegionLevel.PROVINCE)
    city = RegionFactory(code="130100", name="石家庄市", level=RegionLevel.CITY, parent=province)
    county = RegionFactory(code="130102", name="长安区", level=RegionLevel.COUNTY, parent=city)
    user = UserFactory(username="wangxm", password=PASSWORD)
    inspector = InspectorFactory(name="王小明", region=county, user=user, phone="13912345678")

    today = timezone.localdate()
    until = today + dt.timedelta(days=60)
    # 29 February has no twin five years earlier: issue from the 28th, then give the exact
    # date (a day off showed 59 days on 31 December before a leap year)
    day = 28 if (until.month, until.day) == (2, 29) else until.day
    certificate = services.certificate_issue(
        holder=inspector,
        region=city,
        actor=None,
        issued_on=until.replace(year=until.year - settings.CERTIFICATE_VALIDITY_YEARS, day=day),
    )
    Certificate.objects.filter(pk=certificate.pk).update(valid_until=until)
    certificate.refresh_from_db()

    done = BatchFactory(
        course=CourseFactory(title="行政执法公示专题培训", hours=Decimal("24")),
        region=province,
        starts_on=dt.date(today.year, 1, 5),
        ends_on=dt.date(today.year, 1, 7),
    )
    EnrollmentFactory(batch=done, inspector=inspector, status=EnrollmentStatus.COMPLETED)
    soon = BatchFactory(
        course=CourseFactory(title="重大执法决定法制审核专题培训"),
        region=province,
        starts_on=today + dt.timedelta(days=14),
    )
    EnrollmentFactory(batch=soon, inspector=inspector, status=EnrollmentStatus.WAITLISTED, waitlist_position=2)

    exam = services.exam_create(
        actor=None,
        title="2026年度执法人员考核",
        kind="annual",
        region=province,
        parts=[("通用法律知识", Decimal("40")), ("专门法律知识", Decimal("60"))],
    )
    sitting = services.sitting_create(actor=None, exam=exam, held_on=today - dt.timedelta(days=20), place="省厅考点")
    ids = {p.name: str(p.pk) for p in exam.parts.all()}
    services.result_record(
        sitting=sitting,
        inspector=inspector,
        actor=None,
        scores={ids["通用法律知识"]: "32", ids["专门法律知识"]: "46.5"},
    )
    return inspector, certificate


def test_inspector_sees_own_page_and_anonymous_verifies(
    chromium_available, live_server, inspector_with_certificate, screenshot_dir
):
    from playwright.sync_api import expect, sync_playwright

    inspector, certificate = inspector_with_certificate
    national_id = inspector.national_id  # read now: no database calls once the browser runs

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            # A phone-sized window: the page must work there.
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()

            # when: logging in through the form (the /me/ link sends an anonymous visitor there)
            page.goto(f"{live_server.url}/me/")
            assert "/accounts/login/" in page.url
            page.fill("#id_username", "wangxm")
            page.fill("#id_password", PASSWORD)
            page.get_by_role("button", name="登录", exact=True).click()  # not the language switch
            page.wait_for_url(f"{live_server.url}/me/")

            # then: the certificate status, its countdown and colour, and the hours bar
            expect(page.locator("#certificate-status")).to_have_text("有效")
            expect(page.locator("#certificate")).to_have_attribute("data-tone", "amber")
            expect(page.locator("#countdown")).to_contain_text("60 天")
            expect(page.locator("#certificate")).to_contain_text(certificate.number)
            bar = page.get_by_role("progressbar")
            expect(bar).to_have_attribute("aria-valuenow", "24")
            expect(bar).to_have_attribute("aria-valuemax", "60")
            assert bar.bounding_box()["width"] > 0
            fill = page.locator("[role=progressbar] rect").bounding_box()["width"]
            assert 0.3 < fill / bar.bounding_box()["width"] < 0.5  # 24 of 60
            expect(page.locator("#hours-done")).to_have_text("24")
            expect(page.locator("#upcoming")).to_contain_text("候补第 2 位")
            expect(page.locator("#results")).to_contain_text("第 1 次 / 共 3 次")
            expect(page.locator("#certificate svg")).to_be_visible()
            # nothing overflows the phone's width
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(screenshot_dir / "me-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
            page.screenshot(path=str(screenshot_dir / "me-desktop.png"), full_page=True)

            # when: an anonymous visitor opens the verify page (the QR code's link)
            verify_href = page.locator("#certificate figcaption a").get_attribute("href")
            assert verify_href.endswith(f"/verify/{certificate.number}/")
            anonymous = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            visitor = anonymous.new_page()
            visitor.goto(verify_href)

            # then: masked name and status, and nothing that identifies the person further
            expect(visitor.locator("#holder")).to_have_text("王*明")
            expect(visitor.locator(".status-badge")).to_have_text("有效")
            content = visitor.content()
            assert "王小明" not in content
            assert national_id not in content
            assert "13912345678" not in content
            visitor.screenshot(path=str(screenshot_dir / "verify-phone.png"), full_page=True)

            # and the form finds a number typed with spaces
            visitor.goto(f"{live_server.url}/verify/")
            visitor.fill("#verify-number", " ".join([certificate.number[:6], certificate.number[6:]]))
            visitor.click("form.search button")
            visitor.wait_for_url(f"{live_server.url}/verify/{certificate.number}/")
            expect(visitor.locator("#holder")).to_have_text("王*明")
        finally:
            browser.close()
