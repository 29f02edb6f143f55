"""The exams admin as a city admin uses it: scoped pages, an exam created with its parts,
the score grid (writes scores, shows every error next to its row, writes nothing then),
the score upload page, and the certificate actions with their refusals."""

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from exams.models import (
    Certificate,
    CertificateStatus,
    Exam,
    ExamEvent,
    ExamKind,
    Result,
    ResultChange,
    SittingStatus,
)
from tests import grid_a11y
from tests.exams.factories import (
    GENERAL,
    SPECIALIST,
    CertificateFactory,
    ExamFactory,
    ResultFactory,
    SittingFactory,
    parts_of,
)
from tests.factories import InspectorFactory
from tests.personnel.test_roster_import import xlsx

ADMIN = "/admin/exams"


@pytest.fixture
def browser(city_admin):
    client = Client()
    client.force_login(city_admin)
    return client


@pytest.fixture
def people(regions):
    return {
        "li": InspectorFactory(region=regions["changan"], name="李四"),
        "wang": InspectorFactory(region=regions["qiaoxi"], name="王五"),
        "zhao": InspectorFactory(region=regions["lunan"], name="赵六"),
    }


@pytest.fixture
def sitting(regions, people):
    """石家庄's qualification exam, open to anyone in scope (no batch)."""
    return SittingFactory(exam=ExamFactory(region=regions["sjz"], title="石家庄执法资格考试"))


def field(sitting, person, part_name):
    return f"s-{person.pk}-{parts_of(sitting.exam)[part_name].pk}"


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- pages load, scoped ----------------------------------------------------------------------


def test_the_pages_load_for_a_city_admin_and_are_scoped(browser, regions, sitting, people):
    # given
    other = SittingFactory(exam=ExamFactory(region=regions["ts"], title="唐山执法资格考试"))
    ResultFactory(sitting=sitting, inspector=people["li"])
    ResultFactory(sitting=other, inspector=people["zhao"])
    CertificateFactory(holder=people["li"])
    CertificateFactory(holder=people["zhao"])
    # when
    pages = {name: browser.get(f"{ADMIN}/{name}/") for name in ("exam", "sitting", "result", "certificate")}
    # then
    assert all(p.status_code == 200 for p in pages.values())
    assert "石家庄执法资格考试" in pages["exam"].content.decode()
    assert "唐山执法资格考试" not in pages["exam"].content.decode()
    assert "成绩录入" in pages["sitting"].content.decode()
    assert "李四" in pages["result"].content.decode() and "赵六" not in pages["result"].content.decode()
    assert "李四" in pages["certificate"].content.decode() and "赵六" not in pages["certificate"].content.decode()
    assert browser.get(f"{ADMIN}/sitting/{other.pk}/grid/").status_code == 404
    assert browser.get(f"{ADMIN}/sitting/{other.pk}/import/").status_code == 404
    result = Result.objects.get(inspector=people["li"])
    assert browser.get(f"{ADMIN}/result/{result.pk}/change/").status_code == 200
    assert browser.get(f"{ADMIN}/exam/{sitting.exam_id}/change/").status_code == 200
    assert browser.get(f"{ADMIN}/sitting/{sitting.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"{ADMIN}/sitting/add/widgets.css/change/",  # a relative URL a page once asked for
        f"{ADMIN}/sitting/no-such/change/",
        "/admin/training/batch/add/widgets.css/change/",
        "/admin/training/batch/no-such/change/",
    ],
)
def test_a_sitting_or_batch_that_is_no_id_is_the_admins_not_found_redirect_not_a_500(browser, path):
    response = browser.get(path)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == "/admin/"


def test_an_exam_is_added_with_its_parts_through_the_service(browser, regions):
    # when
    response = browser.post(
        f"{ADMIN}/exam/add/",
        {
            "title": "2025年结业考试",
            "kind": ExamKind.COURSE,
            "region": regions["sjz"].pk,
            "pass_mark": "60",
            "max_attempts": "2",
            "parts-TOTAL_FORMS": "2",
            "parts-INITIAL_FORMS": "0",
            "parts-MIN_NUM_FORMS": "1",
            "parts-MAX_NUM_FORMS": "1000",
            "parts-0-name": GENERAL,
            "parts-0-max_score": "40",
            "parts-0-order": "0",
            "parts-1-name": SPECIALIST,
            "parts-1-max_score": "60",
            "parts-1-order": "1",
        },
    )
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    exam = Exam.objects.get(title="2025年结业考试")
    assert [(p.name, p.max_score) for p in exam.parts.all()] == [(GENERAL, Decimal("40")), (SPECIALIST, Decimal("60"))]
    assert exam.max_attempts == 2


