"""A certificate from application to the public register, in the admin, in headless Chromium
at 1366 x 768 (issue 14):

 1. the 长安区 admin opens the apply page for an inspector who passed the qualification exam
    (申领), checks the conditions (符合条件) and submits; the chain is county -> city ->
    province, so the county approves its own level from the application list;
 2. the 石家庄市 admin approves (action 批准所选申请); no certificate yet;
 3. the province's admin approves: the certificate is issued;
 4. the province's admin prints the card from the certificate list (action 打印执法证, one
    card per page): a PDF is downloaded, non-empty;
 5. anyone finds the holder on /register/ by name: unit, printed number, valid until.

Every page visited is screenshotted (NN-step.png in E2E_SCREENSHOT_DIR/certificate-flow). The
data is made with factories before the browser starts, and read again after it closed.
"""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from exams import numbers
from exams.models import ApplicationState, Certificate, CertificateApplication, CertificateEvent
from personnel import services as personnel_services
from tests.exams.factories import ResultFactory
from tests.factories import InspectorFactory, RegionAdminFactory

try:  # the module is collected without Playwright; the chromium_available fixture skips it
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    expect = sync_playwright = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-Word-123"
NAME = "韩立新"
UNIT = "石家庄市长安区应急管理局执法大队"


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), (40, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def flow(regions, settings, tmp_path):
    """The three admins (长安区, 石家庄市, the province), and 韩立新 of 长安区 with a photo and
    a pass of the province's qualification exam ten days ago."""
    settings.MEDIA_ROOT = tmp_path / "media"
    admins = {
        "county": RegionAdminFactory(user__username="changan_admin", region=regions["changan"]).user,
        "city": RegionAdminFactory(user__username="sjz_admin", region=regions["sjz"]).user,
        "province": RegionAdminFactory(user__username="prov", region=regions["province"]).user,
    }
    person = InspectorFactory(name=NAME, region=regions["changan"], unit=UNIT)
    personnel_services.inspector_photo_set(actor=admins["province"], inspector=person, data=_photo())
    ResultFactory(
        inspector=person,
        sitting__exam__region=regions["province"],
        sitting__held_on=timezone.localdate() - dt.timedelta(days=10),
    )
    return {"inspector": person.pk}


class Walk:
    def __init__(self, page, base: str, folder):
        self.page, self.base, self.folder, self.step = page, base, folder, 0
        self.errors: list[str] = []
        page.on(
            "response",
            lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 500 else None,
        )

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        self.page.wait_for_load_state()
        assert not self.errors, f"{name}: server errors {self.errors}"
        self.step += 1
        self.page.screenshot(path=str(self.folder / f"{self.step:02d}-{name}.png"), full_page=True)

    def login(self, username: str) -> None:
        self.page.context.clear_cookies()
        self.go("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        with self.page.expect_navigation():
            self.page.locator("#login-form [type=submit]").click()
        assert self.page.url == f"{self.base}/admin/", self.page.url

    def action(self, row_text: str, value: str) -> None:
        """Tick the changelist row showing ``row_text`` and run the action ``value``."""
        row = self.page.locator("#result_list tbody tr", has_text=row_text)
        row.locator("input.action-select").check()
        self.page.locator("select[name=action]").select_option(value)
        with self.page.expect_navigation():
            self.page.locator("#changelist-form button[name=index]").click()


def test_apply_approve_print_and_find_on_the_register(chromium_available, live_server, flow, screenshot_dir):
    folder = screenshot_dir / "certificate-flow"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    applications = "/admin/exams/certificateapplication/"

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(
                viewport={"width": 1366, "height": 768}, locale="zh-CN", accept_downloads=True
            )
            context.set_default_timeout(20_000)
            walk = Walk(context.new_page(), live_server.url, folder)
            page = walk.page

            # 1. the county applies (申领) and approves its own level
            walk.login("changan_admin")
            walk.go(f"{applications}apply/?ids={flow['inspector']}")
            page.get_by_label("申请类别").select_option("issue")
            with page.expect_navigation():
                page.locator("#apply-form input[name=check]").click()
            expect(page.locator("#apply-rows")).to_contain_text("符合条件")
            walk.shot("county-checked")
            with page.expect_navigation():
                page.locator("#apply-form input[name=confirm]").click()
            expect(page.locator("ul.messagelist")).to_contain_text("已提交 1 件申请。")
            walk.shot("county-submitted")
            walk.action(NAME, "approve")
            expect(page.locator("ul.messagelist")).to_contain_text("已批准 1 件申请。")
            walk.shot("county-approved")

            # 2. the city approves
            walk.login("sjz_admin")
            walk.go(applications)
            walk.action(NAME, "approve")
            expect(page.locator("ul.messagelist")).to_contain_text("已批准 1 件申请。")
            walk.shot("city-approved")

            # 3. the province approves: the certificate is issued
            walk.login("prov")
            walk.go(applications)
            walk.action(NAME, "approve")
            expect(page.locator("ul.messagelist")).to_contain_text("已批准 1 件申请。")
            expect(page.locator("#result_list tbody tr", has_text=NAME)).to_contain_text("已办结")
            walk.shot("province-approved")

            # 4. the province prints the card, one per page
            walk.go("/admin/exams/certificate/")
            walk.action(NAME, "print_cards")
            expect(page.locator("#print-certificates")).to_contain_text(NAME)
            page.locator("#print-form input[type=radio][value=card]").check()
            walk.shot("print-cards")
            with page.expect_download() as download:
                page.locator("#print-form [type=submit]").first.click()
            pdf = Path(download.value.path()).read_bytes()
            assert pdf.startswith(b"%PDF") and len(pdf) > 2_000, len(pdf)
            (folder / "card.pdf").write_bytes(pdf)

            # 5. anyone finds the holder on the public register
            page.context.clear_cookies()
            walk.go("/register/")
            page.get_by_label("姓名、证号或单位").fill(NAME)
            with page.expect_navigation():
                page.get_by_label("姓名、证号或单位").press("Enter")
            row = page.get_by_role("row").filter(has_text=NAME)
            expect(row).to_have_count(1)
            expect(row).to_contain_text(UNIT)
            walk.shot("register")
            shown = row.inner_text()
        finally:
            browser.close()

    # then: what the pages said is what the database holds
    application = CertificateApplication.objects.get(inspector_id=flow["inspector"])
    assert application.state == ApplicationState.APPROVED
    certificate = Certificate.objects.get(holder_id=flow["inspector"])
    assert numbers.printed(certificate.number) in shown
    assert certificate.valid_until.isoformat() in shown
    assert CertificateEvent.objects.filter(certificate=certificate, kind="card_printed").count() == 1
    levels = list(application.events.values_list("kind", "level"))
    assert levels == [
        ("submitted", "county"),
        ("approved", "county"),
        ("approved", "city"),
        ("approved", "province"),
        ("carried_out", "province"),
    ]
