"""The training office's batch pages in headless Chromium at 1366x768: a five-day batch with
130 people. The attendance grid, the completion preview and the sign-in sheet do not scroll
sideways; the grid's 全部出勤 ticks a day's column (and its 登记 box) in the page, and saving
records that day for everyone and no other day. The sign-in sheet prints to A4 landscape.

Screenshots go to E2E_SCREENSHOT_DIR when it is set (else the test's tmp_path).
"""

import datetime as dt
import os
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from personnel.models import Sector
from tests.e2e.test_admin_layout import MEASURE
from tests.factories import InspectorFactory, RegionAdminFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import Attendance, BatchStatus

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync Playwright runs an event loop in this thread

PASSWORD = "pass-Word-123"
PEOPLE = 130
MEDIA_BOX = re.compile(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def five_days(regions):
    """石家庄's five-day batch, over since yesterday, 130 enrolled (long names in places)."""
    ends = timezone.localdate() - dt.timedelta(days=1)
    batch = BatchFactory(
        course=CourseFactory(title="危险化学品重大危险源企业安全生产标准化与双重预防机制建设执法检查实务专题培训"),
        region=regions["sjz"],
        sector=Sector.COAL,
        starts_on=ends - dt.timedelta(days=4),
        ends_on=ends,
        capacity=200,
        status=BatchStatus.CLOSED,
        place="石家庄市应急管理综合行政执法支队培训基地（长安区建设北大街与和平东路交叉口东北角）",
    )
    places = ["changan", "qiaoxi", "sjz"]
    for n in range(PEOPLE):
        name = "欧阳司马诸葛明" if n % 17 == 0 else f"学员{n:03d}"
        inspector = InspectorFactory(region=regions[places[n % 3]], sector=Sector.COAL, name=name)
        EnrollmentFactory(batch=batch, inspector=inspector)
    admin = RegionAdminFactory(user__username="sjz_office", region=regions["sjz"]).user
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    return batch


def test_the_batch_pages_fit_and_the_grid_records_a_whole_day(
    live_server, five_days, chromium_available, screenshot_dir
):
    from playwright.sync_api import sync_playwright

    batch = five_days
    urls = {
        "attendance": reverse("admin:training_batch_attendance", args=[batch.pk]),
        "complete": reverse("admin:training_batch_complete", args=[batch.pk]),
        "sheet": reverse("admin:training_batch_signin_sheet", args=[batch.pk]),
        "change": reverse("admin:training_batch_change", args=[batch.pk]),
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", "sjz_office")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")

        for name in ("change", "attendance", "complete", "sheet"):
            page.goto(live_server.url + urls[name])
            measured = page.evaluate(MEASURE)
            page.screenshot(path=str(screenshot_dir / f"batch-{name}.png"))
            assert measured["wide"] == [], (name, measured["wide"])
            assert measured["squeezed"] == [], (name, measured["squeezed"])

        # when: 全部出勤 on the third day, in the page (no request), then saved
        page.goto(live_server.url + urls["attendance"])
        third = (batch.starts_on + dt.timedelta(days=2)).strftime("%Y%m%d")
        page.click(f'button.all-present[data-day="{third}"]')
        assert page.is_checked(f'input.record-day[data-day="{third}"]')
        assert not Attendance.objects.exists()
        page.click("#attendance-form input[type=submit].default")
        page.wait_for_selector(".messagelist")
        # then
        assert Attendance.objects.filter(present=True).count() == PEOPLE
        assert set(Attendance.objects.values_list("day", flat=True)) == {batch.starts_on + dt.timedelta(days=2)}
        # Playwright's sync API runs this block in a greenlet of its own, so these reads opened a
        # connection of their own: close it, or PostgreSQL cannot drop the test database after.
        connection.close()

        page.goto(live_server.url + urls["sheet"])
        page.emulate_media(media="print")
        assert not page.is_visible("button:has-text('打印')")
        pdf = page.pdf(prefer_css_page_size=True)
        (screenshot_dir / "sign-in-sheet.pdf").write_bytes(pdf)
        # A4 landscape (842 x 595 points), the header row on every page of 130 rows
        boxes = [tuple(float(v) for v in m) for m in MEDIA_BOX.findall(pdf)]
        assert len(boxes) >= 2 and all(round(w) == 842 and round(h) == 595 for w, h in boxes), boxes
        browser.close()
