"""The question bank service: validation, versions, duplicates, activation, scope and the
questions a paper may draw (exams.questions)."""

from decimal import Decimal

import pytest

from core.errors import AccessDenied, Conflict, ValidationFailed
from exams import questions
from exams.models import ExamEvent, PaperRule, Question, QuestionEvent, QuestionVersion
from exams.questions import (
    RuleSpec,
    answer_letters,
    drawable_questions,
    paper_rule_shortfalls,
    paper_rules_set,
    question_content_validate,
    question_create,
    question_list,
    question_set_active,
    question_update,
)
from tests.exams.factories import ExamFactory


def single(**overrides) -> dict:
    values = {
        "kind": "single",
        "stem": "行政执法公示制度要求在执法决定作出之日起几个工作日内公开？",
        "options": ["5个", "7个", "10个", "20个"],
        "answer": "B",
        "explanation": "三项制度指导意见：7个工作日内公开。",
        "category": "行政执法三项制度",
        "difficulty": 2,
    }
    return {**values, **overrides}


def make(actor, region, **overrides) -> Question:
    return question_create(actor=actor, region=region, **single(**overrides))


def fields_of(exc_info) -> dict:
    return exc_info.value.fields


# --- validation --------------------------------------------------------------------------------


def test_a_good_single_choice_is_kept_as_typed_but_cleaned():
    content = question_content_validate(**single(answer=" b ", stem="  题干  ", options=["甲", "乙", "", ""]))
    assert content.answer == "B"
    assert content.stem == "题干"
    assert content.options == ("甲", "乙")


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"kind": "essay"}, "kind", "未知题型"),
        ({"stem": "  "}, "stem", "题干不能为空"),
        ({"stem": "长" * 2001}, "stem", "最多2000"),
        ({"stem": "含\x00空字符"}, "stem", "控制字符"),
        ({"category": ""}, "category", "分类不能为空"),
        ({"difficulty": 4}, "difficulty", "难度"),
        ({"difficulty": "极难"}, "difficulty", "难度"),
        ({"options": ["唯一"], "answer": "A"}, "options", "至少需要2个选项"),
        ({"options": ["甲", "", "丙"], "answer": "A"}, "options", "选项B为空"),
        ({"options": ["甲", "乙", "甲"], "answer": "A"}, "options", "选项C与选项A相同"),
        ({"options": list("甲乙丙丁戊己庚"), "answer": "A"}, "options", "选项最多6个"),
        ({"options": ["甲", "x" * 501]}, "options", "选项B过长"),
        ({"answer": "AB"}, "answer", "单选题只能有一个答案"),
        ({"answer": "E"}, "answer", "不是选项字母"),
        ({"answer": ""}, "answer", "答案为空"),
    ],
)
def test_each_rule_of_the_content_names_its_field(overrides, field, words):
    with pytest.raises(ValidationFailed) as caught:
        question_content_validate(**single(**overrides))
    assert any(words in m for m in fields_of(caught)[field]), fields_of(caught)


def test_multiple_choice_needs_three_options_two_right_letters_no_repeats_and_sorts_them():
    good = question_content_validate(**single(kind="multiple", answer="d, a、C"))
    assert good.answer == "ACD"
    for answer, words in (("A", "至少有两个正确答案"), ("AA", "重复"), ("AG", "不是选项字母")):
        with pytest.raises(ValidationFailed) as caught:
            question_content_validate(**single(kind="multiple", answer=answer))
        assert any(words in m for m in fields_of(caught)["answer"]), (answer, fields_of(caught))
    with pytest.raises(ValidationFailed) as caught:
        question_content_validate(**single(kind="multiple", options=["甲", "乙"], answer="AB"))
    assert "至少需要3个选项" in fields_of(caught)["options"][0]


