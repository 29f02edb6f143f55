"""Online sittings (exams.online): papers drawn fairly and reproducibly, the window and the time
limit on a controlled clock, answers saved as given, scoring, attempts and the certificate on a
pass through the typed-score path, the sweep, practice, and one attempt under a race."""

import datetime as dt
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from exams import online, services
from exams.models import (
    Attempt,
    AttemptEvent,
    AttemptItem,
    AttemptState,
    Certificate,
    ExamKind,
    PaperRule,
    Question,
    QuestionKind,
    QuestionVersion,
    ResultChange,
    ScoreShown,
    Sitting,
    SittingMode,
    SittingStatus,
    SubmittedBy,
)
from tests.exams.factories import GENERAL, SPECIALIST, ExamFactory, ResultFactory, SittingFactory, parts_of
from tests.factories import InspectorFactory, UserFactory
from training.models import EnrollmentStatus

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LAW, TRADE = "法律基础", "专业知识"


def question(region, category, n, *, kind=QuestionKind.SINGLE, difficulty=2) -> Question:
    """A bank question written directly with its version 1 (the bank's own service is tested
    in test_questions): options 选项1..4 (正确/错误 for true/false), answer B (AC for multiple)."""
    options = ["正确", "错误"] if kind == QuestionKind.TRUE_FALSE else [f"{category}{n}选项{i}" for i in range(1, 5)]
    answer = {"single": "B", "multiple": "AC", "true_false": "A"}[kind]
    content = {
        "kind": kind,
        "stem": f"{category}第{n}题",
        "options": options,
        "answer": answer,
        "explanation": f"解析{n}",
        "category": category,
        "difficulty": difficulty,
    }
    q = Question.objects.create(region=region, digest=f"{category}-{n}-{kind}", **content)
    QuestionVersion.objects.create(question=q, version=1, **content)
    return q


@pytest.fixture
def exam(regions):
    """A qualification exam of the province: 法律基础 4 × 10 (part 40), 专业知识 6 × 10 (part 60),
    over a bank of 8 + 10 questions (the second part mixes single, multiple and true/false)."""
    exam = ExamFactory(region=regions["province"])
    parts = parts_of(exam)
    for n in range(8):
        question(regions["province"], LAW, n)
    kinds = [QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUE_FALSE]
    for n in range(10):
        question(regions["province"], TRADE, n, kind=kinds[n % 3])
    PaperRule.objects.create(part=parts[GENERAL], category=LAW, count=4, points=Decimal("10"))
    PaperRule.objects.create(part=parts[SPECIALIST], category=TRADE, count=6, points=Decimal("10"), order=1)
    return exam


def online_sitting(exam, *, opens=T0, hours=8, minutes=60, **extra):
    return SittingFactory(
        exam=exam,
        mode=SittingMode.ONLINE,
        opens_at=opens,
        closes_at=opens + dt.timedelta(hours=hours),
        duration_minutes=minutes,
        held_on=opens.date(),
        **extra,
    )


@pytest.fixture
def candidate(regions):
    return InspectorFactory(region=regions["changan"], user=UserFactory(username="cand"), name="考生甲")


def right_answers(attempt) -> dict[int, str]:
    return {
        i.position: online.to_display(i.version.answer, i.option_order) for i in attempt.items.select_related("version")
    }


# --- drawing --------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_paper_and_another_seed_another(exam):
    # given
    sitting = online_sitting(exam)
    # when
    a, b, c = (online.sitting_paper(sitting=sitting, seed=s) for s in (7, 7, 8))
    # then
    assert a == b
    assert [d.question_id for d in a] != [d.question_id for d in c] or [d.option_order for d in a] != [
        d.option_order for d in c
    ]


