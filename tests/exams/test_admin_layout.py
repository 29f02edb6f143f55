"""The exams admin at 1366 x 768 in headless Chromium: the lists and the sitting pages fit
without sideways scrolling, the sitting list's 考点 and 状态 cells stay on one line (they
wrapped one character a line, and the status hid behind a horizontal scroll)."""

import datetime as dt

import pytest

from exams.models import SittingStatus
from tests.e2e import conftest as e2e
from tests.exams.factories import CertificateFactory, ExamFactory, ResultFactory, SittingFactory
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/admin/exams/sitting/", "/admin/exams/certificate/", "/admin/exams/result/", "/admin/exams/exam/"]


@pytest.fixture
def chromium():
    reason = e2e._missing()
    if reason is not None:
        if __import__("os").environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return {"executable_path": e2e.CHROMIUM, "args": e2e.LAUNCH_ARGS}


@pytest.fixture
def a_full_year(regions, city_admin):
    """Sittings with long names of exams, places and batches, in every status."""
    course = CourseFactory(title="安全生产执法业务培训（分行业）危险化学品与工商贸专题")
    sittings = []
    for i, status in enumerate(SittingStatus.values * 3):
        exam = ExamFactory(
            region=regions["sjz"], title=f"2025年度安全生产行政执法人员执法资格考试（煤矿、非煤矿山）{i}", course=course
        )
        batch = BatchFactory(region=regions["sjz"], course=course) if i % 2 else None
        sittings.append(
            SittingFactory(
                exam=exam,
                batch=batch,
                status=status,
                held_on=dt.date(2025, 6, 1) + dt.timedelta(days=i),
                place="河北省应急管理厅培训中心第三考点（石家庄市长安区建设北大街）",
            )
        )
    for i in range(6):
        person = InspectorFactory(region=regions["changan"], name=f"欧阳明{i}")
        ResultFactory(sitting=sittings[0], inspector=person)
        CertificateFactory(holder=person)
    return sittings


def test_the_exams_admin_fits_1366_pixels(chromium, live_server, a_full_year):
    from playwright.sync_api import sync_playwright

    sitting_id = a_full_year[0].pk
    pages = [*PAGES, f"/admin/exams/sitting/{sitting_id}/change/", f"/admin/exams/sitting/{sitting_id}/grid/"]
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/admin/login/")
            page.fill("#id_username", "sjz_admin")
            page.fill("#id_password", "pass-Word-123")
            page.locator("input[type=submit]").click()
            page.wait_for_url(f"{live_server.url}/admin/")
            for url in pages:
                # when
                page.goto(f"{live_server.url}{url}")
                # then
                width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert width <= inner, (url, width, inner)
            page.goto(f"{live_server.url}/admin/exams/sitting/")
            line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight) || 20")
            for cell in ("td.field-place_display", "td.field-status"):
                box = page.locator(cell).first.bounding_box()
                assert box["x"] + box["width"] <= 1366, cell
                text_height = page.locator(cell).first.evaluate(
                    "e => { const r = document.createRange(); r.selectNodeContents(e);"
                    " return r.getBoundingClientRect().height; }"
                )
                assert 0 < text_height < 1.5 * line, (cell, text_height)  # one line, not a character a line
        finally:
            browser.close()
