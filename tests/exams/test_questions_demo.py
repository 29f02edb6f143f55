"""The demo bank: realistic, every question valid, idempotent, and the qualification exam's
paper rules add up to its parts and can be drawn from it."""

from collections import Counter

from exams import demo_bank
from exams.demo import QUALIFICATION_PARTS
from exams.models import ExamKind, PaperRule, Question, QuestionVersion
from exams.questions import drawable_questions, paper_rule_shortfalls
from tests.exams.factories import ExamFactory
from tests.factories import RegionAdminFactory


def test_the_demo_bank_and_rules_are_seeded_once(regions):
    # given the demo's province admin and a qualification exam as the demo makes it
    RegionAdminFactory(user__username="province_admin", region=regions["province"])
    exam = ExamFactory(region=regions["province"], kind=ExamKind.QUALIFICATION, parts=QUALIFICATION_PARTS)
    # when
    first = demo_bank.seed_question_bank()
    again = demo_bank.seed_question_bank()
    # then
    assert first == {"questions": len(demo_bank.BANK), "exams_ruled": 1}
    assert again == {"questions": 0, "exams_ruled": 0}
    assert 80 <= Question.objects.count() == QuestionVersion.objects.count()
    kinds = Counter(Question.objects.values_list("kind", flat=True))
    assert set(kinds) == {"single", "multiple", "true_false"}
    assert set(Question.objects.values_list("difficulty", flat=True)) == {1, 2, 3}
    assert PaperRule.objects.filter(part__exam=exam).count() == len(demo_bank.RULES)
    assert paper_rule_shortfalls(exam=exam) == []
    # every county's exam may draw from the province's bank
    assert drawable_questions(regions["changan"]).count() == Question.objects.count()