def test_a_paper_has_no_question_twice_positions_in_part_order_and_shuffled_options(exam):
    parts = parts_of(exam)
    sitting = online_sitting(exam)
    kinds = dict(QuestionVersion.objects.values_list("pk", "kind"))
    shuffled = 0
    for seed in range(50):
        paper = online.sitting_paper(sitting=sitting, seed=seed)
        assert len({d.question_id for d in paper}) == len(paper) == 10
        assert [d.position for d in paper] == list(range(1, 11))
        assert [d.part_id for d in paper] == [parts[GENERAL].pk] * 4 + [parts[SPECIALIST].pk] * 6
        for d in paper:
            assert sorted(d.option_order) == list(range(len(d.option_order)))
            if kinds[d.version_id] == QuestionKind.TRUE_FALSE:
                assert d.option_order == [0, 1]
            elif d.option_order != sorted(d.option_order):
                shuffled += 1
    assert shuffled > 50 * 10 // 2  # most 4-option questions are shown in another order


def test_every_question_of_a_pool_is_equally_likely(exam):
    """4 of the 8 法律基础 questions over 4,000 seeds: each expected 2,000 times; the chi-square
    statistic with 7 degrees of freedom stays under 24.3 (p = 0.001)."""
    sitting = online_sitting(exam)
    law = set(Question.objects.filter(category=LAW).values_list("pk", flat=True))
    seen = Counter()
    for seed in range(4000):
        for d in online.sitting_paper(sitting=sitting, seed=seed):
            if d.question_id in law:
                seen[d.question_id] += 1
    assert set(seen) == law
    expected = 4000 * 4 / 8
    chi2 = sum((seen[q] - expected) ** 2 / expected for q in law)
    assert chi2 < 24.3, (chi2, seen)


def test_a_narrow_rule_draws_before_a_wide_one_and_an_edit_leaves_a_drawn_paper(exam, regions, candidate):
    # given: 2 hard 法律基础 questions; a rule for any 2 of the category and one for the 2 hard ones
    parts = parts_of(exam)
    PaperRule.objects.filter(part=parts[GENERAL]).delete()
    hard = [question(regions["province"], LAW, 100 + n, difficulty=3) for n in range(2)]
    PaperRule.objects.create(part=parts[GENERAL], category=LAW, count=2, points=Decimal("10"))
    PaperRule.objects.create(part=parts[GENERAL], category=LAW, difficulty=3, count=2, points=Decimal("10"), order=1)
    sitting = online_sitting(exam)
    # when / then: every seed finds its two hard questions
    for seed in range(100):
        drawn = [d.question_id for d in online.sitting_paper(sitting=sitting, seed=seed)]
        assert set(drawn[2:4]) == {h.pk for h in hard}
    # and an attempt points at the version current when drawn, whatever the bank does later
    attempt = online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    item = attempt.items.select_related("version").first()
    q = item.version.question
    QuestionVersion.objects.create(
        question=q, version=2, kind=q.kind, stem="改过的题干", options=q.options, answer=q.answer,
        category=q.category, difficulty=q.difficulty,
    )  # fmt: skip
    Question.objects.filter(pk=q.pk).update(version=2, stem="改过的题干")
    item.refresh_from_db()
    assert item.version.version == 1 and item.version.stem != "改过的题干"


# --- settings -------------------------------------------------------------------------------------


