"""The training office's whole day in the admin, in headless Chromium at 1366 x 768.

Courses are shared by the whole province and only a provincial admin may create them
(training.admin.ProvincialOnlyMixin): so the provincial admin creates the course through the
admin form first; then the 石家庄市 admin does the rest of the day through the admin's forms,
buttons, links and actions, as a person would:

 1. adds a batch of the course (a first try with the end before the start is refused with a
    Chinese message and the form kept filled; then fixed), opens it (action 开放报名) and
    enrolls the city's coal-mine inspectors (action 批量报名);
 2. replaces one enrollment by a colleague (from the batch's enrollment list, the person
    found with the lookup; before completion: only a running batch takes replacements), then
    prints the sign-in sheet (A4);
 3. records attendance for each day, one person absent on the second day;
 4. previews the completion (the absent person listed with the day missed) and confirms it;
 5. adds the qualification exam of the course and a sitting for the batch, and enters the
    scores in the score grid: each pass issues a certificate;
 6. opens one inspector's page (一人一档): the training, its hours, the exam score and the
    certificate number are there; then the printable dossier and the year's 学时证明 (A4).

Every page visited is screenshotted (NN-step.png in E2E_SCREENSHOT_DIR/office-day; CI keeps
them); on every page the visible text shows no database constraint name and no number in
exponent notation (4E+1), and no list page (changelist) scrolls sideways at 1366 px.

The fixture data (regions, the two admins, the inspectors) is made with factories before the
browser starts; nothing reads the database while the browser runs (see test_overview_browser).
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone

from personnel.models import Sector
from tests.factories import InspectorFactory, RegionAdminFactory, national_id_for

try:  # the module is collected without Playwright; the chromium_available fixture skips it
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    expect = sync_playwright = None

PASSWORD = "pass-Word-123"
WIDTH, HEIGHT = 1366, 768
PROJECT_APPS = ("core", "personnel", "training", "exams", "reports")
EXPONENT = re.compile(r"\d(\.\d+)?E[+-]?\d")

COURSE_CODE = "SJZ-SX-01"
COURSE_TITLE = "安全生产行政执法三项制度专题培训"
COURSE_HOURS = "16"
EXAM_TITLE = "石家庄市行政执法资格考试"
PARTS = [("通用法律知识", "40"), ("专门法律知识", "60")]
PLACE = "石家庄市应急管理局培训中心"

# 石家庄's coal-mine inspectors (bulk enrolled, in 长安区 and 桥西区) and two of another sector.
COAL = ["王小明", "李国强", "张丽华", "赵建军", "刘海涛", "陈晓东", "杨志刚", "黄文静", "周建平", "吴春梅"]
OTHER_SECTOR = ["孙立新", "郑秀英"]
OTHER_CITY = "唐山执法员"
ABSENT = "赵建军"  # misses the second day: a no-show
REPLACED, REPLACEMENT = "吴春梅", "孙立新"  # replaced before the training starts
REASON = "因公出差，不能参训"
TARGET = "王小明"  # whose page (一人一档) is checked at the end
# The score grid: a score per part, or None for absent. 王小明 passes with 78.5, 张丽华 fails.
SCORES = {
    TARGET: ("32", "46.5"),
    "李国强": ("30", "40"),
    "张丽华": ("20", "25"),
    "刘海涛": None,
    "陈晓东": ("35", "50"),
    "杨志刚": ("28", "33"),
    "黄文静": ("36", "52.5"),
    "周建平": ("25", "36"),
    REPLACED: ("31", "41"),
    REPLACEMENT: ("31", "41"),
}
PASSED = 7

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def constraint_names() -> set[str]:
    """The names of every constraint of the project's models (what a database refusal or a
    bare model validation would show a person)."""
    return {
        constraint.name
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS
        for constraint in model._meta.constraints
    }


@pytest.fixture
def office(regions):
    """The region tree, a provincial admin, the 石家庄市 admin, the city's twelve inspectors
    and one in 唐山; the inspectors' ids by name."""
    RegionAdminFactory(user__username="prov", region=regions["province"])
    RegionAdminFactory(user__username="sjz_admin", region=regions["sjz"])
    ids = {}
    for k, name in enumerate(COAL + OTHER_SECTOR):
        county = regions["changan" if k % 2 == 0 else "qiaoxi"]
        ids[name] = InspectorFactory(
            name=name,
            region=county,
            national_id=national_id_for(county.code, seq=100 + k),
            sector=Sector.COAL if name in COAL else Sector.NON_COAL_MINE,
        ).pk
    ids[OTHER_CITY] = InspectorFactory(
        name=OTHER_CITY, region=regions["lunan"], national_id=national_id_for("130202", seq=300)
    ).pk
    return ids


