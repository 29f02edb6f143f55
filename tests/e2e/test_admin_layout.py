"""Every admin list fits an office screen: a city admin and a province admin, on the demo
province (seed_demo) plus rows with long course titles, long places and long names, open the
admin index, the overview and every list they may see at 1366x768 and 1440x900 in headless
Chromium (in Chinese; at 1366 in English too). On each page:

- nothing scrolls sideways: neither the page nor any box in it (the list's own scroll box
  included, where Django's admin hides a table wider than its column);
- no table cell is squeezed to a character or two a line (narrower than 28 px with more than
  two characters in it);
- no constraint or field name (``batch_ends_after_start``) and no number in E notation
  (``4E+1``) in the text a person reads.

Screenshots of every page go to E2E_SCREENSHOT_DIR when it is set (else the test's tmp_path).
Skipped when Chromium or Playwright is missing, except under REQUIRE_SERVICES=1 (CI).
"""

import datetime as dt
import io
import os
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from exams import services as exam_services
from personnel.models import Region, Sector
from tests.exams.factories import CertificateFactory
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus

# Sync Playwright runs an event loop in this thread, and Django refuses ORM calls made while
# one runs; the test reads the database before the browser starts.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

PASSWORD = "demo-pass-2024"  # seed_demo's accounts
# (width, height, language): both sizes in Chinese, and the office screen in English, whose
# longer headings and dates ("Sept. 15, 2025") must fit too.
RUNS = [(1366, 768, "zh-hans"), (1440, 900, "zh-hans"), (1366, 768, "en")]
LONG_COURSE = "危险化学品重大危险源企业安全生产标准化与双重预防机制建设执法检查实务专题培训（含典型案例剖析）"
LONG_PLACE = "石家庄市应急管理综合行政执法支队培训基地（长安区建设北大街与和平东路交叉口东北角）"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONSTRAINT_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+){2,}\b")
E_NOTATION = re.compile(r"\d[eE]\+\d")

MEASURE = """() => {
  const visible = (el) => el.offsetParent !== null || getComputedStyle(el).position === "fixed";
  const root = document.documentElement;
  const wide = [];
  if (root.scrollWidth > window.innerWidth) {
    wide.push(`page ${root.scrollWidth} px in a ${window.innerWidth} px window`);
  }
  for (const el of document.querySelectorAll("body *")) {
    const style = getComputedStyle(el);
    if (!["auto", "scroll"].includes(style.overflowX) || !visible(el)) continue;
    if (["TEXTAREA", "SELECT", "INPUT"].includes(el.tagName)) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      const name = el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + [...el.classList].join(".");
      wide.push(`${name} scrolls sideways: ${el.scrollWidth} px in ${el.clientWidth} px`);
    }
  }
  const squeezed = [...document.querySelectorAll("th, td")]
    .filter((cell) => visible(cell) && cell.innerText.trim().length > 2 && cell.clientWidth < 28)
    .map((cell) => `${cell.className || cell.tagName}: "${cell.innerText.trim().slice(0, 20)}" ${cell.clientWidth} px`);
  return {wide, squeezed, text: document.body.innerText};
}"""


def lists_for(user) -> list[str]:
    """The admin index, the overview and every list the user may see (the admin decides)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    lists = sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_view_permission(request)
    )
    return ["/admin/", "/admin/overview/", *lists]


@pytest.fixture
def office_day(db):
    """The demo province, plus the long cases: a course with a 50-character title run as
    batches in 石家庄市 and the province, a sitting at a long place, inspectors with long
    names enrolled and certified."""
    call_command("seed_demo", inspectors=300, stdout=io.StringIO())
    province = Region.objects.get(code="130000")
    sjz = Region.objects.get(code="130100")
    course = CourseFactory(code="HY-99", title=LONG_COURSE, hours=Decimal("24.5"))
    today = dt.date.today()
    batches = [
        BatchFactory(
            course=course,
            number=900 + n,  # above any number the demo gives (it grows with the demo)
            region=region,
            sector=Sector.HAZARDOUS_CHEMICALS,
            starts_on=today + dt.timedelta(days=20 + 7 * n),
            place=LONG_PLACE,
            capacity=120,
        )
        for n, region in enumerate([sjz, sjz, province])
    ]
    names = ["阿依古丽·买买提艾力", "欧阳晓晨", "司马长风"]
    for n, name in enumerate(names):
        inspector = InspectorFactory(name=name, region=sjz, sector=Sector.HAZARDOUS_CHEMICALS)
        EnrollmentFactory(batch=batches[0], inspector=inspector)
        EnrollmentFactory(
            batch=batches[2], inspector=inspector, status=EnrollmentStatus.WAITLISTED, waitlist_position=n + 1
        )
        CertificateFactory(holder=inspector, region=sjz)
    exam = exam_services.exam_create(
        actor=None,
        title=f"{LONG_COURSE}结业考试",
        kind="course",
        region=sjz,
        course=course,
        parts=[
            ("危险化学品安全生产法律法规与标准规范", Decimal("40")),
            ("重大危险源与双重预防机制执法检查实务", Decimal("60")),
        ],
    )
    exam_services.sitting_create(actor=None, exam=exam, held_on=today + dt.timedelta(days=40), place=LONG_PLACE)
    users = get_user_model().objects.filter(username__in=["sjz_admin", "province_admin"])
    return {user.username: lists_for(user) for user in users.order_by("-username")}


def problems_on(page, url: str) -> list[str]:
    found = page.evaluate(MEASURE)
    names = set(CONSTRAINT_NAME.findall(found["text"]))
    return [
        *(f"{url}: {w}" for w in found["wide"]),
        *(f"{url}: squeezed cell {s}" for s in found["squeezed"]),
        *(f"{url}: constraint-like name {n!r} in the text" for n in sorted(names)),
        *(f"{url}: number in E notation {m!r}" for m in E_NOTATION.findall(found["text"])),
    ]


def test_every_admin_list_fits_1366_and_1440(chromium_available, live_server, office_day, screenshot_dir):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            for username, urls in office_day.items():
                assert len(urls) > 8, urls  # the lists of every app, not only one
                for width, height, language in RUNS:
                    context = browser.new_context(
                        viewport={"width": width, "height": height},
                        locale="en-US" if language == "en" else "zh-CN",
                        extra_http_headers={"Accept-Language": language},
                    )
                    context.set_default_timeout(20_000)
                    page = context.new_page()
                    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
                    page.fill("#id_username", username)
                    page.fill("#id_password", PASSWORD)
                    page.click("input[type=submit]")
                    page.wait_for_url(f"{live_server.url}/admin/")
                    for url in urls:
                        response = page.goto(f"{live_server.url}{url}")
                        assert response.status == 200, (username, url, response.status)
                        assert page.locator("html").get_attribute("lang") == language
                        problems += [f"{username} {width}px {language} {p}" for p in problems_on(page, url)]
                        name = f"{username}-{width}-{language}-{url.strip('/').replace('/', '-')}.png"
                        page.screenshot(path=str(screenshot_dir / name), full_page=True)
                    context.close()
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