def test_an_online_sitting_needs_a_window_a_duration_and_a_drawable_paper(exam, province_admin):
    # a window that closes before it opens, no duration
    with pytest.raises(ValidationFailed) as refused:
        services.sitting_create(
            actor=province_admin, exam=exam, held_on=T0.date(), mode=SittingMode.ONLINE,
            opens_at=T0, closes_at=T0 - dt.timedelta(hours=1),
        )  # fmt: skip
    assert set(refused.value.fields) == {"closes_at", "duration_minutes"}
    # rules asking for more than the bank holds
    PaperRule.objects.filter(category=TRADE).update(count=12, points=Decimal("5"))
    with pytest.raises(Conflict) as short:
        services.sitting_create(
            actor=province_admin, exam=exam, held_on=T0.date(), mode=SittingMode.ONLINE,
            opens_at=T0, closes_at=T0 + dt.timedelta(hours=2), duration_minutes=60,
        )  # fmt: skip
    assert short.value.code == "paper_not_drawable"
    # points that do not add up to the part's full marks
    PaperRule.objects.filter(category=TRADE).update(count=6, points=Decimal("5"))
    with pytest.raises(Conflict, match="与满分 60 不符"):
        services.sitting_create(
            actor=province_admin, exam=exam, held_on=T0.date(), mode=SittingMode.ONLINE,
            opens_at=T0, closes_at=T0 + dt.timedelta(hours=2), duration_minutes=60,
        )  # fmt: skip
    # a good one, with its event row
    PaperRule.objects.filter(category=TRADE).update(count=6, points=Decimal("10"))
    sitting = services.sitting_create(
        actor=province_admin, exam=exam, held_on=T0.date(), mode=SittingMode.ONLINE,
        opens_at=T0, closes_at=T0 + dt.timedelta(hours=2), duration_minutes=60, score_shown=ScoreShown.ON_CLOSE,
    )  # fmt: skip
    assert (sitting.mode, sitting.duration_minutes, sitting.score_shown) == ("online", 60, "on_close")
    assert sitting.events.get().changes["mode"] == [None, "online"]


def test_mode_and_duration_stay_once_a_candidate_started(exam, province_admin, candidate):
    sitting = online_sitting(exam)
    online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    with pytest.raises(Conflict) as refused:
        services.sitting_update(sitting=sitting, actor=province_admin, duration_minutes=90)
    assert refused.value.code == "sitting_has_attempts"
    # the window may still be extended
    later = sitting.closes_at + dt.timedelta(hours=1)
    assert services.sitting_update(sitting=sitting, actor=province_admin, closes_at=later).closes_at == later


# --- start ------------------------------------------------------------------------------------------


def test_start_within_the_window_only(exam, candidate):
    sitting = online_sitting(exam, hours=2)
    with pytest.raises(Conflict) as early:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0 - dt.timedelta(seconds=1))
    assert early.value.code == "not_open_yet"
    with pytest.raises(Conflict) as late:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0 + dt.timedelta(hours=2))
    assert late.value.code == "window_closed"
    SittingFactory._meta.model.objects.filter(pk=sitting.pk).update(status=SittingStatus.CLOSED)
    with pytest.raises(Conflict) as closed:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    assert closed.value.code == "sitting_closed"
    assert not Attempt.objects.exists()


def test_start_draws_once_and_a_reload_returns_the_same_attempt(exam, candidate):
    # given
    sitting = online_sitting(exam, hours=8, minutes=45)
    # when
    first = online.attempt_start(sitting=sitting, inspector=candidate, now=T0 + dt.timedelta(minutes=5))
    again = online.attempt_start(sitting=sitting, inspector=candidate, now=T0 + dt.timedelta(minutes=6))
    # then
    assert first.pk == again.pk
    assert first.deadline == T0 + dt.timedelta(minutes=50)
    assert first.items.count() == 10
    assert list(first.events.values_list("kind", flat=True)) == [AttemptEvent.Kind.STARTED]


def test_the_deadline_is_the_close_when_it_comes_first(exam, candidate):
    sitting = online_sitting(exam, hours=1, minutes=90)
    attempt = online.attempt_start(sitting=sitting, inspector=candidate, now=T0 + dt.timedelta(minutes=40))
    assert attempt.deadline == sitting.closes_at


def test_a_batch_sitting_is_for_the_batch_completers_only(exam, candidate, regions):
    from tests.training.factories import BatchFactory, EnrollmentFactory

    batch = BatchFactory(region=regions["sjz"])
    exam.course = batch.course
    exam.save()
    sitting = online_sitting(exam, batch=batch)
    with pytest.raises(Conflict) as refused:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    assert refused.value.code == "not_a_candidate"
    EnrollmentFactory(batch=batch, inspector=candidate, status=EnrollmentStatus.COMPLETED)
    assert online.attempt_start(sitting=sitting, inspector=candidate, now=T0).pk