def test_true_false_has_exactly_the_two_options_and_answer_a_or_b():
    filled = question_content_validate(**single(kind="true_false", options=[], answer="错"))
    assert (filled.options, filled.answer) == (("正确", "错误"), "B")
    assert question_content_validate(**single(kind="true_false", options=["正确", "错误"], answer="√")).answer == "A"
    with pytest.raises(ValidationFailed) as caught:
        question_content_validate(**single(kind="true_false", options=["对", "错"], answer="C"))
    assert "正确" in fields_of(caught)["options"][0]
    assert "A（正确）或 B（错误）" in fields_of(caught)["answer"][0]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationFailed) as caught:
        question_content_validate(**single(stem="", category="", difficulty=0, answer="Z"))
    assert set(fields_of(caught)) == {"stem", "category", "difficulty", "answer"}


def test_answer_letters_is_the_one_reading_of_letters():
    assert answer_letters("c a", option_count=4) == "AC"
    with pytest.raises(ValueError, match="不是选项字母"):
        answer_letters("E", option_count=4)


# --- create, versions, events --------------------------------------------------------------------


def test_create_writes_version_one_and_an_event(regions, province_admin):
    # when
    question = make(province_admin, regions["province"])
    # then
    assert question.version == 1
    version = QuestionVersion.objects.get(question=question)
    assert (version.version, version.stem, version.options, version.answer) == (
        1,
        question.stem,
        ["5个", "7个", "10个", "20个"],
        "B",
    )
    event = QuestionEvent.objects.get(question=question)
    assert event.kind == QuestionEvent.Kind.CREATED
    assert event.actor == province_admin
    assert event.changes["answer"] == [None, "B"]


def test_a_content_change_makes_a_new_version_and_the_old_one_stays_as_it_was(regions, province_admin):
    # given
    question = make(province_admin, regions["province"])
    first = QuestionVersion.objects.get(question=question, version=1)
    # when
    question_update(question=question, actor=province_admin, answer="C", options=["5个", "6个", "7个", "20个"])
    # then
    question.refresh_from_db()
    assert (question.version, question.answer) == (2, "C")
    first.refresh_from_db()
    assert (first.answer, first.options) == ("B", ["5个", "7个", "10个", "20个"])
    second = QuestionVersion.objects.get(question=question, version=2)
    assert (second.answer, second.options) == ("C", ["5个", "6个", "7个", "20个"])
    event = question.events.get(kind=QuestionEvent.Kind.CHANGED)
    assert event.changes["answer"] == ["B", "C"]
    assert event.changes["version"] == [1, 2]


def test_active_alone_makes_no_version_and_an_unchanged_save_makes_nothing(regions, province_admin):
    question = make(province_admin, regions["province"])
    question_update(question=question, actor=province_admin, active=False)
    question.refresh_from_db()
    assert (question.version, question.active) == (1, False)
    assert QuestionVersion.objects.filter(question=question).count() == 1
    events = question.events.count()
    question_update(question=question, actor=province_admin, stem=question.stem, active=False)
    assert question.events.count() == events


def test_an_invalid_update_changes_nothing(regions, province_admin):
    question = make(province_admin, regions["province"])
    with pytest.raises(ValidationFailed):
        question_update(question=question, actor=province_admin, answer="AB")
    question.refresh_from_db()
    assert (question.answer, question.version) == ("B", 1)


def test_unknown_fields_are_a_programming_error(regions, province_admin):
    question = make(province_admin, regions["province"])
    with pytest.raises(TypeError):
        question_update(question=question, actor=province_admin, region=regions["sjz"])


# --- duplicates ---------------------------------------------------------------------------------


def test_the_same_question_twice_in_a_region_is_a_conflict_naming_the_first(regions, province_admin):
    first = make(province_admin, regions["province"])
    # the same, typed with other spacing, full-width letters and options in another order
    with pytest.raises(Conflict) as caught:
        make(
            province_admin,
            regions["province"],
            stem=" 行政执法公示制度要求在执法决定作出之日起几个工作日内公开? ",
            options=["7个", "5个", "20个", "10个"],
            answer="A",
        )
    assert caught.value.code == "duplicate_question"
    assert f"编号 {first.pk}" in caught.value.detail
    assert Question.objects.count() == 1
    # another region's bank may hold it
    assert make(province_admin, regions["sjz"]).pk != first.pk


