"""The overview page in headless Chromium: a city admin logs in through the admin login,
opens the overview, and sees the key figures and both charts drawn.

Needs Debian's /usr/bin/chromium and the Playwright package (no downloaded browser):
skipped with the reason when either is missing, failed instead under REQUIRE_SERVICES=1.
A screenshot of the page is left in the test's tmp_path (``--basetemp`` to keep it).
"""

import contextlib
import datetime as dt
import importlib.util
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from personnel.models import Sector
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory, UserFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import BatchStatus, EnrollmentStatus

# Sync Playwright runs an event loop in this thread, and Django refuses ORM calls made while
# one runs. The test does its database work before starting the browser (see chromium_page);
# this covers anything that still reaches the ORM then.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pass-Word-123"
E = EnrollmentStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _require_browser():
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install playwright)")
    if not missing:
        return
    reason = "needs " + " and ".join(missing)
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def chromium_page():
    """A page in headless Chromium. Start it only once the test's database work is done:
    while Playwright's event loop runs in this thread, an ORM call gets a connection of its
    own that nothing closes (PostgreSQL then refuses to drop the test database)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        finally:
            browser.close()


@pytest.fixture
def city_year(regions):
    """Last year in 石家庄 (three counties' worth of sectors) and a little in 唐山."""
    year = timezone.localdate().year - 1
    # 32 hours a course: two completions reach the 60 required hours, one does not
    course = CourseFactory(code="SZ-01", title="行政执法三项制度专题培训", hours=Decimal("32.0"))
    sectors = list(Sector)
    people = []
    for i in range(12):
        region = regions["changan"] if i % 3 else regions["qiaoxi"]
        people.append(InspectorFactory(region=region, sector=sectors[i % 4], name=f"石{i}"))
    done = BatchStatus.COMPLETED
    for n, month in enumerate((3, 6, 9)):
        batch = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year, month, 1), status=done)
        for i, inspector in enumerate(people):
            if (i + n) % 4:
                EnrollmentFactory(batch=batch, inspector=inspector, status=E.COMPLETED if i % 5 else E.NO_SHOW)
    last = BatchFactory(course=course, region=regions["sjz"], starts_on=dt.date(year - 1, 5, 1), status=done)
    for inspector in people[:6]:
        EnrollmentFactory(batch=last, inspector=inspector, status=E.COMPLETED)
    ts_batch = BatchFactory(course=course, region=regions["ts"], starts_on=dt.date(year, 4, 1), status=done)
    EnrollmentFactory(
        batch=ts_batch,
        inspector=InspectorFactory(region=regions["lunan"], name="唐甲"),
        status=E.COMPLETED,
    )
    today = timezone.localdate()
    certificate = CertificateFactory(holder=people[0], issued_on=today - dt.timedelta(days=1800))
    certificate.valid_until = today + dt.timedelta(days=25)
    certificate.save()
    start = today + dt.timedelta(days=14)
    BatchFactory(course=course, region=regions["changan"], starts_on=start, enrollment_deadline=start)
    return year


def test_city_admin_logs_in_and_sees_figures_and_charts(live_server, city_admin, city_year, tmp_path):
    # given: the city admin's password is known
    _require_browser()
    city_admin.set_password(PASSWORD)
    city_admin.save()
    UserFactory(username="nobody")  # someone else exists; the page must not care
    username = city_admin.username
    with chromium_page() as page:
        _check_overview(page, live_server.url, username, city_year, tmp_path)


def _check_overview(page, base: str, username: str, year: int, tmp_path) -> None:
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    # when: they log in through the admin login and open the overview
    page.goto(f"{base}/admin/login/?next=/admin/overview/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/overview/$"))

    # then: the key figures are there, last year against the year before
    heading = page.locator("h1").first.inner_text()
    assert "统计概览" in heading and "石家庄市" in heading and str(year) in heading
    card = page.locator('.overview-card[data-key="person_times"]')
    assert card.locator(".card-value").inner_text() == "27"  # 3 batches x 9 of the 12
    assert "同比" in card.locator(".card-change").inner_text()
    assert page.locator(".overview-card").count() == 8
    # and both charts are drawn, one bar per category and measure, with room taken
    assert page.locator("svg.bar-chart").count() == 2
    assert page.locator("#sector-chart rect.bar").count() == 4 * 2
    assert page.locator("#city-chart rect.bar").count() == 2 * 2
    widths = [float(w) for w in page.locator("rect.bar").evaluate_all("els => els.map(e => e.getBBox().width)")]
    assert max(widths) > 100
    # and the lists: the certificate about to expire, the batch about to start
    assert "25" in page.locator("#expiring tbody").inner_text()
    assert "长安区" in page.locator("#upcoming tbody").inner_text()
    # and nothing of the other city
    assert "唐山市" not in page.content()
    # and the page's own stylesheet came from the app, and no outside host was asked
    assert page.evaluate("getComputedStyle(document.querySelector('.overview-cards')).display") == "grid"
    assert any(url.endswith("/static/reports/overview.css") for url in requested)
    assert all(url.startswith((base, "data:")) for url in requested), requested

    shot = tmp_path / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