def test_attempts_and_a_pass_count_as_for_typed_scores(exam, candidate):
    # given: one attempt allowed, already used (failed) in a paper sitting
    exam.max_attempts = 1
    exam.save()
    ResultFactory(
        sitting=SittingFactory(exam=exam, held_on=dt.date(2026, 1, 5)), inspector=candidate, score=Decimal("40")
    )
    sitting = online_sitting(exam)
    # when / then
    with pytest.raises(Conflict) as refused:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    assert refused.value.code == "attempts_exhausted"
    exam.max_attempts = 3
    exam.save()
    ResultFactory(
        sitting=SittingFactory(exam=exam, held_on=dt.date(2026, 2, 5)),
        inspector=candidate,
        score=Decimal("80"),
        attempt=2,
    )
    with pytest.raises(Conflict) as passed:
        online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    assert passed.value.code == "already_passed"


# --- answers ------------------------------------------------------------------------------------------


def test_answers_are_saved_at_once_and_a_reload_shows_them(exam, candidate):
    # given
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    right = right_answers(attempt)
    # when: two saves, then a change of the first answer and a cleared one
    online.answers_save(attempt=attempt, inspector=candidate, answers={"1": right[1], "2": "a"}, now=T0)
    saved = online.answers_save(attempt=attempt.pk, inspector=candidate.pk, answers={1: "", 3: right[3]}, now=T0)
    # then
    assert saved.answers == {1: "", 3: right[3]} and saved.deadline == attempt.deadline
    again = online.attempt_start(sitting=attempt.sitting, inspector=candidate, now=T0 + dt.timedelta(minutes=1))
    paper = {row["position"]: row for row in online.attempt_paper(again)}
    assert (paper[1]["answer"], paper[2]["answer"], paper[3]["answer"]) == ("", "A", right[3])
    # kept in the original letters: what scoring compares
    item = AttemptItem.objects.select_related("version").get(attempt=attempt, position=3)
    assert item.answer == item.version.answer and item.answered_at == T0
    # and the paper shows neither the right answer nor the explanation
    assert all(
        "right_answer" not in row and "explanation" not in row and "correct" not in row for row in paper.values()
    )


def test_bad_answers_write_nothing(exam, candidate):
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    single = attempt.items.filter(version__kind=QuestionKind.SINGLE).first().position
    with pytest.raises(ValidationFailed) as refused:
        online.answers_save(
            attempt=attempt, inspector=candidate, answers={single: "AB", 99: "A", 1: "Z", 2: "B"}, now=T0
        )
    assert set(refused.value.fields["answers"]) >= {str(single), "99"}
    assert not AttemptItem.objects.filter(attempt=attempt).exclude(answer="").exists()


def test_only_the_owner_saves(exam, candidate, regions):
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    other = InspectorFactory(region=regions["changan"])
    with pytest.raises(NotFound):
        online.answers_save(attempt=attempt, inspector=other, answers={1: "A"}, now=T0)


def test_answers_after_the_deadline_are_refused_and_the_attempt_submitted(exam, candidate):
    # given: 30 minutes from 9:00
    attempt = online.attempt_start(sitting=online_sitting(exam, minutes=30), inspector=candidate, now=T0)
    online.answers_save(attempt=attempt, inspector=candidate, answers={1: "A"}, now=T0 + dt.timedelta(minutes=29))
    # when: one second after the deadline... and exactly at it
    at = attempt.deadline
    with pytest.raises(Conflict) as refused:
        online.answers_save(attempt=attempt, inspector=candidate, answers={2: "A"}, now=at)
    # then
    assert refused.value.code == "deadline_passed"
    attempt.refresh_from_db()
    assert (attempt.state, attempt.submitted_by, attempt.submitted_at) == ("submitted", "timeout", at)
    assert AttemptItem.objects.get(attempt=attempt, position=2).answer == ""
    with pytest.raises(Conflict) as later:
        online.answers_save(attempt=attempt, inspector=candidate, answers={2: "A"}, now=at)
    assert later.value.code == "attempt_submitted"
    with pytest.raises(Conflict) as restart:
        online.attempt_start(sitting=attempt.sitting, inspector=candidate, now=at)
    assert restart.value.code == "attempt_submitted"


