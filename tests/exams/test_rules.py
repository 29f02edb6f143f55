"""The exams rules alone (exams/rules.py): pure functions, no database."""

import datetime as dt
from decimal import Decimal

import pytest

from exams import rules
from exams.models import ExamKind, Sitting, SittingStatus


def prior(*, sitting_id=1, score=Decimal("50"), absent=False, passed=False, certified=False):
    return rules.PriorResult(sitting_id, None if absent else score, absent, None if absent else passed, {}, certified)


@pytest.mark.parametrize(
    ("status", "takes"),
    [
        (SittingStatus.SCHEDULED, True),
        (SittingStatus.GRADING, True),
        (SittingStatus.CLOSED, False),
        (SittingStatus.CANCELLED, False),
    ],
)
def test_a_sitting_takes_scores_until_it_is_closed_or_cancelled(status, takes):
    refusal = rules.sitting_scores_refusal(sitting=Sitting(status=status))
    assert rules.sitting_accepts_scores(status=status) is takes
    assert (refusal is None) is takes
    if refusal is not None:
        assert refusal.code == "sitting_closed"
        assert refusal.error().status_code == 409


def test_a_first_score_is_accepted():
    assert rules.result_refusal(inspector_name="李四", max_attempts=1, absent=False, mine=None, others=[]) is None


@pytest.mark.parametrize(
    ("others", "code"),
    [
        ([prior(passed=True)], "already_passed"),
        ([prior(), prior(sitting_id=2)], "attempts_exhausted"),
    ],
)
def test_a_new_score_needs_an_attempt_left_and_no_pass(others, code):
    refusal = rules.result_refusal(inspector_name="李四", max_attempts=2, absent=False, mine=None, others=others)
    assert refusal.code == code
    assert "李四" in refusal.message


def test_absences_use_no_attempt_and_an_absence_is_always_accepted():
    absences = [prior(absent=True), prior(sitting_id=2, absent=True)]
    assert rules.result_refusal(inspector_name="李四", max_attempts=1, absent=False, mine=None, others=absences) is None
    used = [prior()]
    assert rules.result_refusal(inspector_name="李四", max_attempts=1, absent=True, mine=None, others=used) is None


def test_an_absence_turned_into_a_score_uses_an_attempt_but_a_correction_does_not():
    used = [prior(sitting_id=2)]
    turned = rules.result_refusal(
        inspector_name="李四", max_attempts=1, absent=False, mine=prior(sitting_id=3, absent=True), others=used
    )
    corrected = rules.result_refusal(
        inspector_name="李四", max_attempts=1, absent=False, mine=prior(sitting_id=3), others=used
    )
    assert turned.code == "attempts_exhausted"
    assert corrected is None


def test_a_result_that_issued_a_certificate_is_fixed():
    refusal = rules.result_refusal(
        inspector_name="李四", max_attempts=3, absent=True, mine=prior(certified=True, passed=True), others=[]
    )
    assert refusal.code == "result_locked"


def test_the_total_is_the_sum_of_the_parts_and_passes_at_the_pass_mark():
    assert rules.result_outcome(part_scores={"1": "20.5", "2": "39.5"}, pass_mark=Decimal("60")) == (
        Decimal("60.0"),
        True,
    )
    assert rules.result_outcome(part_scores={"1": "59.9"}, pass_mark=Decimal("60"))[1] is False


def test_attempts_are_numbered_by_date_then_entry_with_a_new_one_last_on_its_day():
    june, march = dt.date(2025, 6, 1), dt.date(2025, 3, 1)
    numbered = rules.attempt_numbers([("a", june, 5), ("new", june, None), ("b", march, 9), ("c", june, 2)])
    assert numbered == {"b": 1, "c": 2, "a": 3, "new": 4}


@pytest.mark.parametrize(
    ("changes", "earns"),
    [
        ({}, True),
        ({"passed": False}, False),
        ({"exam_kind": ExamKind.ANNUAL}, False),
        ({"already_issued": True}, False),
        ({"holder_holds_one": True}, False),
        ({"holder_active": False}, False),
    ],
)
def test_a_qualification_pass_earns_a_certificate(changes, earns):
    given = {
        "passed": True,
        "exam_kind": ExamKind.QUALIFICATION,
        "already_issued": False,
        "holder_holds_one": False,
        "holder_active": True,
    }
    assert rules.result_earns_certificate(**{**given, **changes}) is earns


@pytest.mark.parametrize(
    ("parts", "pass_mark", "field"),
    [
        ([], Decimal("60"), "parts"),
        ([("通用", Decimal("40")), ("通用", Decimal("60"))], Decimal("60"), "parts"),
        ([("通用", Decimal("40")), ("专门", Decimal("60"))], Decimal("100.5"), "pass_mark"),
    ],
)
def test_a_paper_needs_distinct_parts_and_a_pass_mark_within_its_full_marks(parts, pass_mark, field):
    refusal = rules.exam_paper_refusal(parts=parts, pass_mark=pass_mark)
    assert field in refusal.fields
    assert refusal.error().status_code == 400


def test_a_pass_mark_equal_to_the_full_marks_is_valid():
    assert rules.exam_paper_refusal(parts=[("综合", Decimal("100"))], pass_mark=Decimal("100")) is None


def test_once_results_exist_the_paper_and_pass_mark_are_fixed_but_not_the_title():
    assert rules.exam_change_refusal(has_results=False, changed=["pass_mark", "parts"]) is None
    assert rules.exam_change_refusal(has_results=True, changed=["title", "max_attempts"]) is None
    refusal = rules.exam_change_refusal(has_results=True, changed=["title", "pass_mark"])
    assert set(refusal.fields) == {"pass_mark"}


def test_a_sittings_exam_and_batch_are_fixed_and_its_date_once_results_exist():
    assert rules.sitting_change_refusal(has_results=False, changed=["held_on", "place"]) is None
    assert rules.sitting_change_refusal(has_results=True, changed=["place"]) is None
    assert rules.sitting_change_refusal(has_results=True, changed=["held_on"]).code == "sitting_has_results"
    assert rules.sitting_change_refusal(has_results=False, changed=["exam"]).code == "sitting_fixed"


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [(91, None), (90, 90), (31, 90), (30, 30), (8, 30), (7, 7), (0, 7), (-1, None)],
)
def test_the_reminder_due_is_the_nearest_threshold_not_yet_passed(days_left, threshold):
    assert rules.reminder_threshold(days_left=days_left) == threshold