def test_an_edit_into_another_question_is_a_conflict(regions, province_admin):
    first = make(province_admin, regions["province"])
    second = make(province_admin, regions["province"], stem="另一道题")
    with pytest.raises(Conflict) as caught:
        question_update(question=second, actor=province_admin, stem=first.stem)
    assert f"编号 {first.pk}" in caught.value.detail


# --- activation ----------------------------------------------------------------------------------


def test_set_active_writes_one_event_per_change(regions, province_admin):
    a = make(province_admin, regions["province"])
    b = make(province_admin, regions["province"], stem="第二题")
    question_update(question=b, actor=province_admin, active=False)
    # when
    changed = question_set_active(questions=[a, b], actor=province_admin, active=False)
    # then
    assert changed == 1
    assert not Question.objects.filter(active=True).exists()
    assert a.events.filter(kind=QuestionEvent.Kind.DEACTIVATED).count() == 1
    assert question_set_active(questions=[a, b], actor=province_admin, active=True) == 2
    assert QuestionVersion.objects.count() == 2  # no version for either


# --- scope ----------------------------------------------------------------------------------------


def test_an_admin_manages_only_the_banks_of_their_regions(regions, city_admin, county_admin, province_admin):
    with pytest.raises(AccessDenied):
        make(city_admin, regions["ts"])
    with pytest.raises(AccessDenied):
        make(county_admin, regions["sjz"])
    provincial = make(province_admin, regions["province"])
    with pytest.raises(AccessDenied):
        question_update(question=provincial, actor=city_admin, stem="改")
    with pytest.raises(AccessDenied):
        question_set_active(questions=[provincial], actor=city_admin, active=False)
    assert Question.objects.get().active


def test_the_list_holds_the_subtree_and_nothing_for_an_inspector(
    regions, province_admin, city_admin, other_city_admin, county_admin, inspector_user
):
    # given a question in every bank
    rows = {key: make(province_admin, regions[key], stem=f"{key} 的题") for key in regions}

    def seen(user):
        return {k for k, q in rows.items() if q in question_list(actor=user)}

    assert seen(province_admin) == set(regions)
    assert seen(city_admin) == {"sjz", "changan", "qiaoxi"}
    assert seen(other_city_admin) == {"ts", "lunan"}
    assert seen(county_admin) == {"changan"}
    assert seen(inspector_user) == set()


def test_list_filters(regions, province_admin):
    a = make(province_admin, regions["province"], difficulty=1)
    b = make(
        province_admin, regions["sjz"], stem="安全生产法规定……", category="安全生产法", kind="multiple", answer="AB"
    )
    question_update(question=b, actor=province_admin, active=False)
    lists = {
        "category": question_list(actor=province_admin, filters={"category": "安全生产法"}),
        "kind": question_list(actor=province_admin, filters={"kind": "single"}),
        "difficulty": question_list(actor=province_admin, filters={"difficulty": 1}),
        "active": question_list(actor=province_admin, filters={"active": False}),
        "search": question_list(actor=province_admin, filters={"search": "公示"}),
        "region": question_list(actor=province_admin, filters={"region": "130100"}),
    }
    assert {k: [q.pk for q in v] for k, v in lists.items()} == {
        "category": [b.pk],
        "kind": [a.pk],
        "difficulty": [a.pk],
        "active": [b.pk],
        "search": [a.pk],
        "region": [b.pk],
    }