# --- scoring and the result -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "right", "points", "awarded"),
    [
        ("single", "B", "B", "2", "2"),
        ("single", "A", "B", "2", "0"),
        ("true_false", "A", "A", "1", "1"),
        ("multiple", "AC", "AC", "3", "3"),
        ("multiple", "A", "AC", "3", "0"),  # partial: nothing
        ("multiple", "ABC", "AC", "3", "0"),  # one too many: nothing
        ("single", "", "B", "2", "0"),
    ],
)
def test_scoring_rule(kind, given, right, points, awarded):
    correct, got = online.item_outcome(kind=kind, given=given, right=right, points=Decimal(points))
    assert got == Decimal(awarded) and correct == (awarded != "0")


def test_submit_scores_into_a_result_like_a_typed_score_and_a_pass_issues_the_certificate(exam, candidate):
    # given: all right but the first 法律基础 question
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    answers = right_answers(attempt)
    answers[1] = "D" if answers[1] != "D" else "C"
    online.answers_save(attempt=attempt, inspector=candidate, answers=answers, now=T0 + dt.timedelta(minutes=10))
    # when
    done = online.attempt_submit(attempt=attempt, now=T0 + dt.timedelta(minutes=11))
    # then
    parts = parts_of(exam)
    assert done.state == AttemptState.SUBMITTED and done.submitted_by == SubmittedBy.CANDIDATE
    assert done.score == Decimal("90")
    assert done.part_scores == {str(parts[GENERAL].pk): "30.0", str(parts[SPECIALIST].pk): "60.0"}
    result = done.result
    assert (result.score, result.passed, result.attempt, result.pass_mark) == (Decimal("90"), True, 1, Decimal("60"))
    assert ResultChange.objects.get(result=result).source == "online"
    assert Certificate.objects.get(holder=candidate).source_result == result
    assert exam.kind == ExamKind.QUALIFICATION
    assert list(done.events.values_list("kind", flat=True)) == ["started", "submitted", "scored"]
    # idempotent: a second submit changes nothing
    again = online.attempt_submit(attempt=attempt, now=T0 + dt.timedelta(minutes=12))
    assert again.submitted_at == done.submitted_at and ResultChange.objects.count() == 1


def test_a_fail_is_a_result_without_certificate_and_the_next_online_sitting_is_attempt_two(exam, candidate):
    first = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    failed = online.attempt_submit(attempt=first, now=T0 + dt.timedelta(minutes=1))
    assert (failed.score, failed.result.passed, failed.result.attempt) == (Decimal("0"), False, 1)
    later = T0 + dt.timedelta(days=7)
    second = online.attempt_start(sitting=online_sitting(exam, opens=later), inspector=candidate, now=later)
    done = online.attempt_submit(attempt=second, now=later + dt.timedelta(minutes=1))
    assert done.result.attempt == 2
    assert not Certificate.objects.exists()


def test_a_result_the_rules_refuse_leaves_the_attempt_submitted_and_says_why(exam, candidate, province_admin):
    sitting = online_sitting(exam)
    attempt = online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.CLOSED)
    done = online.attempt_submit(attempt=attempt, by=SubmittedBy.TIMEOUT, now=T0 + dt.timedelta(hours=9))
    assert done.state == AttemptState.SUBMITTED and done.result is None
    assert done.events.get(kind="scored").detail["refused"] == "sitting_closed"


def test_the_score_shows_on_submit_or_once_the_sitting_is_closed(exam, candidate, province_admin):
    sitting = online_sitting(exam, score_shown=ScoreShown.ON_CLOSE)
    attempt = online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    assert not online.score_visible(attempt)
    attempt = online.attempt_submit(attempt=attempt, now=T0 + dt.timedelta(minutes=1))
    assert not online.score_visible(attempt)
    assert all("correct" not in row for row in online.attempt_paper(attempt))
    services.sitting_set_status(actor=province_admin, sitting=sitting, status=SittingStatus.CLOSED)
    attempt.sitting.refresh_from_db()
    assert online.score_visible(attempt)
    assert all("correct" in row and "right_answer" not in row for row in online.attempt_paper(attempt))


