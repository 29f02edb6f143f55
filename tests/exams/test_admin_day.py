"""The training office's day in the exams admin: numbers as people write them (never
1E+2), readable history tables, certificate actions offered only where the state machine
allows them, the sitting status limited to legal moves, the ID-number search, holder names
linking to the inspector's page, and the pre-filled score template round trip."""

import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from core.uploads import read_rows
from exams import services
from exams.imports import expected_headers
from exams.models import CertificateStatus, ExamKind, Result, Sitting, SittingStatus
from personnel import idcard
from tests.exams.factories import CertificateFactory, ExamFactory, ResultFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory
from tests.training.factories import BatchFactory, EnrollmentFactory
from training.models import EnrollmentStatus

ADMIN = "/admin/exams"
HUNDRED, SIXTY = Decimal("1E+2"), Decimal("6E+1")  # what Decimal.normalize() makes of 100 and 60


@pytest.fixture
def browser(city_admin):
    city_admin.first_name, city_admin.last_name = "明", "王"
    city_admin.save()
    client = Client()
    client.force_login(city_admin)
    return client


@pytest.fixture
def li(regions):
    return InspectorFactory(region=regions["changan"], name="李四")


def text(response) -> str:
    return response.content.decode()


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- 1. numbers as people write them ---------------------------------------------------------


def test_no_exams_admin_page_or_message_shows_an_exponent(browser, city_admin, regions, li):
    # given: an exam of normalized Decimals (100 full marks as 1E+2, pass mark 60 as 6E+1)
    exam = services.exam_create(
        actor=city_admin,
        title="百分制考试",
        kind=ExamKind.QUALIFICATION,
        region=regions["sjz"],
        parts=[("综合", HUNDRED)],
        pass_mark=SIXTY,
    )
    sitting = services.sitting_create(actor=city_admin, exam=exam, held_on=SittingFactory.held_on, place="考点")
    part = parts_of(exam)["综合"]
    ResultFactory(sitting=sitting, inspector=li, score=Decimal("80.0"))
    certificate = CertificateFactory(holder=li)
    pages = [
        browser.get(f"{ADMIN}/exam/"),
        browser.get(f"{ADMIN}/exam/{exam.pk}/change/"),
        browser.get(f"{ADMIN}/sitting/"),
        browser.get(f"{ADMIN}/sitting/{sitting.pk}/change/"),
        browser.get(f"{ADMIN}/sitting/{sitting.pk}/grid/"),
        browser.get(f"{ADMIN}/sitting/{sitting.pk}/import/"),
        browser.get(f"{ADMIN}/result/"),
        browser.get(f"{ADMIN}/result/{Result.objects.get().pk}/change/"),
        browser.get(f"{ADMIN}/certificate/{certificate.pk}/change/"),
    ]
    # when: a score above full marks on the grid and in a file, a pass mark above full marks
    grid = browser.post(f"{ADMIN}/sitting/{sitting.pk}/grid/", {f"s-{li.pk}-{part.pk}": "140"})
    upload = browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/import/",
        {"file": SimpleUploadedFile("s.csv", f"身份证号,综合\n{li.national_id},140\n".encode())},
    )
    form = browser.post(
        f"{ADMIN}/exam/add/",
        {
            "title": "坏考试",
            "kind": ExamKind.COURSE,
            "region": regions["sjz"].pk,
            "pass_mark": "120",
            "max_attempts": "2",
            "parts-TOTAL_FORMS": "1",
            "parts-INITIAL_FORMS": "0",
            "parts-MIN_NUM_FORMS": "1",
            "parts-MAX_NUM_FORMS": "1000",
            "parts-0-name": "综合",
            "parts-0-max_score": "100",
            "parts-0-order": "0",
        },
    )
    # then
    for response in [*pages, grid, upload, form]:
        assert response.status_code == 200, response
        assert "E+" not in text(response), response.wsgi_request.path
    assert "满分 100" in text(pages[4]) and "及格分 60" in text(pages[4])
    assert f'name="s-{li.pk}-{part.pk}" value="80"' in text(pages[4])  # the recorded score, plain
    assert "满分 100" in text(pages[5])  # the column guide of the import page
    assert "综合（100）" in text(pages[0])
    assert "超过满分 100" in text(grid)
    assert "超过满分 100" in text(upload)
    assert "及格分 120 高于满分 100" in text(form)
    assert "综合 100" in text(pages[1])  # the paper in the exam's history
    assert 'name="pass_mark" value="60"' in text(pages[1])
    assert 'class="field-max_score_plain"' in text(pages[1]) and "100.0" not in text(pages[1])