def test_an_exam_with_a_pass_mark_above_its_parts_is_shown_back(browser, regions):
    response = browser.post(
        f"{ADMIN}/exam/add/",
        {
            "title": "坏考试",
            "kind": ExamKind.COURSE,
            "region": regions["sjz"].pk,
            "pass_mark": "90",
            "max_attempts": "2",
            "parts-TOTAL_FORMS": "1",
            "parts-INITIAL_FORMS": "0",
            "parts-MIN_NUM_FORMS": "1",
            "parts-MAX_NUM_FORMS": "1000",
            "parts-0-name": GENERAL,
            "parts-0-max_score": "40",
            "parts-0-order": "0",
        },
    )
    assert response.status_code == 200
    assert "高于满分" in response.content.decode()
    assert not Exam.objects.filter(title="坏考试").exists()


# --- the score grid --------------------------------------------------------------------------


def test_the_grid_writes_scores_and_absences(browser, sitting, people):
    # given: a sitting without a batch; 王五 is already listed (recorded absent), 李四 is added by ID number
    ResultFactory(sitting=sitting, inspector=people["wang"], absent=True)
    parts = parts_of(sitting.exam)
    page = browser.get(f"{ADMIN}/sitting/{sitting.pk}/grid/")
    assert page.status_code == 200
    assert "王五" in page.content.decode()
    # when
    response = browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/grid/",
        {
            field(sitting, people["wang"], GENERAL): "20",
            field(sitting, people["wang"], SPECIALIST): "35.5",
            "n0-id": people["li"].national_id,
            f"n0-{parts[GENERAL].pk}": "",
            f"n0-{parts[SPECIALIST].pk}": "",
            "n0-a": "1",
        },
        follow=True,
    )
    # then
    assert response.redirect_chain[-1][0] == f"{ADMIN}/sitting/{sitting.pk}/grid/"
    assert any("成绩已保存" in m for m in messages_of(response))
    wang = Result.objects.get(inspector=people["wang"])
    assert (wang.score, wang.absent, wang.attempt) == (Decimal("55.5"), False, 1)
    assert Result.objects.get(inspector=people["li"]).absent
    assert set(ResultChange.objects.values_list("source", flat=True)) == {"grid"}
    assert ResultChange.objects.filter(result=wang, old_absent=True, new_score=Decimal("55.5")).exists()


def test_the_grid_shows_every_error_next_to_its_row_and_writes_nothing(browser, sitting, people, regions):
    # given
    ResultFactory(sitting=sitting, inspector=people["wang"], absent=True)
    first = InspectorFactory(region=regions["changan"], name="钱八")
    ResultFactory(sitting=sitting, inspector=first, score=Decimal("30"))
    parts = parts_of(sitting.exam)
    # when
    response = browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/grid/",
        {
            field(sitting, people["wang"], GENERAL): "45",  # above 40
            field(sitting, people["wang"], SPECIALIST): "abc",
            field(sitting, first, GENERAL): "35",
            field(sitting, first, SPECIALIST): "",  # missing
            "n0-id": people["zhao"].national_id,  # works in 唐山: unknown here
            f"n0-{parts[GENERAL].pk}": "10",
            f"n0-{parts[SPECIALIST].pk}": "10",
        },
    )
    # then
    assert response.status_code == 200
    page = response.content.decode()
    wang_row = _row(page, str(people["wang"].pk))
    assert "超过满分" in wang_row and "不是数字" in wang_row
    assert "缺少" in _row(page, str(first.pk))
    assert "未找到" in _row(page, "n0")
    assert 'value="abc"' in wang_row  # what was typed is kept
    assert "未写入任何成绩" in " ".join(messages_of(response))
    assert Result.objects.get(inspector=people["wang"]).absent
    assert not ResultChange.objects.exists()