# --- sweep ----------------------------------------------------------------------------------------------


def test_the_sweep_submits_overdue_attempts_only(exam, candidate, regions):
    sitting = online_sitting(exam, minutes=30)
    late = online.attempt_start(sitting=sitting, inspector=candidate, now=T0)
    other = InspectorFactory(region=regions["qiaoxi"])
    fresh = online.attempt_start(sitting=sitting, inspector=other, now=T0 + dt.timedelta(minutes=20))
    at = T0 + dt.timedelta(minutes=31)
    assert online.attempts_sweep(now=at) == 1
    assert online.attempts_sweep(now=at) == 0
    late.refresh_from_db()
    fresh.refresh_from_db()
    assert (late.state, late.submitted_by, fresh.state) == ("submitted", "timeout", "active")
    assert late.result is not None and late.events.filter(kind="timed_out").exists()


def test_reading_an_overdue_attempt_submits_it(exam, candidate):
    attempt = online.attempt_start(sitting=online_sitting(exam, minutes=30), inspector=candidate, now=T0)
    seen = online.attempt_get_for(inspector=candidate, attempt_id=attempt.pk, now=T0 + dt.timedelta(minutes=30))
    assert seen.state == AttemptState.SUBMITTED and seen.submitted_by == SubmittedBy.TIMEOUT


def test_the_sweep_task_and_its_schedule(exam, candidate, settings):
    from exams import tasks

    attempt = online.attempt_start(sitting=online_sitting(exam, minutes=1), inspector=candidate, now=T0)
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    assert tasks.sweep_attempts() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["exams-sweep-attempts"]
    assert entry["task"] == "exams.tasks.sweep_attempts" and entry["schedule"] == 60.0


# --- practice ------------------------------------------------------------------------------------------


def test_practice_is_drawn_from_the_bank_not_counted_and_shows_answers_after_submit(exam, candidate):
    # given
    attempt = online.practice_start(inspector=candidate, category=TRADE, count=5, now=T0)
    assert online.practice_start(inspector=candidate, now=T0).pk == attempt.pk  # one at a time
    assert attempt.items.count() == 5
    assert set(attempt.items.values_list("version__category", flat=True)) == {TRADE}
    assert all("right_answer" not in row for row in online.attempt_paper(attempt))
    # when
    online.answers_save(attempt=attempt, inspector=candidate, answers=right_answers(attempt), now=T0)
    done = online.attempt_submit(attempt=attempt, now=T0 + dt.timedelta(minutes=3))
    # then
    assert done.score == Decimal("5") and done.result is None
    paper = online.attempt_paper(done)
    assert all(row["correct"] and row["right_answer"] == row["answer"] and row["explanation"] for row in paper)
    assert online.practice_start(inspector=candidate, now=T0).pk != attempt.pk


def test_practice_count_is_bounded(candidate):
    with pytest.raises(ValidationFailed):
        online.practice_start(inspector=candidate, count=0)


# --- lists ----------------------------------------------------------------------------------------------


def test_the_candidate_list_holds_open_sittings_of_their_province(exam, candidate, regions):
    from tests.factories import RegionFactory

    mine = online_sitting(exam)
    SittingFactory(exam=exam)  # a paper sitting
    online_sitting(exam, opens=T0 - dt.timedelta(days=2), hours=1)  # closed already
    other = ExamFactory(region=RegionFactory(code="140000", name="山西省", level="province"))
    online_sitting(other)
    assert [s.pk for s in online.online_sittings_for(inspector=candidate, now=T0)] == [mine.pk]