# --- 2. history tables -----------------------------------------------------------------------


def test_exam_and_sitting_history_show_labels_names_and_dashes(browser, city_admin, regions):
    # given
    exam = services.exam_create(
        actor=city_admin,
        title="年度考核",
        kind=ExamKind.ANNUAL,
        region=regions["sjz"],
        parts=[("综合", HUNDRED)],
        pass_mark=SIXTY,
    )
    sitting = services.sitting_create(actor=city_admin, exam=exam, held_on=SittingFactory.held_on, place="一号考场")
    services.sitting_set_status(actor=city_admin, sitting=sitting, status=SittingStatus.GRADING)
    # when
    exam_page = text(browser.get(f"{ADMIN}/exam/{exam.pk}/change/"))
    sitting_page = text(browser.get(f"{ADMIN}/sitting/{sitting.pk}/change/"))
    # then
    history = exam_page.split("变更记录", 1)[1]
    assert "类别: - → 年度考核考试" in history
    assert "组织地区: - → 石家庄市" in history
    assert "及格分: - → 60" in history
    assert "考试科目: - → 综合 100" in history
    assert "None" not in history and "kind:" not in history and "region:" not in history
    assert "课程: - → -" not in history  # nothing said where nothing was set
    history = sitting_page.split("变更记录", 1)[1]
    assert "考点: - → 一号考场" in history
    assert "状态: 待考 → 成绩录入中" in history
    assert "sjz_admin" in history
    assert 'class="nowrap">创建场次' in history  # the event column does not wrap


# --- 3. certificates -------------------------------------------------------------------------


def test_certificate_events_show_status_labels_and_who(browser, li):
    # given
    certificate = CertificateFactory(holder=li)
    browser.post(f"{ADMIN}/certificate/{certificate.pk}/do/suspend/", {"reason": "调查"})
    # when
    page = text(browser.get(f"{ADMIN}/certificate/{certificate.pk}/change/"))
    # then
    row = re.search(r'<tr[^>]*id="events-0".*?</tr>', page, re.S).group(0)
    assert "有效" in row and "暂扣" in row and "王明" in row
    assert ">valid<" not in row and ">suspended<" not in row


@pytest.mark.parametrize(
    ("status", "offered", "not_offered"),
    [
        (CertificateStatus.VALID, {"suspend", "revoke", "return", "renew", "review"}, {"reinstate"}),
        (CertificateStatus.SUSPENDED, {"reinstate", "revoke", "return", "review"}, {"suspend", "renew"}),
        (CertificateStatus.REVOKED, set(), {"suspend", "reinstate", "revoke", "return", "renew", "review"}),
    ],
)
def test_the_certificate_page_offers_only_legal_actions(browser, li, status, offered, not_offered):
    certificate = CertificateFactory(holder=li, status=status)
    page = text(browser.get(f"{ADMIN}/certificate/{certificate.pk}/change/"))
    for verb in offered:
        assert f"/certificate/{certificate.pk}/do/{verb}/" in page
    for verb in not_offered:
        assert f"/certificate/{certificate.pk}/do/{verb}/" not in page


def test_an_action_the_status_does_not_allow_is_refused_before_its_form(browser, li):
    certificate = CertificateFactory(holder=li)
    url = f"{ADMIN}/certificate/{certificate.pk}/do/reinstate/"
    posted = browser.post(url, {"reason": "复查"})
    shown = browser.get(url)
    for response in (posted, shown):
        assert response.status_code == 200
        assert "证件状态为“有效”，不能恢复。" in text(response)
        assert 'id="transition-form"' not in text(response)
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.VALID and not certificate.events.exists()


