"""The question bank in the admin (list, filters, form through the service, versions, actions,
import and template) and an exam's paper rules page with its check against the bank."""

import io

import pytest
from django.test import Client

from exams.models import PaperRule, Question, QuestionEvent, QuestionVersion
from exams.questions import question_create
from tests.exams.factories import ExamFactory
from tests.exams.test_question_import import good_rows, xlsx


@pytest.fixture
def browser():
    def login(user):
        client = Client()
        client.force_login(user)
        return client

    return login


def make(admin, region, stem, **extra):
    values = {
        "kind": "single",
        "options": ["甲", "乙", "丙"],
        "answer": "A",
        "category": "行政处罚法",
        "difficulty": 2,
        **extra,
    }
    return question_create(actor=admin, region=region, stem=stem, **values)


def form(region, **overrides) -> dict:
    data = {
        "region": region.pk,
        "kind": "multiple",
        "stem": "行政强制措施的种类包括哪些？",
        "option_a": "限制公民人身自由",
        "option_b": "查封场所、设施或者财物",
        "option_c": "扣押财物",
        "option_d": "罚款",
        "option_e": "",
        "option_f": "",
        "answer": "a,b,c",
        "explanation": "罚款是行政处罚。",
        "category": "行政强制法",
        "difficulty": "2",
        "active": "on",
    }
    return {**data, **overrides}


def test_the_list_is_scoped_and_filtered(browser, regions, province_admin, city_admin):
    make(province_admin, regions["province"], "省里的题")
    make(province_admin, regions["changan"], "长安的题", category="安全生产法")
    make(province_admin, regions["ts"], "唐山的题")
    client = browser(city_admin)
    page = client.get("/admin/exams/question/")
    assert page.status_code == 200
    assert [q.stem for q in page.context["cl"].result_list] == ["长安的题"]
    assert "导入题库" in page.content.decode() and "下载导入模板" in page.content.decode()
    province = browser(province_admin)
    assert province.get("/admin/exams/question/", {"category": "安全生产法"}).context["cl"].result_count == 1
    assert province.get("/admin/exams/question/", {"region_code": "130200"}).context["cl"].result_count == 1
    assert province.get("/admin/exams/question/", {"q": "省里"}).context["cl"].result_count == 1


def test_add_goes_through_the_service_and_refusals_show_on_the_form(browser, regions, province_admin):
    client = browser(province_admin)
    response = client.post("/admin/exams/question/add/", form(regions["province"]))
    assert response.status_code == 302
    question = Question.objects.get()
    assert (question.answer, question.options[:2], question.version) == (
        "ABC",
        ["限制公民人身自由", "查封场所、设施或者财物"],
        1,
    )
    assert question.events.get().kind == QuestionEvent.Kind.CREATED
    # a bad answer and a gap in the options: on their fields, nothing written
    bad = client.post("/admin/exams/question/add/", form(regions["province"], stem="另一题", answer="A", option_b=""))
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert "至少有两个正确答案" in str(errors["answer"]) and "选项B为空" in str(errors["option_b"])
    # the same question again: the service's conflict names the first
    again = client.post("/admin/exams/question/add/", form(regions["province"]))
    assert again.status_code == 200
    assert f"编号 {question.pk}" in again.content.decode()
    assert Question.objects.count() == 1


def test_a_change_makes_a_version_shown_on_the_page(browser, regions, province_admin):
    question = make(province_admin, regions["province"], "原题干")
    client = browser(province_admin)
    page = client.get(f"/admin/exams/question/{question.pk}/change/")
    assert page.status_code == 200
    data = form(regions["province"], kind="single", stem="新题干", answer="B", option_d="")
    response = client.post(f"/admin/exams/question/{question.pk}/change/", data)
    assert response.status_code == 302
    question.refresh_from_db()
    assert (question.stem, question.version) == ("新题干", 2)
    assert QuestionVersion.objects.get(question=question, version=1).stem == "原题干"
    text = client.get(f"/admin/exams/question/{question.pk}/change/").content.decode()
    assert "原题干" in text and "新题干" in text and "v2" in text