# --- a race ---------------------------------------------------------------------------------------------


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_two_starts_at_once_give_one_attempt(exam, candidate):
    sitting = online_sitting(exam)
    barrier = threading.Barrier(4)
    got = []

    def start():
        try:
            barrier.wait(timeout=30)
            got.append(online.attempt_start(sitting=sitting, inspector=candidate, now=T0).pk)
        except Exception as exc:  # asserted below
            got.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(got) == 4 and len(set(got)) == 1 and isinstance(got[0], int), got
    assert Attempt.objects.count() == 1 and AttemptItem.objects.count() == 10


# --- the demo ---------------------------------------------------------------------------------------------


def test_the_demo_opens_an_online_sitting_for_the_demo_inspector_once(exam, regions):
    from exams import demo
    from tests.factories import RegionAdminFactory

    # given: the demo's province admin and inspector
    RegionAdminFactory(user__username="province_admin", region=regions["province"])
    me = InspectorFactory(region=regions["changan"], user=UserFactory(username="inspector"))
    # when
    first = demo.seed_online_sitting()
    again = demo.seed_online_sitting()
    # then: the sitting is of this year's exam, titled with the sitting's own year and made
    # with the newest ruled exam's parts and paper rules
    assert first == {"online_sittings": 1} and again == {"online_sittings": 0}
    assert not exam.sittings.exists()
    sitting = Sitting.objects.get(mode=SittingMode.ONLINE)
    assert sitting.exam.title == f"{sitting.held_on.year}年度行政执法资格考试"
    assert sitting.held_on == timezone.localdate()
    assert [(p.name, p.max_score) for p in sitting.exam.parts.all()] == [
        (p.name, p.max_score) for p in exam.parts.all()
    ]
    assert PaperRule.objects.filter(part__exam=sitting.exam).count() == 2
    assert [s.pk for s in online.online_sittings_for(inspector=me)] == [sitting.pk]
    assert online.attempt_start(sitting=sitting, inspector=me).items.count() == 10


def test_a_save_is_a_fixed_number_of_statements(exam, candidate, django_assert_max_num_queries):
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    # one answer: the attempt locked, its item read, one UPDATE (and the savepoint pair here)
    with django_assert_max_num_queries(5):
        online.answers_save(attempt=attempt.pk, inspector=candidate.pk, answers={1: "A"}, now=T0)
    # ten answers: still one UPDATE
    with django_assert_max_num_queries(5):
        online.answers_save(
            attempt=attempt.pk, inspector=candidate.pk, answers=dict.fromkeys(range(1, 11), "A"), now=T0
        )
    assert AttemptItem.objects.filter(attempt=attempt).exclude(answer="").count() == 10


@pytest.mark.services("db")
@pytest.mark.django_db(transaction=True)
def test_saves_racing_a_submit_are_either_scored_or_refused(exam, candidate):
    """Ten saves and a submit at once: a save either went in before the submit (and is
    scored) or is refused after it; no answer is left stored but unscored."""
    attempt = online.attempt_start(sitting=online_sitting(exam), inspector=candidate, now=T0)
    right = right_answers(attempt)
    barrier = threading.Barrier(11)
    outcomes = []

    def save(position):
        try:
            barrier.wait(timeout=30)
            online.answers_save(attempt=attempt.pk, inspector=candidate.pk, answers={position: right[position]}, now=T0)
            outcomes.append("saved")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    def submit():
        try:
            barrier.wait(timeout=30)
            online.attempt_submit(attempt=attempt.pk, now=T0 + dt.timedelta(seconds=1))
            outcomes.append("submitted")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(p,)) for p in range(1, 11)] + [threading.Thread(target=submit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(outcomes) <= {"attempt_submitted", "saved", "submitted"} and len(outcomes) == 11, outcomes
    attempt.refresh_from_db()
    items = list(attempt.items.all())
    assert all(i.correct == bool(i.answer) for i in items)  # every stored answer (all right) scored
    assert attempt.score == sum((i.points for i in items if i.answer), Decimal("0"))
    assert outcomes.count("saved") == sum(1 for i in items if i.answer)