def labelled(page, label: str):
    """The form field labelled ``label`` (the admin writes "名额:"), and not a fieldset or
    another field whose label merely contains the word."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*[:：]?\s*$"))


def a4_pdf(page) -> bytes:
    """A print view: an @page rule of size A4 in its styles, and printed (Chromium prints
    headless) one or two pages of A4. The PDF."""
    rules = page.evaluate(
        """() => [...document.styleSheets].flatMap(s => [...s.cssRules])
                 .filter(r => r.type === CSSRule.PAGE_RULE).map(r => r.cssText)"""
    )
    assert any("size: a4" in rule.lower() for rule in rules), f"{page.url}: no A4 @page rule in {rules}"
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert 1 <= pages <= 2, f"{page.url}: {pages} pages of A4"
    return pdf


@dataclass
class Walk:
    """One person at the admin: go, act, and on every page check the rules and keep a
    screenshot. Also what the day has made so far (ids read from the pages)."""

    page: object
    base: str
    folder: Path
    forbidden: set[str]
    ids: dict
    days: list
    step: int = 0
    server_errors: list = field(default_factory=list)
    script_errors: list = field(default_factory=list)
    batch_id: int | None = None
    seated: list = field(default_factory=list)  # who holds a seat in the batch now
    certificate: str = ""

    def __post_init__(self):
        self.watch(self.page)

    def watch(self, page) -> None:
        def on_response(response):
            if response.status >= 500 and response.request.resource_type == "document":
                self.server_errors.append(f"{response.status} {response.url}")

        page.on("response", on_response)
        page.on("pageerror", lambda error: self.script_errors.append(f"{page.url}: {error}"))

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str, page=None) -> None:
        """The rules every page keeps, then its screenshot (NN-name.png)."""
        page = page or self.page
        page.wait_for_load_state()
        self.step += 1
        where = f"step {self.step} ({name}, {page.url})"
        assert not self.server_errors, f"{where}: server error: {self.server_errors}"
        assert not self.script_errors, f"{where}: script error: {self.script_errors}"
        text = page.evaluate("document.body.innerText")
        shown = sorted(n for n in self.forbidden if n in text)
        assert not shown, f"{where}: constraint name shown: {shown}"
        # what the fields hold counts too (a score input showing 4E+1)
        values = page.evaluate(
            """[...document.querySelectorAll('input[type=text], input[type=number], input:not([type]), textarea')]
               .map(e => e.value).join('\\n')"""
        )
        exponent = EXPONENT.search(text) or EXPONENT.search(values)
        assert exponent is None, f"{where}: a number in exponent notation: {exponent.group(0)!r}"
        if page.locator("#changelist").count():
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= WIDTH, f"{where}: the list scrolls sideways ({scroll} > {WIDTH} px)"
        page.screenshot(path=str(self.folder / f"{self.step:02d}-{name}.png"), full_page=True)

    def login(self, username: str) -> None:
        self.page.context.clear_cookies()
        self.go("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.submit(self.page.locator("#login-form [type=submit]"))
        assert self.page.url == f"{self.base}/admin/", self.page.url

    def submit(self, button) -> None:
        """Click what sends a form or follows a link, and wait for the page that answers."""
        with self.page.expect_navigation():
            button.click()

    def action(self, row_text: str, label: str) -> None:
        """Tick the changelist row showing ``row_text`` and run the action ``label``."""
        row = self.page.locator("#result_list tbody tr", has_text=row_text)
        row.locator("input.action-select").check()
        self.page.locator("select[name=action]").select_option(label=label)
        self.submit(self.page.locator("#changelist-form button[name=index]"))

    def popup(self, link):
        """Follow a link that opens a new tab (the print views); the new page, loaded."""
        with self.page.expect_popup() as opened:
            link.click()
        page = opened.value
        self.watch(page)
        page.wait_for_load_state()
        return page

    def printed(self, name: str, page) -> None:
        """A print view: checked as every page, its A4 rule and length, the PDF kept beside
        the screenshots."""
        pdf = a4_pdf(page)
        self.check(name, page=page)
        (self.folder / f"{self.step:02d}-{name}.pdf").write_bytes(pdf)

    @property
    def messages(self):
        return self.page.locator("ul.messagelist")


# --- the stages of the day, in order ----------------------------------------------------------


def course_by_province(walk: Walk) -> None:
    page = walk.page
    walk.login("prov")
    walk.go("/admin/training/course/add/")
    page.fill("#id_code", COURSE_CODE)
    page.fill("#id_title", COURSE_TITLE)
    for topic in ("行政执法公示", "执法全过程记录", "重大执法决定法制审核"):
        page.get_by_label(topic, exact=True).check()
    page.fill("#id_hours", COURSE_HOURS)
    walk.check("course-add")
    walk.submit(page.get_by_role("button", name="保存", exact=True))
    expect(page.locator("#result_list")).to_contain_text(COURSE_TITLE)
    walk.check("course-list")


def batch_refused_then_saved(walk: Walk) -> None:
    page = walk.page
    starts, ends = walk.days[0], walk.days[-1]
    walk.login("sjz_admin")
    walk.check("admin-home")
    walk.go("/admin/training/batch/add/")
    labelled(page, "课程").select_option(label=f"{COURSE_CODE} {COURSE_TITLE}")
    labelled(page, "组织单位").select_option(label="石家庄市")
    labelled(page, "开始日期").fill(starts.isoformat())
    labelled(page, "结束日期").fill((starts - dt.timedelta(days=1)).isoformat())  # before the start
    labelled(page, "报名截止日期").fill(ends.isoformat())
    labelled(page, "地点").fill(PLACE)
    labelled(page, "名额").fill("30")
    walk.submit(page.get_by_role("button", name="保存并继续编辑"))

    # then: refused in Chinese, the form as it was typed
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".errorlist", has_text="结束日期不能早于开始日期。")).to_be_visible()
    expect(labelled(page, "地点")).to_have_value(PLACE)
    expect(labelled(page, "名额")).to_have_value("30")
    expect(labelled(page, "开始日期")).to_have_value(starts.isoformat())
    walk.check("batch-refused")

    labelled(page, "结束日期").fill(ends.isoformat())
    walk.submit(page.get_by_role("button", name="保存并继续编辑"))
    expect(walk.messages).to_contain_text("成功")
    walk.batch_id = int(re.search(r"/batch/(\d+)/change/", page.url).group(1))
    walk.check("batch-saved")


def batch_opened_and_enrolled(walk: Walk) -> None:
    page = walk.page
    walk.go("/admin/training/batch/")
    walk.action(COURSE_TITLE, "开放报名")
    expect(walk.messages).to_contain_text("已开放报名：1 个批次")
    expect(page.locator("#result_list tbody tr", has_text=COURSE_TITLE)).to_contain_text("报名中")
    walk.check("batch-opened")

    walk.action(COURSE_TITLE, "批量报名（按行业与地区）")
    labelled(page, "行业").select_option(label="煤矿")
    walk.check("bulk-enroll-form")
    walk.submit(page.get_by_role("button", name="批量报名"))
    expect(walk.messages).to_contain_text(f"报名 {len(COAL)} 人，候补 0 人，未报名 0 人")
    walk.seated = list(COAL)
    walk.check("bulk-enrolled")

    # the enrollment list: the city's coal-mine people, nobody of another sector or city
    walk.go(f"/admin/training/batch/{walk.batch_id}/change/")
    walk.check("batch-enrolled")
    walk.submit(page.get_by_role("link", name=f"报名名单（{len(COAL)}）"))
    listed = page.locator("#result_list tbody")
    for name in COAL:
        expect(listed).to_contain_text(name)
    for name in [*OTHER_SECTOR, OTHER_CITY]:
        expect(listed).not_to_contain_text(name)
    walk.check("enrollments")


def enrollment_replaced(walk: Walk) -> None:
    """吴春梅 cannot come: 孙立新 (another sector; the batch is for all sectors) takes her
    seat, found through the inspector lookup of the replace form."""
    page = walk.page
    row = page.locator("#result_list tbody tr", has_text=REPLACED)
    # the row's own link (the name links to the person's page)
    walk.submit(row.locator("a[href*='/admin/training/enrollment/']:visible").first)
    expect(page.locator("#content")).to_contain_text(REPLACED)
    walk.check("enrollment")
    walk.submit(page.get_by_role("link", name="替换", exact=True))
    with page.expect_popup() as opened:
        page.locator("#lookup_id_inspector").click()
    lookup = opened.value
    walk.watch(lookup)
    lookup.wait_for_load_state()
    lookup.locator("#searchbar").fill(REPLACEMENT)
    with lookup.expect_navigation():
        lookup.locator("#searchbar").press("Enter")
    walk.check("replace-lookup", page=lookup)
    with lookup.expect_event("close"):
        lookup.locator("#result_list tbody a", has_text=REPLACEMENT).click()
    expect(page.locator("#id_inspector")).to_have_value(str(walk.ids[REPLACEMENT]))
    labelled(page, "原因").fill(REASON)
    walk.check("replace-form")
    walk.submit(page.get_by_role("button", name="确认替换"))
    expect(walk.messages).to_contain_text(f"已由 {REPLACEMENT} 替换 {REPLACED}")
    walk.seated = [name for name in walk.seated if name != REPLACED] + [REPLACEMENT]
    walk.check("replaced")


def sign_in_sheet(walk: Walk) -> None:
    walk.go(f"/admin/training/batch/{walk.batch_id}/change/")
    sheet = walk.popup(walk.page.get_by_role("link", name="签到表"))
    table = sheet.locator("#sign-in-sheet")
    expect(table.locator("tbody tr")).to_have_count(len(walk.seated))
    for name in walk.seated:
        expect(table).to_contain_text(name)
    for day in walk.days:
        expect(table).to_contain_text(f"{day:%m-%d} 签名")
    expect(sheet.locator("body")).to_contain_text(PLACE)
    walk.printed("sign-in-sheet", sheet)
    sheet.close()


def attendance_each_day(walk: Walk) -> None:
    page = walk.page
    walk.go(f"/admin/training/batch/{walk.batch_id}/change/")
    walk.submit(page.get_by_role("link", name="考勤登记"))
    seated = len(walk.seated)
    for k, _day in enumerate(walk.days):
        page.get_by_role("button", name="全部出勤").nth(k).click()
        if k == 1:
            row = page.locator("#attendance-grid tbody tr", has_text=ABSENT)
            row.get_by_role("checkbox", name=ABSENT).nth(k).uncheck()
        walk.check(f"attendance-day{k + 1}")
        walk.submit(page.get_by_role("button", name="保存考勤"))
        # the days recorded before are saved again with it, as they stand
        expect(walk.messages).to_contain_text(f"考勤已保存：{k + 1} 天，共 {(k + 1) * seated} 人次")
    walk.check("attendance-saved")


def completion_previewed_and_confirmed(walk: Walk) -> None:
    page = walk.page
    walk.submit(page.get_by_role("link", name="结业（预览）"))
    no_shows = page.locator("#plan-no-show tbody tr")
    expect(no_shows).to_have_count(1)
    expect(no_shows).to_contain_text(ABSENT)
    expect(no_shows).to_contain_text(f"{walk.days[1]:%m-%d}")
    expect(page.locator("#plan-completed")).to_contain_text(TARGET)
    walk.check("completion-preview")

    walk.submit(page.get_by_role("button", name="确认结业").first)  # above and below the plan
    expect(walk.messages).to_contain_text(f"结业 {len(walk.seated) - 1} 人")
    expect(walk.messages).to_contain_text("缺席 1 人")
    walk.check("batch-completed")
    walk.go("/admin/training/batch/")
    expect(page.locator("#result_list tbody tr", has_text=COURSE_TITLE)).to_contain_text("已结业")
    walk.check("batch-list-completed")


def exam_sitting_and_scores(walk: Walk) -> None:
    page = walk.page
    walk.go("/admin/exams/exam/add/")
    labelled(page, "考试名称").fill(EXAM_TITLE)
    labelled(page, "类别").select_option(label="执法资格考试")
    labelled(page, "课程").select_option(label=f"{COURSE_CODE} {COURSE_TITLE}")
    labelled(page, "组织地区").select_option(label="石家庄市")
    labelled(page, "及格分").fill("60")
    part_rows = page.locator(".inline-group tr.form-row:not(.empty-form)")
    for k, (part, full) in enumerate(PARTS):
        part_rows.nth(k).locator("input[name$='-name']").fill(part)
        part_rows.nth(k).locator("input[name$='-max_score']").fill(full)
        part_rows.nth(k).locator("input[name$='-order']").fill(str(k + 1))
    walk.check("exam-add")
    walk.submit(page.get_by_role("button", name="保存", exact=True))
    expect(page.locator("#result_list")).to_contain_text(EXAM_TITLE)
    walk.check("exam-list")

    walk.go("/admin/exams/sitting/add/")
    labelled(page, "考试").select_option(label=EXAM_TITLE)
    labelled(page, "考试日期").fill(walk.days[-1].isoformat())
    labelled(page, "考点").fill(PLACE)
    labelled(page, "培训批次").select_option(value=str(walk.batch_id))
    walk.check("sitting-add")
    walk.submit(page.get_by_role("button", name="保存并继续编辑"))
    walk.check("sitting-saved")

    walk.submit(page.get_by_role("link", name="成绩录入").first)
    # the candidates: the batch's completed people (not the no-show)
    candidates = {name: SCORES[name] for name in walk.seated if name != ABSENT}
    rows = page.locator("#score-grid tbody tr")
    expect(rows).to_have_count(len(candidates))
    expect(page.locator("#score-grid")).not_to_contain_text(ABSENT)
    for name, scores in candidates.items():
        row = rows.filter(has_text=name)
        if scores is None:
            row.get_by_role("checkbox").check()
            continue
        for (part, _full), score in zip(PARTS, scores, strict=True):
            row.get_by_role("textbox", name=f"{name} {part}", exact=True).fill(score)  # named by candidate and part
    walk.check("score-grid-filled")
    walk.submit(page.get_by_role("button", name="保存成绩"))

    # then: saved, the totals as people write them (78.5, never 7.85E+1), passes certified
    expect(walk.messages).to_contain_text(f"新增 {len(candidates)} 条")
    expect(walk.messages).to_contain_text(f"发证 {PASSED} 本")
    expect(rows.filter(has_text=TARGET)).to_contain_text("78.5")
    expect(rows.filter(has_text=TARGET)).to_contain_text("合格")
    expect(rows.filter(has_text="张丽华")).to_contain_text("不合格")
    walk.check("score-grid-saved")

    walk.go("/admin/exams/sitting/")
    walk.check("sittings")
    walk.go(f"/admin/exams/result/?q={EXAM_TITLE}")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(candidates))
    walk.check("results")


def certificate_issued(walk: Walk) -> None:
    page = walk.page
    walk.go("/admin/exams/certificate/")
    expect(page.locator("#result_list tbody tr")).to_have_count(PASSED)
    walk.check("certificates")
    row = page.locator("#result_list tbody tr", has_text=TARGET)
    expect(row).to_have_count(1)
    walk.certificate = row.locator("th, td").nth(1).inner_text().strip()
    assert re.fullmatch(r"13\d{10}[\dX]", walk.certificate), walk.certificate


def inspector_file(walk: Walk) -> None:
    page = walk.page
    walk.go("/admin/personnel/inspector/")
    listed = page.locator("#result_list tbody")
    expect(listed).to_contain_text(TARGET)
    expect(listed).not_to_contain_text(OTHER_CITY)
    walk.check("inspectors")
    walk.submit(page.locator("#result_list tbody a", has_text=TARGET))

    # 一人一档 on the inspector's page: the training, hours, exam score and certificate
    dossier = page.locator("#inspector-dossier")
    expect(dossier.get_by_role("heading", name="一人一档")).to_be_visible()
    training = dossier.locator("#dossier-training tr", has_text=COURSE_TITLE)
    expect(training).to_contain_text("已结业")
    expect(training).to_contain_text(COURSE_HOURS)
    expect(dossier.locator("#dossier-training")).to_contain_text(f"学时 {COURSE_HOURS}")
    exam = dossier.locator("#dossier-exams tr", has_text=EXAM_TITLE)
    expect(exam).to_contain_text("78.5")
    expect(exam).to_contain_text("合格")
    expect(dossier.locator("#dossier-certificates")).to_contain_text(walk.certificate)
    walk.check("inspector-dossier")

    # the printable dossier: the same file on A4
    printed = walk.popup(page.get_by_role("link", name="培训档案（打印）"))
    body = printed.locator("body")
    for shown in (TARGET, COURSE_TITLE, EXAM_TITLE, "78.5", walk.certificate):
        expect(body).to_contain_text(shown)
    walk.printed("dossier-print", printed)
    printed.close()

    # and the year's hours certificate (学时证明), to sign and seal: 16 of the 60 required
    year = walk.days[0].year  # the batch's year: the year it starts
    proof = walk.popup(dossier.locator(f"#dossier-year-{year}").get_by_role("link", name="学时证明"))
    expect(proof.locator("#hours-total")).to_have_text(COURSE_HOURS)
    expect(proof.locator("#hours-required")).to_have_text("60")
    expect(proof.locator("#hours-met")).to_have_text("未达标")
    expect(proof.locator("body")).to_contain_text(COURSE_TITLE)
    walk.printed("hours-certificate", proof)
    proof.close()


DAY = [
    course_by_province,
    batch_refused_then_saved,
    batch_opened_and_enrolled,
    enrollment_replaced,
    sign_in_sheet,
    attendance_each_day,
    completion_previewed_and_confirmed,
    exam_sitting_and_scores,
    certificate_issued,
    inspector_file,
]


def test_the_training_office_day(chromium_available, live_server, office, screenshot_dir):
    # given: what the walk needs from the database, read before the browser starts
    forbidden = constraint_names()
    assert {"batch_ends_after_start", "enrollment_once_per_batch"} <= forbidden
    today = timezone.localdate()
    days = [today - dt.timedelta(days=2 - k) for k in range(3)]  # a three-day batch ending today
    folder = screenshot_dir / "office-day"
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.png"), *folder.glob("*.pdf")]:
        old.unlink()

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_available)
        try:
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN")
            context.set_default_timeout(15_000)
            walk = Walk(context.new_page(), live_server.url, folder, forbidden, office, days)
            # when / then: each stage acts through the pages and checks what they show
            for stage in DAY:
                stage(walk)
        finally:
            browser.close()