def test_a_paper_draws_from_its_region_and_every_region_above(regions, province_admin):
    # given an active question in every bank, and an inactive one in the province's
    rows = {key: make(province_admin, regions[key], stem=f"{key} 的题") for key in regions}
    off = make(province_admin, regions["province"], stem="停用的题")
    question_set_active(questions=[off], actor=province_admin, active=False)

    def drawn(region_key):
        return {k for k, q in rows.items() if q in drawable_questions(regions[region_key])}

    # then a county draws from itself, its city and the province; never a sibling's bank
    assert drawn("changan") == {"changan", "sjz", "province"}
    assert drawn("sjz") == {"sjz", "province"}
    assert drawn("lunan") == {"lunan", "ts", "province"}
    assert drawn("province") == {"province"}
    assert off not in drawable_questions(regions["changan"])


# --- paper rules ----------------------------------------------------------------------------------


def test_paper_rules_are_set_with_an_event_and_checked_against_the_bank(regions, province_admin):
    # given an exam of 石家庄 (one part of 11) and two active questions of the category in the province's bank
    exam = ExamFactory(region=regions["sjz"], parts=[("综合", 11)])
    part = exam.parts.first()
    for n in range(2):
        make(province_admin, regions["province"], stem=f"三项制度第{n}题")
    fixed = make(province_admin, regions["sjz"], stem="固定题", category="固定")
    rules = [
        RuleSpec(part=part, points=Decimal("2"), category="行政执法三项制度", count=2),
        RuleSpec(part=part, points=Decimal("2"), category="行政执法三项制度", difficulty=3, count=1),
        RuleSpec(part=part, points=Decimal("5"), question=fixed),
    ]
    # when
    saved = paper_rules_set(exam=exam, actor=province_admin, rules=rules)
    # then
    assert [(r.category, r.count, r.question_id) for r in saved] == [
        ("行政执法三项制度", 2, None),
        ("行政执法三项制度", 1, None),
        ("", 1, fixed.pk),
    ]
    assert exam.events.filter(kind=ExamEvent.Kind.EXAM_CHANGED, changes__has_key="paper_rules").count() == 1
    shortfalls = paper_rule_shortfalls(exam=exam)
    assert len(shortfalls) == 1 and "只有 0 道" in shortfalls[0]
    # the same rules again change nothing
    paper_rules_set(exam=exam, actor=province_admin, rules=rules)
    assert exam.events.filter(changes__has_key="paper_rules").count() == 1
    # when the difficulty rule goes, the category's two rules need 3 of 2
    paper_rules_set(
        exam=exam,
        actor=province_admin,
        rules=[rules[0], RuleSpec(part=part, points=Decimal("2"), category="行政执法三项制度", count=1)],
    )
    assert ["共需 3 道" in m for m in paper_rule_shortfalls(exam=exam)] == [False, True]
    assert "组卷规则合计 6 分，与满分 11 分不一致" in paper_rule_shortfalls(exam=exam)[0]


def test_paper_rules_refuse_a_question_the_exam_cannot_draw_and_another_regions_admin(
    regions, province_admin, other_city_admin
):
    exam = ExamFactory(region=regions["sjz"])
    part = exam.parts.first()
    elsewhere = make(province_admin, regions["ts"], stem="唐山的题")
    with pytest.raises(ValidationFailed) as caught:
        paper_rules_set(
            exam=exam, actor=province_admin, rules=[RuleSpec(part=part, points=Decimal("1"), question=elsewhere)]
        )
    assert "不在本考试可用的题库中" in caught.value.fields["rules"][0]
    with pytest.raises(AccessDenied):
        paper_rules_set(exam=exam, actor=other_city_admin, rules=[])
    assert not PaperRule.objects.exists()


def test_the_content_check_is_the_one_the_service_uses(monkeypatch, regions, province_admin):
    # given the one named check refusing everything
    def refuse(**kwargs):
        raise ValidationFailed("no", fields={"stem": ["no"]})

    monkeypatch.setattr(questions, "question_content_validate", refuse)
    with pytest.raises(ValidationFailed):
        make(province_admin, regions["province"])