def _row(page: str, key: str) -> str:
    match = re.search(rf'<tr id="row-{key}".*?</tr>', page, re.S)
    assert match, key
    return match.group(0)


def test_a_closed_sittings_grid_is_read_only(browser, sitting, people):
    ResultFactory(sitting=sitting, inspector=people["li"])
    sitting.status = SittingStatus.CLOSED
    sitting.save()
    page = browser.get(f"{ADMIN}/sitting/{sitting.pk}/grid/").content.decode()
    assert "成绩已确认" in page
    assert "保存成绩" not in page
    response = browser.post(f"{ADMIN}/sitting/{sitting.pk}/grid/", {field(sitting, people["li"], GENERAL): "1"})
    assert response.status_code == 200
    assert not ResultChange.objects.exists()


def test_the_upload_page_lists_bad_cells_and_a_good_file_is_recorded(browser, sitting, people):
    url = f"{ADMIN}/sitting/{sitting.pk}/import/"
    header = ["身份证号", GENERAL, SPECIALIST]
    assert GENERAL in browser.get(url).content.decode()
    bad = xlsx([[people["li"].national_id, 50, 40]], header=header)
    page = browser.post(url, {"file": SimpleUploadedFile("成绩.xlsx", bad)}).content.decode()
    assert "B 通用法律知识" in page and "未写入任何数据" in page
    good = xlsx([[people["li"].national_id, 30, 40]], header=header)
    response = browser.post(url, {"file": SimpleUploadedFile("成绩.xlsx", good)}, follow=True)
    assert any("导入完成" in m for m in messages_of(response))
    assert Result.objects.get(inspector=people["li"]).score == Decimal("70.0")
    assert Certificate.objects.filter(holder=people["li"]).exists()