def test_a_bulk_action_applies_only_where_the_status_allows_it(browser, li, regions):
    # given: reinstate asked for a valid and a suspended certificate
    valid = CertificateFactory(holder=li)
    suspended = CertificateFactory(holder=InspectorFactory(region=regions["qiaoxi"]), status="suspended")
    selected = {"action": "reinstate", "_selected_action": [valid.pk, suspended.pk]}
    # when
    asked = browser.post(f"{ADMIN}/certificate/", selected)
    done = browser.post(f"{ADMIN}/certificate/", {**selected, "apply": "1", "reason": "复查无误"}, follow=True)
    # then: the page names the one left alone; only the suspended one is reinstated
    skipped = re.search(r'<ul id="transition-skipped">.*?</ul>', text(asked), re.S).group(0)
    assert valid.number in skipped and suspended.number not in skipped
    assert any(valid.number in m and "不能恢复" in m for m in messages_of(done))
    assert any("已恢复 1 本证件" in m for m in messages_of(done))
    valid.refresh_from_db()
    suspended.refresh_from_db()
    assert (valid.status, suspended.status) == (CertificateStatus.VALID, CertificateStatus.VALID)


def test_certificates_are_found_by_the_holders_whole_id_number(browser, regions):
    # given: an ID number ending in X, typed with a lower-case x
    national_id = next(
        idcard.make(f"13010219800101{n:03d}") for n in range(1000) if idcard.make(f"13010219800101{n:03d}")[-1] == "X"
    )
    holder = InspectorFactory(region=regions["changan"], name="赵X", national_id=national_id)
    mine = CertificateFactory(holder=holder)
    other = CertificateFactory(holder=InspectorFactory(region=regions["changan"]))
    # when
    whole = text(browser.get(f"{ADMIN}/certificate/", {"q": national_id.lower()}))
    part = text(browser.get(f"{ADMIN}/certificate/", {"q": national_id[:10]}))
    by_number = text(browser.get(f"{ADMIN}/certificate/", {"q": mine.number}))
    # then
    assert mine.number in whole and other.number not in whole
    assert mine.number not in part
    assert mine.number in by_number and other.number not in by_number


def test_holder_names_link_to_the_inspectors_page(browser, li):
    sitting = SittingFactory(exam=ExamFactory(region=li.region.parent))
    ResultFactory(sitting=sitting, inspector=li)
    CertificateFactory(holder=li)
    link = f'<a href="{reverse("admin:personnel_inspector_change", args=[li.pk])}">李四</a>'
    assert link in text(browser.get(f"{ADMIN}/certificate/"))
    assert link in text(browser.get(f"{ADMIN}/result/"))
    assert link in text(browser.get(f"{ADMIN}/sitting/{sitting.pk}/grid/"))


# --- 4. the sitting status offers only legal moves -------------------------------------------


def _status_options(page: str) -> set[str]:
    select = re.search(r'<select name="status".*?</select>', page, re.S)
    return set(re.findall(r'<option value="(\w+)"', select.group(0))) if select else set()


def test_the_sitting_status_field_offers_only_legal_moves(browser, regions, li):
    # given
    open_one = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    scored = SittingFactory(exam=ExamFactory(region=regions["sjz"]), status=SittingStatus.GRADING)
    ResultFactory(sitting=scored, inspector=li)
    closed = SittingFactory(exam=ExamFactory(region=regions["sjz"]), status=SittingStatus.CLOSED)
    cancelled = SittingFactory(exam=ExamFactory(region=regions["sjz"]), status=SittingStatus.CANCELLED)

    def options(sitting):
        return _status_options(text(browser.get(f"{ADMIN}/sitting/{sitting.pk}/change/")))

    # then
    assert options(open_one) == set(SittingStatus.values)
    assert options(scored) == {"scheduled", "grading", "closed"}
    assert options(closed) == {"closed", "grading"}
    assert options(cancelled) == set()  # shown read-only


def test_the_sitting_form_moves_the_status_through_the_service_and_refuses_an_illegal_one(browser, regions):
    closed = SittingFactory(exam=ExamFactory(region=regions["sjz"]), status=SittingStatus.CLOSED)
    url = f"{ADMIN}/sitting/{closed.pk}/change/"
    form = {"held_on": "2025-06-20", "place": closed.place}
    # when
    refused = browser.post(url, {**form, "status": SittingStatus.CANCELLED})
    moved = browser.post(url, {**form, "status": SittingStatus.GRADING})
    # then
    assert refused.status_code == 200 and "status" in refused.context["adminform"].form.errors
    assert moved.status_code == 302
    closed.refresh_from_db()
    assert closed.status == SittingStatus.GRADING
    assert closed.events.filter(kind="sitting_status", changes={"status": ["closed", "grading"]}).exists()


