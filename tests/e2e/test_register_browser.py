"""The public register in headless Chromium: axe-core (wcag2a, wcag2aa) finds nothing on
/register/ and /register/changes/ (a full page with its pager, a filtered one, an empty one,
a refused query) at 1366 x 768 and 390 x 844, in zh-hans and en; no Content-Security-Policy
violation; the filter form works by keyboard alone (type a name, pick a region, Enter) and
the pager's links keep the filters.

The holders are made with factories before the browser starts (nothing reads the database
while it runs)."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from exams import numbers, services
from personnel.models import Sector
from tests.e2e.test_production_static import CSP_LISTENER, csp_violations
from tests.factories import InspectorFactory, RegionAdminFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js")
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]},
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => `${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}: ${v.help}`);
}"""
SIZES = ({"width": 1366, "height": 768}, {"width": 390, "height": 844})


@pytest.fixture
def holders(regions, settings):
    settings.VERIFY_RATE = "10000/min"
    admin = RegionAdminFactory(user__username="prov-register", region=regions["province"]).user
    made = {}
    for n in range(23):
        person = InspectorFactory(name=f"执法员{n:02d}", region=regions["qiaoxi"], sector=Sector.COAL)
        made[person.name] = services.certificate_issue(holder=person, region=regions["sjz"], actor=admin)
    li = InspectorFactory(
        name="李建国", region=regions["lunan"], sector=Sector.HAZARDOUS_CHEMICALS, unit="唐山市路南区安全生产监察大队"
    )
    made["李建国"] = services.certificate_issue(holder=li, region=regions["ts"], actor=admin)
    services.certificate_revoke(certificate=made["执法员00"], reason="出借执法证", actor=admin)
    return made


def test_the_register_in_the_browser(chromium_available, live_server, holders):
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    problems: list[str] = []
    li = holders["李建国"]
    pages = [
        "/register/",
        "/register/?page=2",
        "/register/?q=李建国",
        "/register/?q=没有这个人",
        "/register/?page=٣",  # refused: 400 with the reason
        "/register/changes/",
        "/register/changes/?sector=hazardous_chemicals&region=130200",
    ]

    def on_console(message):
        where = message.page.url if message.page else "?"
        problems.extend(f"{where}: {text}" for text in csp_violations([message.text]))

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            for language in ("zh-hans", "en"):
                context = browser.new_context(locale="en-US" if language == "en" else "zh-CN")
                context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}])
                context.add_init_script(path=str(AXE))
                context.add_init_script(CSP_LISTENER)
                context.on("console", on_console)
                page = context.new_page()
                for size in SIZES:
                    page.set_viewport_size(size)
                    for path in pages:
                        response = page.goto(base + path)
                        assert response.status in (200, 400), (path, response.status)
                        where = f"{path} [{language}, {size['width']}]"
                        assert page.evaluate("document.documentElement.lang") == language, where
                        problems += [f"{where}: {v}" for v in page.evaluate(AXE_RUN)]
                context.close()

            # keyboard only, on a phone: type a name, pick a region, Enter
            context = browser.new_context(viewport=SIZES[1], locale="zh-CN")
            page = context.new_page()
            page.goto(base + "/verify/")
            page.get_by_role("link", name="查看行政执法人员公示（持证人员名单及近期变动）").click()
            expect(page.get_by_role("heading", name="行政执法人员公示")).to_be_visible()
            expect(page.get_by_role("heading", name="共 23 条")).to_be_visible()  # 执法员00 revoked
            page.get_by_label("姓名、证号或单位").focus()
            page.keyboard.type("监察大队")
            page.keyboard.press("Tab")
            page.get_by_label("地区").select_option(label="\u3000唐山市")
            page.get_by_label("姓名、证号或单位").press("Enter")
            expect(page.get_by_role("heading", name="共 1 条")).to_be_visible()
            row = page.get_by_role("row").filter(has_text="李建国")
            expect(row).to_contain_text("唐山市路南区安全生产监察大队")
            expect(row).to_contain_text(numbers.printed(li.number))
            expect(row).to_contain_text(li.valid_until.isoformat())
            assert "q=%E7%9B%91%E5%AF%9F%E5%A4%A7%E9%98%9F" in page.url and "region=130200" in page.url

            # the pager keeps the filters
            page.goto(base + "/register/?region=130100")
            page.get_by_role("link", name="下一页").click()
            expect(page.get_by_text("第 2 / 2 页")).to_be_visible()
            assert page.url.endswith("/register/?region=130100&page=2")

            # the changes: the revocation today
            page.get_by_role("link", name="查看近 90 天的变动").click()
            row = page.get_by_role("row").filter(has_text="吊销")
            expect(row).to_contain_text("执法员00")
            expect(row).to_contain_text(timezone.localdate().isoformat())
            context.close()
        finally:
            browser.close()
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