def test_sitting_status_actions_show_refusals_as_messages(browser, sitting, people):
    ResultFactory(sitting=sitting, inspector=people["li"])
    response = browser.post(
        f"{ADMIN}/sitting/",
        {"action": "cancel_sittings", "_selected_action": [sitting.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("不能取消" in m for m in messages_of(response))
    sitting.refresh_from_db()
    assert sitting.status == SittingStatus.SCHEDULED


# --- certificates ----------------------------------------------------------------------------


def test_the_suspend_action_asks_for_a_reason_and_then_suspends(browser, people):
    # given
    certificate = CertificateFactory(holder=people["li"])
    selected = {"action": "suspend", "_selected_action": [certificate.pk]}
    # when: the action asks first
    asked = browser.post(f"{ADMIN}/certificate/", selected)
    # then
    assert asked.status_code == 200
    assert "理由" in asked.content.decode() and certificate.number in asked.content.decode()
    # when: no reason given
    again = browser.post(f"{ADMIN}/certificate/", {**selected, "apply": "1", "reason": ""})
    assert again.status_code == 200
    assert "请填写理由" in again.content.decode()
    # when: with a reason
    done = browser.post(f"{ADMIN}/certificate/", {**selected, "apply": "1", "reason": "执法过错调查"}, follow=True)
    # then
    assert any("已暂扣 1 本证件" in m for m in messages_of(done))
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.SUSPENDED
    assert certificate.events.get().reason == "执法过错调查"


def test_a_refused_action_is_a_message_per_certificate_not_an_error_page(browser, people):
    # given: one revoked (cannot be reinstated) and one suspended (can)
    revoked = CertificateFactory(holder=people["li"], status=CertificateStatus.REVOKED)
    suspended = CertificateFactory(holder=people["wang"], status=CertificateStatus.SUSPENDED)
    # when
    response = browser.post(
        f"{ADMIN}/certificate/",
        {"action": "reinstate", "_selected_action": [revoked.pk, suspended.pk], "apply": "1", "reason": "复查无误"},
        follow=True,
    )
    # then
    assert response.status_code == 200
    shown = messages_of(response)
    assert any(revoked.number in m and "吊销" in m for m in shown)
    assert any("已恢复 1 本证件" in m for m in shown)
    revoked.refresh_from_db()
    suspended.refresh_from_db()
    assert (revoked.status, suspended.status) == (CertificateStatus.REVOKED, CertificateStatus.VALID)


@pytest.mark.parametrize(
    ("verb", "data", "start", "end"),
    [
        ("revoke", {"reason": "出借证件"}, CertificateStatus.VALID, CertificateStatus.REVOKED),
        ("review", {"year": "2025"}, CertificateStatus.VALID, CertificateStatus.SUSPENDED),
        ("renew", {}, CertificateStatus.VALID, CertificateStatus.VALID),
        ("return", {"reason": ""}, CertificateStatus.VALID, CertificateStatus.VALID),
    ],
)
def test_the_certificate_page_offers_each_transition(browser, people, verb, data, start, end):
    # given
    certificate = CertificateFactory(holder=people["li"], status=start)
    page = browser.get(f"{ADMIN}/certificate/{certificate.pk}/change/")
    assert page.status_code == 200
    url = f"{ADMIN}/certificate/{certificate.pk}/do/{verb}/"
    assert url in page.content.decode()
    assert browser.get(url).status_code == 200
    # when
    response = browser.post(url, data, follow=True)
    # then
    assert response.status_code == 200
    certificate.refresh_from_db()
    assert certificate.status == end
    if verb in ("renew", "return"):  # far from expiry / holder still at work: refused, said why
        assert any(certificate.number in m for m in messages_of(response))


def test_a_city_admin_cannot_act_on_another_citys_certificate(browser, people):
    theirs = CertificateFactory(holder=people["zhao"])
    assert browser.get(f"{ADMIN}/certificate/{theirs.pk}/do/suspend/").status_code == 404
    assert browser.post(f"{ADMIN}/certificate/{theirs.pk}/do/suspend/", {"reason": "x"}).status_code == 404
    browser.post(
        f"{ADMIN}/certificate/",
        {"action": "suspend", "_selected_action": [theirs.pk], "apply": "1", "reason": "x"},
    )
    theirs.refresh_from_db()
    assert theirs.status == CertificateStatus.VALID


def test_certificate_list_filters_and_search(browser, people):
    li = CertificateFactory(holder=people["li"])
    wang = CertificateFactory(holder=people["wang"], status=CertificateStatus.SUSPENDED)
    page = browser.get(f"{ADMIN}/certificate/", {"status": "suspended"}).content.decode()
    assert wang.number in page and li.number not in page
    page = browser.get(f"{ADMIN}/certificate/", {"region_code": "130100"}).content.decode()
    assert wang.number in page and li.number in page
    page = browser.get(f"{ADMIN}/certificate/", {"q": "李四"}).content.decode()
    assert li.number in page and wang.number not in page
    page = browser.get(f"{ADMIN}/certificate/", {"q": f"冀应急执字第{li.number}号"}).content.decode()
    assert li.number in page and wang.number not in page


def test_the_certificate_page_shows_the_events_and_when_available_the_qr_code(browser, people, settings):
    settings.SITE_URL = "https://training.example.gov.cn"
    certificate = CertificateFactory(holder=people["li"])
    browser.post(f"{ADMIN}/certificate/{certificate.pk}/do/suspend/", {"reason": "调查"})
    page = browser.get(f"{ADMIN}/certificate/{certificate.pk}/change/").content.decode()
    assert "调查" in page
    try:
        from exams.qr import qr_svg  # noqa: F401  (the public verify part of the app)
    except ImportError:
        return
    assert "<svg" in page
    assert f"/verify/{certificate.number}/" in page


def test_an_inspector_cannot_enter_the_exams_admin(inspector_user):
    inspector_user.is_staff = True
    inspector_user.save()
    client = Client()
    client.force_login(inspector_user)
    assert client.get(f"{ADMIN}/certificate/").status_code == 403
    assert client.get(f"{ADMIN}/sitting/").status_code == 403


def test_result_history_is_shown_read_only(browser, sitting, people, city_admin):
    # given: recorded, then corrected, through the grid
    ResultFactory(sitting=sitting, inspector=people["wang"], absent=True)
    browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/grid/",
        {field(sitting, people["wang"], GENERAL): "20", field(sitting, people["wang"], SPECIALIST): "30"},
    )
    result = Result.objects.get(inspector=people["wang"])
    # when
    page = browser.get(f"{ADMIN}/result/{result.pk}/change/").content.decode()
    # then
    assert "成绩变更记录" in page
    assert "sjz_admin" in page
    assert 'name="_save"' not in page


def exam_form(exam, **changes) -> dict:
    """The exam's change form as the page shows it (parts read-only once results exist)."""
    parts = list(exam.parts.all())
    form = {
        "title": exam.title,
        "pass_mark": str(exam.pass_mark),
        "max_attempts": str(exam.max_attempts),
        "parts-TOTAL_FORMS": str(len(parts)),
        "parts-INITIAL_FORMS": str(len(parts)),
        "parts-MIN_NUM_FORMS": "1",
        "parts-MAX_NUM_FORMS": "1000",
    }
    for i, part in enumerate(parts):
        form[f"parts-{i}-id"] = str(part.pk)
        form[f"parts-{i}-exam"] = str(exam.pk)
    return {**form, **changes}


def test_once_scores_exist_the_paper_and_the_pass_mark_are_fixed(browser, sitting, people):
    # given
    ResultFactory(sitting=sitting, inspector=people["li"])
    exam = sitting.exam
    url = f"{ADMIN}/exam/{exam.pk}/change/"
    page = browser.get(url).content.decode()
    assert 'name="parts-0-name"' not in page  # shown, not editable
    # when
    above = browser.post(url, exam_form(exam, pass_mark="120"))
    changed = browser.post(url, exam_form(exam, pass_mark="65"))
    renamed = browser.post(url, exam_form(exam, title="石家庄执法资格考试（春季）", max_attempts="4"))
    # then: the pass mark is refused on its field, the form kept as typed; the title saves
    assert above.status_code == 200 and "高于满分" in above.content.decode()
    assert changed.status_code == 200
    form = changed.context["adminform"].form
    assert "pass_mark" in form.errors and "已有考试成绩" in str(form.errors["pass_mark"])
    assert 'value="65"' in changed.content.decode()
    assert renamed.status_code == 302
    exam.refresh_from_db()
    assert (exam.pass_mark, exam.title, exam.max_attempts) == (Decimal("60"), "石家庄执法资格考试（春季）", 4)
    event = ExamEvent.objects.get(exam=exam, kind=ExamEvent.Kind.EXAM_CHANGED)
    assert event.changes == {"title": ["石家庄执法资格考试", "石家庄执法资格考试（春季）"], "max_attempts": [3, 4]}
    assert event.actor.username == "sjz_admin"


def test_before_any_score_the_admin_changes_the_paper_through_the_service(browser, sitting):
    # given
    exam = sitting.exam
    parts = list(exam.parts.all())
    form = exam_form(exam, pass_mark="70", kind=exam.kind, region=str(exam.region_id))
    form.update({f"parts-{i}-name": p.name for i, p in enumerate(parts)})
    form.update({f"parts-{i}-order": str(i) for i, _p in enumerate(parts)})
    form.update({"parts-0-max_score": "50", "parts-1-max_score": "50"})
    # when
    response = browser.post(f"{ADMIN}/exam/{exam.pk}/change/", form)
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    exam.refresh_from_db()
    assert exam.pass_mark == Decimal("70")
    assert [(p.name, p.max_score) for p in exam.parts.all()] == [(GENERAL, Decimal("50")), (SPECIALIST, Decimal("50"))]
    event = ExamEvent.objects.get(exam=exam, kind=ExamEvent.Kind.EXAM_CHANGED)
    assert event.changes["pass_mark"] == ["60.0", "70"]
    assert event.changes["parts"][1] == [[GENERAL, "50"], [SPECIALIST, "50"]]


def test_a_sitting_is_changed_through_the_service_with_its_event(browser, sitting):
    url = f"{ADMIN}/sitting/{sitting.pk}/change/"
    # when
    response = browser.post(url, {"held_on": "2025-06-21", "place": "石家庄考点", "status": sitting.status})
    # then
    assert response.status_code == 302
    sitting.refresh_from_db()
    assert (sitting.held_on.isoformat(), sitting.place) == ("2025-06-21", "石家庄考点")
    event = ExamEvent.objects.get(sitting=sitting, kind=ExamEvent.Kind.SITTING_CHANGED)
    assert event.changes == {
        "held_on": ["2025-06-20", "2025-06-21"],
        "place": ["省应急管理厅考试中心", "石家庄考点"],
    }
    assert "考点: 省应急管理厅考试中心 → 石家庄考点" in browser.get(url).content.decode()  # the page's 变更记录


# --- the score grid for a keyboard and a screen reader ---------------------------------------


def test_every_grid_input_is_named_by_its_candidate_and_its_column(browser, sitting, people):
    # given: 王五 listed (recorded absent) and the blank rows for new candidates
    ResultFactory(sitting=sitting, inspector=people["wang"], absent=True)
    # when
    html = browser.get(f"{ADMIN}/sitting/{sitting.pk}/grid/").content.decode()
    # then: each input is named by its row header and its column header, nothing else
    page = grid_a11y.parse(html)
    names = [page.name(control) for control in page.controls("score-grid")]
    wang = ["王五 " + GENERAL, "王五 " + SPECIALIST, "王五 缺考"]
    new = [f"新增第1行 {column}" for column in ("身份证号", GENERAL, SPECIALIST, "缺考")]
    assert names[:3] == wang and names[3:7] == new
    assert len(names) == 3 + 4 * 5 and all(names)
    assert page.by_id["r-" + str(people["wang"].pk)].tag == "th"
    assert page.by_id["r-" + str(people["wang"].pk)].attrs["scope"] == "row"
    assert all(n.attrs.get("scope") == "col" for n in page.nodes if n.tag == "th" and n.parent.parent.tag == "thead")
    assert "aria-invalid" not in html and 'role="alert"' not in html
    assert grid_a11y.csp_blocked(html) == []


def test_a_bad_cell_is_invalid_described_by_its_rows_errors_and_linked_from_the_summary(
    browser, sitting, people, regions
):
    # given
    ResultFactory(sitting=sitting, inspector=people["wang"], absent=True)
    first = InspectorFactory(region=regions["changan"], name="钱八")
    ResultFactory(sitting=sitting, inspector=first, score=Decimal("30"))
    parts = parts_of(sitting.exam)
    # when
    response = browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/grid/",
        {
            field(sitting, people["wang"], GENERAL): "45",  # above 40
            field(sitting, people["wang"], SPECIALIST): "30",
            field(sitting, first, GENERAL): "",  # a recorded score cleared
            field(sitting, first, SPECIALIST): "",
            "n0-id": people["zhao"].national_id,  # works in 唐山: unknown here
            f"n0-{parts[GENERAL].pk}": "10",
            f"n0-{parts[SPECIALIST].pk}": "10",
        },
    )
    # then: the bad inputs, and only they, are invalid and described by their row's errors
    html = response.content.decode()
    page = grid_a11y.parse(html)
    invalid = {page.name(n): page.described_by(n) for n in page.controls("score-grid") if n.attrs.get("aria-invalid")}
    assert set(invalid) == {f"王五 {GENERAL}", f"钱八 {GENERAL}", f"钱八 {SPECIALIST}", "新增第1行 身份证号"}
    assert "超过满分" in invalid[f"王五 {GENERAL}"]
    assert "不能清空" in invalid[f"钱八 {GENERAL}"] == invalid[f"钱八 {SPECIALIST}"]
    assert "未找到" in invalid["新增第1行 身份证号"]
    # the summary above the grid: announced, each message linking to its input
    summary = page.by_id["grid-errors"]
    assert summary.attrs["role"] == "alert" and "未写入任何成绩" in summary.text()
    links = [n for n in page.nodes if n.tag == "a" and summary in n.ancestors()]
    assert len(links) == 5  # 钱八: cleared, and each part missing
    for link in links:
        target = page.by_id[link.attrs["href"].removeprefix("#")]
        assert target.attrs.get("aria-invalid") == "true"
        assert page.name(target).split()[0] in link.text()
    assert grid_a11y.csp_blocked(html) == []