def test_another_citys_sitting_template_is_not_found(browser, regions):
    theirs = SittingFactory(exam=ExamFactory(region=regions["ts"]))
    assert browser.get(f"{ADMIN}/sitting/{theirs.pk}/template.xlsx").status_code == 404


# --- 5. the pre-filled score template --------------------------------------------------------


def test_the_score_template_round_trips_through_the_import(browser, regions, li):
    # given: a batch's sitting: two completed, one only enrolled, and one recorded earlier
    batch = BatchFactory(region=regions["sjz"])
    done = [
        EnrollmentFactory(
            batch=batch, inspector=InspectorFactory(region=regions["changan"], name=name), status="completed"
        )
        for name in ("甲", "乙")
    ]
    EnrollmentFactory(batch=batch, inspector=InspectorFactory(region=regions["changan"], name="丙"))
    exam = ExamFactory(region=regions["sjz"], course=batch.course)
    sitting = SittingFactory(exam=exam, batch=batch)
    parts = list(exam.parts.all())
    ResultFactory(
        sitting=sitting,
        inspector=li,
        score=Decimal("75.5"),
        part_scores={str(parts[0].pk): "35.5", str(parts[1].pk): "40.0"},
    )
    url = reverse("admin:exams_sitting_template", args=[sitting.pk])
    assert url == f"{ADMIN}/sitting/{sitting.pk}/template.xlsx"
    assert url in text(browser.get(f"{ADMIN}/sitting/{sitting.pk}/change/"))
    # when
    response = browser.get(url)
    # then: the layout the import reads
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(read_rows(response.content, "t.xlsx"))
    headers = [h for h, _note in expected_headers(sitting)]
    assert rows[2][: len(headers)] == headers
    assert "满分 40" in rows[1] and not any("E+" in str(v) for row in rows for v in row)
    people = {row[2]: row for row in rows[3:]}
    assert set(people) == {"甲", "乙", "李四"}
    assert people["甲"][0] == done[0].inspector.national_id
    assert people["李四"][3:5] == [35.5, 40]

    # when: the blanks are filled in and the file goes back through the import page
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    for row in sheet.iter_rows(min_row=4):
        if row[2].value == "甲":
            row[3].value, row[4].value = 30, 45
        elif row[2].value == "乙":
            row[5].value = "是"
    filled = io.BytesIO()
    book.save(filled)
    uploaded = browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/import/",
        {"file": SimpleUploadedFile("成绩.xlsx", filled.getvalue())},
        follow=True,
    )
    # then
    assert any("导入完成：新增 2 条，修改 0 条，未变 1 条" in m for m in messages_of(uploaded)), text(uploaded)[-3000:]
    assert Result.objects.get(inspector=done[0].inspector).score == Decimal("75.0")
    assert Result.objects.get(inspector=done[1].inspector).absent
    assert Result.objects.get(inspector=li).score == Decimal("75.5")
    assert Sitting.objects.get(pk=sitting.pk).results.count() == 3
    assert EnrollmentStatus.ENROLLED  # 丙 (not completed) is no candidate: not in the file


def test_a_results_history_reads_in_words(browser, regions, li):
    # given: recorded absent, then scored on the grid
    sitting = SittingFactory(exam=ExamFactory(region=regions["sjz"]))
    ResultFactory(sitting=sitting, inspector=li, absent=True)
    parts = list(sitting.exam.parts.all())
    browser.post(
        f"{ADMIN}/sitting/{sitting.pk}/grid/",
        {f"s-{li.pk}-{parts[0].pk}": "20", f"s-{li.pk}-{parts[1].pk}": "35.5"},
    )
    # when
    page = text(browser.get(f"{ADMIN}/result/{Result.objects.get().pk}/change/"))
    # then
    history = page.split("成绩变更记录", 1)[1]
    assert "缺考 → 55.5" in history
    assert f"- → {parts[0].name} 20、{parts[1].name} 35.5" in history
    assert "成绩录入页" in history and "王明" in history
    assert "{" not in history.split("</table>", 1)[0] and "None" not in history