def test_a_city_admin_cannot_add_to_the_provinces_bank(browser, regions, city_admin):
    response = browser(city_admin).post("/admin/exams/question/add/", form(regions["province"]))
    assert response.status_code == 200  # the region is not among the choices
    assert not Question.objects.exists()


def test_activate_and_deactivate_through_the_service(browser, regions, province_admin):
    a = make(province_admin, regions["province"], "甲题")
    b = make(province_admin, regions["province"], "乙题")
    client = browser(province_admin)
    client.post("/admin/exams/question/", {"action": "deactivate", "_selected_action": [a.pk, b.pk]})
    assert not Question.objects.filter(active=True).exists()
    assert QuestionEvent.objects.filter(kind=QuestionEvent.Kind.DEACTIVATED).count() == 2
    client.post("/admin/exams/question/", {"action": "activate", "_selected_action": [a.pk]})
    assert list(Question.objects.filter(active=True)) == [a]


def test_the_import_page_and_the_template(browser, regions, province_admin):
    client = browser(province_admin)
    assert client.get("/admin/exams/question/import/").status_code == 200
    template = client.get("/admin/exams/question/template.xlsx")
    assert template.status_code == 200 and template["Content-Type"].startswith("application/vnd.openxmlformats")
    bad_rows = [["单选题", "题干", "甲", "", "", "", "A", "", "分类", 2, ""]]
    bad = client.post("/admin/exams/question/import/", {"file": _file(xlsx(bad_rows))})
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "未写入任何数据" in text and "D 选项B" in text
    good = client.post("/admin/exams/question/import/", {"file": _file(xlsx(good_rows())), "region": regions["sjz"].pk})
    assert good.status_code == 302
    assert Question.objects.filter(region=regions["sjz"]).count() == 3


def _file(data):
    handle = io.BytesIO(data)
    handle.name = "题库.xlsx"
    return handle


def test_paper_rules_page_saves_through_the_service_and_says_what_the_bank_lacks(browser, regions, province_admin):
    # given an exam of 石家庄 and one question of its category in the province's bank
    exam = ExamFactory(region=regions["sjz"], parts=[("综合", 10)])
    part = exam.parts.get()
    make(province_admin, regions["province"], "题一")
    client = browser(province_admin)
    page = client.get(f"/admin/exams/exam/{exam.pk}/paper-rules/")
    assert page.status_code == 200
    data = {  # the first row filled in, the two blank rows below it as the browser sends them
        "rules-TOTAL_FORMS": "3",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-part": part.pk,
        "rules-0-category": "行政处罚法",
        "rules-0-difficulty": "",
        "rules-0-kind": "",
        "rules-0-count": "5",
        "rules-0-points": "2",
        **{f"rules-{n}-count": "1" for n in (1, 2)},
    }
    # when
    response = client.post(f"/admin/exams/exam/{exam.pk}/paper-rules/", data, follow=True)
    # then
    assert response.status_code == 200
    rule = PaperRule.objects.get()
    assert (rule.category, rule.count, rule.points) == ("行政处罚法", 5, 2)
    text = response.content.decode()
    assert "组卷规则已保存" in text and "只有 1 道" in text
    summary = client.get(f"/admin/exams/exam/{exam.pk}/change/").content.decode()
    assert "行政处罚法" in summary and "只有 1 道" in summary and "编辑组卷规则" in summary


def test_a_rule_without_category_or_question_is_refused_on_the_form(browser, regions, province_admin):
    exam = ExamFactory(region=regions["sjz"], parts=[("综合", 10)])
    data = {
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-part": exam.parts.get().pk,
        "rules-0-count": "5",
        "rules-0-points": "2",
    }
    response = browser(province_admin).post(f"/admin/exams/exam/{exam.pk}/paper-rules/", data)
    assert response.status_code == 200
    assert "须指定分类" in response.content.decode()
    assert not PaperRule.objects.exists()


def test_another_citys_exam_has_no_paper_rules_page(browser, regions, other_city_admin):
    exam = ExamFactory(region=regions["sjz"])
    assert browser(other_city_admin).get(f"/admin/exams/exam/{exam.pk}/paper-rules/").status_code == 404
