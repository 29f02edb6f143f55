"""Online sittings (在线考试) and practice (练习): the settings check, the drawing of a paper
from the question bank, and an attempt's life: start, answers saved one by one, submit (by the
candidate, or by the server when time runs out), scoring into Result through the same path as
a typed score (exams.services.results_record_many, source "online").

The server's clock decides: an attempt's ``deadline`` is fixed at start (the earlier of start +
duration and the sitting's close); answers at or after it are refused and the attempt is
submitted by timeout, by the beat task (``attempts_sweep``) or lazily by whoever touches it first.

Letters: an item's options are shown in ``option_order`` (original indexes in display order),
lettered A, B, C... as shown. Callers (the API and the phone pages) speak display letters;
``AttemptItem.answer`` keeps the original letters, which scoring compares with the version's.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Func, IntegerField, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from core.text import plain_number
from personnel.models import Inspector, Region

from . import rules, services
from .models import (
    Attempt,
    AttemptEvent,
    AttemptItem,
    AttemptState,
    Exam,
    PaperRule,
    QuestionKind,
    QuestionVersion,
    Result,
    ScoreShown,
    Sitting,
    SittingMode,
    SittingStatus,
    SubmittedBy,
)
from .questions import drawable_questions

LETTERS = "ABCDEFGHIJKL"  # AttemptItem.answer holds at most 12 letters
PRACTICE_MINUTES = 60  # a practice paper's time (practice is not counted; it only bounds the row)
PRACTICE_MAX = 100  # questions in one practice paper at most
STARTABLE = (SittingStatus.SCHEDULED, SittingStatus.GRADING)
ONLINE_FIELDS = ("mode", "opens_at", "closes_at", "duration_minutes", "score_shown")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


# --- the sitting's online settings --------------------------------------------------------------


def online_settings_refusal(
    *, mode: str, opens_at: dt.datetime | None, closes_at: dt.datetime | None, duration_minutes: int | None
) -> rules.Refusal | None:
    """An online sitting has a window (opens before it closes) and a duration of 1 minute up to
    the window's length; a paper sitting needs none of these (they are ignored)."""
    if mode != SittingMode.ONLINE:
        return None
    fields = {}
    if opens_at is None:
        fields["opens_at"] = [_("在线考试须填写开考时间。")]
    if closes_at is None:
        fields["closes_at"] = [_("在线考试须填写截止时间。")]
    if not duration_minutes or duration_minutes < 1:
        fields["duration_minutes"] = [_("在线考试须填写答题时长（至少 1 分钟）。")]
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        fields["closes_at"] = [_("截止时间须晚于开考时间。")]
    if fields:
        first = next(iter(fields.values()))[0]
        return rules.Refusal("invalid", first, fields=fields, conflict=False)
    return None


def paper_refusal(*, exam: Exam) -> rules.Refusal | None:
    """The exam's paper rules can be drawn: every part has rules whose points add up to the
    part's full marks, every fixed question is active, and every draw has enough active
    questions of the exam's region (after the fixed ones and the earlier rules took theirs)."""
    parts = list(exam.parts.all())
    rule_rows = list(
        PaperRule.objects.filter(part__exam=exam).select_related("part").order_by("part__order", "order", "id")
    )
    problems = []
    if not rule_rows:
        problems.append(_("考试“%(e)s”还没有组卷规则。") % {"e": exam.title})
    for part in parts:
        mine = [r for r in rule_rows if r.part_id == part.pk]
        total = sum((r.points * r.count for r in mine), Decimal("0"))
        if rule_rows and total != part.max_score:
            problems.append(
                _("科目“%(p)s”的组卷分值合计 %(t)s，与满分 %(m)s 不符。")
                % {"p": part.name, "t": plain_number(total), "m": plain_number(part.max_score)}
            )
    if not problems:
        try:  # a trial draw: exactly what a candidate's start will do
            draw_paper(rules_=rule_rows, pool=_pool(exam.region), seed=0)
        except Conflict as exc:
            problems.append(exc.detail)
    if problems:
        return rules.Refusal("paper_not_drawable", problems[0], fields={"paper": problems})
    return None


def _rule_label(rule: PaperRule) -> str:
    bits = [rule.category]
    if rule.difficulty:
        bits.append(rule.get_difficulty_display())
    if rule.kind:
        bits.append(rule.get_kind_display())
    return " / ".join(str(b) for b in bits)


def sitting_online_check(*, exam: Exam, mode: str, opens_at, closes_at, duration_minutes) -> None:
    """What sitting_create and sitting_update ask of an online sitting (raises the refusal)."""
    refusal = online_settings_refusal(
        mode=mode, opens_at=opens_at, closes_at=closes_at, duration_minutes=duration_minutes
    )
    if refusal is None and mode == SittingMode.ONLINE:
        refusal = paper_refusal(exam=exam)
    if refusal is not None:
        raise refusal.error()


# --- the pool and the draw ----------------------------------------------------------------------


@dataclass(frozen=True)
class PoolQuestion:
    id: int
    kind: str
    category: str
    difficulty: int
    version_id: int
    options: int


class Pool:
    """The drawable questions of a region (its own bank and its ancestors'), each with its
    current version, ordered by id so that a seed always draws the same paper."""

    def __init__(self, rows: list[PoolQuestion]):
        self.rows = sorted(rows, key=lambda q: q.id)
        self.by_id = {q.id: q for q in self.rows}

    def matching(self, rule) -> list[int]:
        return [
            q.id
            for q in self.rows
            if q.category == rule.category
            and (not rule.difficulty or q.difficulty == rule.difficulty)
            and (not rule.kind or q.kind == rule.kind)
        ]


def _pool(region: Region) -> Pool:
    """One read: the drawable questions with the id of their current version."""
    # The number of options, not the options: a start reads the whole bank's rows.
    length = "jsonb_array_length" if connection.vendor == "postgresql" else "json_array_length"
    rows = (
        QuestionVersion.objects.filter(
            question__in=drawable_questions(region).values("pk"), version=F("question__version")
        )
        .annotate(option_count=Func(F("options"), function=length, output_field=IntegerField()))
        .values_list("question_id", "kind", "category", "difficulty", "pk", "option_count")
        .order_by("question_id")
    )
    return Pool([PoolQuestion(q, k, c, d, v, n or 0) for q, k, c, d, v, n in rows])


@dataclass(frozen=True)
class Drawn:
    """One question of a drawn paper, before it is written as an AttemptItem."""

    position: int
    part_id: int | None
    question_id: int
    version_id: int
    option_order: list[int]
    points: Decimal


def _option_order(rng: random.Random, question: PoolQuestion) -> list[int]:
    order = list(range(question.options))
    if question.kind != QuestionKind.TRUE_FALSE:  # 正确 / 错误 stay in their order
        rng.shuffle(order)
    return order


def draw_paper(*, rules_: list[PaperRule], pool: Pool, seed: int) -> list[Drawn]:
    """The paper for ``seed``: the rules in part order, each drawing ``count`` questions of its
    pool uniformly without replacement (``random.Random(seed).sample``), never a question twice
    in one paper (fixed questions are set aside first); options shuffled except true/false.
    The same seed and pool give the same paper."""
    rng = random.Random(seed)  # noqa: S311 - reproducible by design; the seed itself comes from secrets
    ordered = sorted(rules_, key=lambda r: (r.part.order, r.part_id, r.order, r.pk or 0))
    used = {r.question_id for r in ordered if r.question_id is not None}
    picked: dict[int, list[int]] = {}
    # The narrower rules draw first (a 难 rule before an any-difficulty rule of the same
    # category), so a wide rule never takes the questions only a narrow one may have.
    for rule in sorted(ordered, key=lambda r: (r.question_id is None, -bool(r.difficulty) - bool(r.kind))):
        if rule.question_id is not None:
            if rule.question_id not in pool.by_id:
                raise Conflict(
                    _("指定试题 %(q)s 已停用，无法组卷。") % {"q": rule.question_id}, code="paper_not_drawable"
                )
            picked[id(rule)] = [rule.question_id]
            continue
        candidates = [q for q in pool.matching(rule) if q not in used]
        if len(candidates) < rule.count:
            message = _("题库中“%(r)s”的可用试题不足 %(n)d 道，无法组卷。") % {"r": _rule_label(rule), "n": rule.count}
            raise Conflict(message, code="paper_not_drawable")
        chosen = rng.sample(candidates, rule.count)
        used.update(chosen)
        picked[id(rule)] = chosen
    out: list[Drawn] = []
    for rule in ordered:
        for question_id in picked[id(rule)]:
            question = pool.by_id[question_id]
            out.append(
                Drawn(
                    position=len(out) + 1,
                    part_id=rule.part_id,
                    question_id=question_id,
                    version_id=question.version_id,
                    option_order=_option_order(rng, question),
                    points=rule.points,
                )
            )
    return out


def sitting_paper(*, sitting: Sitting, seed: int) -> list[Drawn]:
    """The paper a seed draws for a sitting (from its exam's rules and region's bank)."""
    rule_rows = list(PaperRule.objects.filter(part__exam_id=sitting.exam_id).select_related("part"))
    if not rule_rows:
        raise Conflict(_("该考试还没有组卷规则。"), code="paper_not_drawable")
    return draw_paper(rules_=rule_rows, pool=_pool(sitting.exam.region), seed=seed)


def _new_seed() -> int:
    return secrets.randbits(62)


# --- scoring --------------------------------------------------------------------------------------


def item_outcome(*, kind: str, given: str, right: str, points: Decimal) -> tuple[bool, Decimal]:
    """The one scoring rule: an item is right when the letters given are exactly the right ones
    (single and true/false: the one letter; multiple: the same set, no more and no fewer) and
    then earns its full points; anything else (wrong, partial, blank) earns 0."""
    correct = bool(given) and set(given) == set(right)
    return correct, (points if correct else Decimal("0"))


def score_visible(attempt: Attempt) -> bool:
    """May the candidate see the score? After submitting; for a sitting that shows scores on
    close (``score_shown``), only once the sitting is closed (成绩已确认). Practice: at once."""
    if attempt.state != AttemptState.SUBMITTED:
        return False
    if attempt.practice or attempt.sitting_id is None:
        return True
    sitting = attempt.sitting
    if sitting.score_shown == ScoreShown.ON_CLOSE:
        return sitting.status == SittingStatus.CLOSED
    return True


# --- letters ----------------------------------------------------------------------------------


def to_original(letters: str, option_order: list[int]) -> str:
    """Display letters -> original letters, sorted (the form scoring compares)."""
    return "".join(sorted(LETTERS[option_order[LETTERS.index(c)]] for c in letters))


def to_display(letters: str, option_order: list[int]) -> str:
    """Original letters -> the letters the candidate saw, sorted."""
    return "".join(sorted(LETTERS[option_order.index(LETTERS.index(c))] for c in letters))


def _clean_letters(raw, *, kind: str, options: int) -> str:
    """Letters as given (display order): upper case, each once, within the options; one for
    single and true/false, one or more for multiple. "" (or null) clears the answer."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ValueError(_("答案应为选项字母。"))
    text = raw.strip().upper().replace(",", "").replace(" ", "")
    if not text:
        return ""
    allowed = LETTERS[:options]
    if any(c not in allowed for c in text):
        raise ValueError(_("答案只能是 %(a)s 中的字母。") % {"a": "、".join(allowed)})
    if len(set(text)) != len(text):
        raise ValueError(_("同一选项不能重复。"))
    if kind != QuestionKind.MULTIPLE and len(text) != 1:
        raise ValueError(_("单选题和判断题只能选一个答案。"))
    return "".join(sorted(text))


# --- attempts: start -----------------------------------------------------------------------------


def _record(attempt: Attempt, kind: str, actor=None, **detail) -> None:
    AttemptEvent.objects.create(attempt=attempt, kind=kind, detail=detail, actor_id=getattr(actor, "pk", None))


def _user_of(inspector: Inspector):
    return inspector.user if getattr(inspector, "user_id", None) else None


def start_refusal(*, sitting: Sitting, now: dt.datetime) -> rules.Refusal | None:
    """The sitting as a whole cannot be started now: not online, not scheduled or grading,
    or outside its window (opens_at <= now < closes_at)."""
    if sitting.mode != SittingMode.ONLINE:
        return rules.Refusal("not_online", _("该场次不是在线考试。"))
    if sitting.status not in STARTABLE:
        return rules.Refusal(
            "sitting_closed", _("场次状态为“%(s)s”，不能开始答题。") % {"s": sitting.get_status_display()}
        )
    if now < sitting.opens_at:
        when = timezone.localtime(sitting.opens_at).strftime("%Y-%m-%d %H:%M")
        return rules.Refusal("not_open_yet", _("考试尚未开始，开考时间为 %(t)s。") % {"t": when})
    if now >= sitting.closes_at:
        return rules.Refusal("window_closed", _("考试已截止。"))
    return None


def attempt_start(*, sitting: Sitting, inspector: Inspector, now: dt.datetime | None = None) -> Attempt:
    """The candidate's attempt at an online sitting: their existing one if they started already
    (a reload; refused once it was submitted), else a new paper drawn for them, with the same
    candidate and attempts checks as a typed score. One per candidate per sitting (a unique
    index: two starts at once give one attempt)."""
    now = _now(now)
    existing = Attempt.objects.filter(sitting=sitting, inspector=inspector, practice=False).first()
    if existing is not None:
        return _resume(existing, now)
    sitting = Sitting.objects.select_related("exam", "exam__region").get(pk=sitting.pk)
    refusal = start_refusal(sitting=sitting, now=now)
    if refusal is not None:
        raise refusal.error()
    if not services._is_candidate(sitting, inspector):
        raise Conflict(_("您不是本场考试的考生。"), code="not_a_candidate")
    _attempts_check(sitting=sitting, inspector=inspector)
    seed = _new_seed()
    paper = sitting_paper(sitting=sitting, seed=seed)
    deadline = min(now + dt.timedelta(minutes=sitting.duration_minutes), sitting.closes_at)
    try:
        with transaction.atomic():
            attempt = Attempt.objects.create(
                sitting=sitting, inspector=inspector, seed=seed, started_at=now, deadline=deadline
            )
            _write_items(attempt, paper)
            _record(attempt, AttemptEvent.Kind.STARTED, _user_of(inspector), items=len(paper), seed=seed)
    except IntegrityError:
        # Another start of the same candidate won the race: theirs is the attempt.
        existing = Attempt.objects.filter(sitting=sitting, inspector=inspector, practice=False).first()
        if existing is None:
            raise
        return _resume(existing, now)
    return attempt


def _resume(attempt: Attempt, now: dt.datetime) -> Attempt:
    if attempt.state == AttemptState.ACTIVE and now >= attempt.deadline:
        attempt = attempt_submit(attempt=attempt, by=SubmittedBy.TIMEOUT, now=now)
    if attempt.state == AttemptState.SUBMITTED:
        raise Conflict(_("您已交卷，不能重新开始。"), code="attempt_submitted")
    return attempt


def _attempts_check(*, sitting: Sitting, inspector: Inspector) -> None:
    """The typed-score rules before a paper is drawn: no result in this sitting yet, not
    passed already, attempts left (exams.rules.result_refusal with the prior results)."""
    prior = list(
        Result.objects.filter(exam_id=sitting.exam_id, inspector=inspector).annotate(
            certificate_id=F("certificate__id")
        )
    )
    if any(r.sitting_id == sitting.pk for r in prior):
        raise Conflict(_("您在本场次已有成绩。"), code="already_recorded")
    refusal = rules.result_refusal(
        inspector_name=inspector.name,
        max_attempts=sitting.exam.max_attempts,
        absent=False,
        mine=None,
        others=[services._prior(r) for r in prior],
    )
    if refusal is not None:
        raise refusal.error()


def _write_items(attempt: Attempt, paper: list[Drawn]) -> None:
    AttemptItem.objects.bulk_create(
        [
            AttemptItem(
                attempt=attempt,
                position=d.position,
                part_id=d.part_id,
                version_id=d.version_id,
                option_order=d.option_order,
                points=d.points,
            )
            for d in paper
        ]
    )


# --- attempts: answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """What answers_save wrote: the answers (display letters) by position, and the deadline."""

    answers: dict[int, str]
    deadline: dt.datetime


def answers_save(
    *, attempt: Attempt | int, inspector: Inspector | int, answers: dict, now: dt.datetime | None = None
) -> Saved:
    """Save answers ({position: display letters}; "" clears one) of the candidate's own active
    attempt, at once, before its deadline: all checked first (nothing written if one is bad),
    then one UPDATE per answer. At or after the deadline nothing is saved, the attempt is
    submitted by timeout and Conflict ``deadline_passed`` is raised. Three statements for one
    answer (the attempt locked and its items read in one, the UPDATE, the commit)."""
    now = _now(now)
    attempt_id = attempt.pk if isinstance(attempt, Attempt) else int(attempt)
    inspector_id = inspector.pk if isinstance(inspector, Inspector) else int(inspector)
    try:
        wanted = {int(k): v for k, v in answers.items()}
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise ValidationFailed(_("题序应为数字。"), fields={"answers": [_("题序应为数字。")]}) from None
    with transaction.atomic():
        # One statement locks the attempt (held until commit: a submit, FOR UPDATE, waits for
        # this save, and this one for it) and reads the items asked for: one row per item found,
        # or one row without an item (a wrong position is told apart from another's attempt).
        positions = [p for p in wanted if 1 <= p <= 32767] or [0]
        with connection.cursor() as cursor:
            cursor.execute(
                _SAVE_READ
                % {"positions": ", ".join(["%s"] * len(positions)), "lock": _SAVE_LOCK.get(connection.vendor, "")},
                [*positions, attempt_id, inspector_id],
            )
            rows = cursor.fetchall()
        if not rows:
            raise NotFound()
        state, deadline = rows[0][0], rows[0][1]
        if isinstance(deadline, str):  # SQLite: text, or a naive datetime, in UTC
            deadline = dt.datetime.fromisoformat(deadline)
        if timezone.is_naive(deadline):
            deadline = deadline.replace(tzinfo=dt.UTC)
        if state != AttemptState.ACTIVE:
            raise Conflict(_("答卷已提交，不能再修改答案。"), code="attempt_submitted")
        overdue = now >= deadline
        if not overdue:
            items = {
                position: (pk, json.loads(order) if isinstance(order, str) else order, kind)
                for _state, _deadline, pk, position, order, kind in rows
                if pk is not None
            }
            saved = _write_answers(items, wanted, now)
    if overdue:
        attempt_submit(attempt=attempt_id, by=SubmittedBy.TIMEOUT, now=now)
        raise Conflict(_("答题时间已到，答卷已自动提交，此后的答案不予保存。"), code="deadline_passed")
    return Saved(saved, deadline)


_SAVE_READ = (
    "SELECT a.state, a.deadline, i.id, i.position, i.option_order, v.kind "
    "FROM exams_attempt a "
    "LEFT JOIN exams_attemptitem i ON i.attempt_id = a.id AND i.position IN (%(positions)s) "
    "LEFT JOIN exams_questionversion v ON v.id = i.version_id "
    "WHERE a.id = %%s AND a.inspector_id = %%s%(lock)s"
)
_SAVE_LOCK = {"postgresql": " FOR NO KEY UPDATE OF a", "sqlite": ""}


def _write_answers(items: dict, wanted: dict[int, str], now: dt.datetime) -> dict[int, str]:
    if not wanted:
        return {}
    errors: dict[str, list[str]] = {}
    clean: dict[int, tuple[int, str, str]] = {}
    for position, raw in wanted.items():
        item = items.get(position)
        if item is None:
            errors[str(position)] = [_("没有第 %(n)d 题。") % {"n": position}]
            continue
        pk, order, kind = item
        try:
            shown = _clean_letters(raw, kind=kind, options=len(order))
        except ValueError as exc:
            errors[str(position)] = [str(exc)]
            continue
        clean[position] = (pk, shown, to_original(shown, order))
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, fields={"answers": errors})
    rows = [
        AttemptItem(pk=pk, answer=original, answered_at=now if original else None)
        for pk, _s, original in clean.values()
    ]
    if len(rows) == 1:  # the usual save from a phone: one answer, a plain UPDATE
        AttemptItem.objects.filter(pk=rows[0].pk).update(answer=rows[0].answer, answered_at=rows[0].answered_at)
    elif rows:
        AttemptItem.objects.bulk_update(rows, ["answer", "answered_at"])
    return {position: shown for position, (_pk, shown, _o) in clean.items()}


# --- attempts: submit and sweep ----------------------------------------------------------------------


@transaction.atomic
def attempt_submit(
    *, attempt: Attempt | int, by: str = SubmittedBy.CANDIDATE, now: dt.datetime | None = None
) -> Attempt:
    """Submit and score an attempt (idempotent: a submitted one is returned as it is). Every
    item is scored by ``item_outcome``; the part scores and the total go into Result through
    exams.services.results_record_many (source "online"): attempt numbers, pass mark, history
    and the certificate on a pass as for a typed score. Practice papers get no Result. If the
    result cannot be recorded (the sitting was closed meanwhile, or the attempts rule refuses
    now), the attempt is still submitted and scored and the refusal is kept in its event."""
    now = _now(now)
    attempt_id = attempt.pk if isinstance(attempt, Attempt) else int(attempt)
    attempt = (
        Attempt.objects.select_for_update(of=("self",))
        .select_related("sitting", "sitting__exam", "inspector", "inspector__user")
        .get(pk=attempt_id)
    )
    if attempt.state == AttemptState.SUBMITTED:
        return attempt
    if by == SubmittedBy.CANDIDATE and now >= attempt.deadline:
        by = SubmittedBy.TIMEOUT  # too late to hand in: the server's clock submitted it
    items = list(attempt.items.select_related("version").order_by("position"))
    parts: dict[str, Decimal] = {}
    if attempt.sitting_id:
        parts = {str(p.pk): Decimal("0") for p in attempt.sitting.exam.parts.all()}
    total = Decimal("0")
    for item in items:
        item.correct, item.awarded = item_outcome(
            kind=item.version.kind, given=item.answer, right=item.version.answer, points=item.points
        )
        total += item.awarded
        if item.part_id is not None:
            key = str(item.part_id)
            parts[key] = parts.get(key, Decimal("0")) + item.awarded
    # One UPDATE per outcome (right / wrong, by points), not a CASE per row and column.
    by_outcome: dict[tuple[bool, Decimal], list[int]] = {}
    for item in items:
        by_outcome.setdefault((item.correct, item.awarded), []).append(item.pk)
    for (correct, awarded), pks in by_outcome.items():
        AttemptItem.objects.filter(pk__in=pks).update(correct=correct, awarded=awarded)
    attempt.state = AttemptState.SUBMITTED
    attempt.submitted_at = now
    attempt.submitted_by = by
    attempt.score = total
    attempt.part_scores = {k: str(v) for k, v in parts.items()}
    actor = _user_of(attempt.inspector) if by == SubmittedBy.CANDIDATE else None
    kind = AttemptEvent.Kind.SUBMITTED if by == SubmittedBy.CANDIDATE else AttemptEvent.Kind.TIMED_OUT
    _record(attempt, kind, actor, answered=sum(1 for i in items if i.answer))
    detail = {"score": str(total), "parts": attempt.part_scores}
    if not attempt.practice:
        try:
            (result,) = services.results_record_many(
                sitting=attempt.sitting,
                actor=None,
                rows=[{"inspector": attempt.inspector, "scores": attempt.part_scores, "absent": False}],
                source="online",
            )
            attempt.result = result
            detail.update(result=result.pk, passed=result.passed, number=result.attempt)
        except DomainError as exc:
            detail.update(refused=exc.code, reason=exc.detail)
    attempt.save(
        update_fields=["state", "submitted_at", "submitted_by", "score", "part_scores", "result", "updated_at"]
    )
    _record(attempt, AttemptEvent.Kind.SCORED, None, **detail)
    return attempt


def attempts_sweep(*, now: dt.datetime | None = None, sitting_ids: list[int] | None = None) -> int:
    """Submit (by timeout) every active attempt past its deadline; each in its own transaction,
    so one refusal does not hold back the others. Safe to run twice at once (a submitted one
    is left as it is). ``sitting_ids``: only those sittings' (the admin's action). Returns how
    many this run submitted."""
    now = _now(now)
    due = Attempt.objects.filter(state=AttemptState.ACTIVE, deadline__lte=now)
    if sitting_ids is not None:
        due = due.filter(sitting_id__in=sitting_ids)
    due = list(due.order_by("deadline", "pk").values_list("pk", flat=True))
    done = 0
    for pk in due:
        attempt = attempt_submit(attempt=pk, by=SubmittedBy.TIMEOUT, now=now)
        if attempt.submitted_at == now:
            done += 1
    return done


def attempt_refresh(*, attempt: Attempt, now: dt.datetime | None = None) -> Attempt:
    """An attempt as it is now: an active one past its deadline is submitted first (lazily, so
    a candidate never sees a running clock the beat task has not yet caught up with)."""
    now = _now(now)
    if attempt.state == AttemptState.ACTIVE and now >= attempt.deadline:
        return attempt_submit(attempt=attempt, by=SubmittedBy.TIMEOUT, now=now)
    return attempt


# --- practice ---------------------------------------------------------------------------------------


def practice_start(
    *, inspector: Inspector, category: str | None = None, count: int = 20, now: dt.datetime | None = None
) -> Attempt:
    """A practice paper (练习) of ``count`` questions drawn from the bank of the inspector's
    region (one category, or any), 1 point each, not counted: no Result. An unfinished practice
    paper is returned instead of a new one (one at a time); one past its time is submitted."""
    now = _now(now)
    if not 1 <= count <= PRACTICE_MAX:
        message = _("练习题数应在 1 到 %(m)d 之间。") % {"m": PRACTICE_MAX}
        raise ValidationFailed(message, fields={"count": [message]})
    current = Attempt.objects.filter(inspector=inspector, practice=True, state=AttemptState.ACTIVE).first()
    if current is not None:
        current = attempt_refresh(attempt=current, now=now)
        if current.state == AttemptState.ACTIVE:
            return current
    pool = _pool(Region.objects.get(pk=inspector.region_id))
    ids = [q.id for q in pool.rows if not category or q.category == category]
    if not ids:
        raise Conflict(_("题库中没有可练习的试题。"), code="no_questions")
    seed = _new_seed()
    rng = random.Random(seed)  # noqa: S311 - as in draw_paper
    chosen = rng.sample(ids, min(count, len(ids)))
    paper = [
        Drawn(
            position=i,
            part_id=None,
            question_id=q,
            version_id=pool.by_id[q].version_id,
            option_order=_option_order(rng, pool.by_id[q]),
            points=Decimal("1"),
        )
        for i, q in enumerate(chosen, start=1)
    ]
    try:
        with transaction.atomic():
            attempt = Attempt.objects.create(
                inspector=inspector,
                practice=True,
                seed=seed,
                started_at=now,
                deadline=now + dt.timedelta(minutes=PRACTICE_MINUTES),
            )
            _write_items(attempt, paper)
            _record(attempt, AttemptEvent.Kind.STARTED, _user_of(inspector), items=len(paper), practice=True)
    except IntegrityError:
        current = Attempt.objects.filter(inspector=inspector, practice=True, state=AttemptState.ACTIVE).first()
        if current is None:
            raise
        return current
    return attempt


# --- reads ------------------------------------------------------------------------------------------


def online_sittings_for(*, inspector: Inspector, now: dt.datetime | None = None) -> list[Sitting]:
    """The online sittings open to the inspector now or later (scheduled or grading, not yet
    closed), of which they are a candidate, with their attempt if any (``my_attempt``)."""
    now = _now(now)
    sittings = list(
        Sitting.objects.filter(mode=SittingMode.ONLINE, status__in=STARTABLE, closes_at__gt=now)
        .select_related("exam", "exam__region", "batch")
        .order_by("opens_at", "pk")
    )
    mine = {a.sitting_id: a for a in Attempt.objects.filter(inspector=inspector, practice=False, sitting__in=sittings)}
    out = []
    for sitting in sittings:
        if not inspector.region.path.startswith(sitting.exam.region.path):
            continue  # an exam of another province or city: not theirs to sit
        if sitting.pk not in mine and not services._is_candidate(sitting, inspector):
            continue
        sitting.my_attempt = mine.get(sitting.pk)
        out.append(sitting)
    return out


def online_sitting_for_candidate(*, inspector: Inspector, sitting_id) -> Sitting:
    """One online sitting the inspector may start (404 otherwise, like a missing one)."""
    sitting = (
        Sitting.objects.filter(pk=sitting_id, mode=SittingMode.ONLINE).select_related("exam", "exam__region").first()
    )
    if sitting is None or not inspector.region.path.startswith(sitting.exam.region.path):
        raise NotFound()
    if not Attempt.objects.filter(sitting=sitting, inspector=inspector).exists() and not services._is_candidate(
        sitting, inspector
    ):
        raise NotFound()
    return sitting


def attempt_list_for(*, inspector: Inspector) -> QuerySet[Attempt]:
    return (
        Attempt.objects.filter(inspector=inspector)
        .select_related("sitting", "sitting__exam")
        .order_by("-started_at", "-pk")
    )


def attempt_get_for(*, inspector: Inspector, attempt_id, now: dt.datetime | None = None) -> Attempt:
    """The inspector's own attempt (404 for anyone else's, like a missing one), brought up to
    date (submitted if overdue)."""
    attempt = attempt_list_for(inspector=inspector).filter(pk=attempt_id).first()
    if attempt is None:
        raise NotFound()
    attempt = attempt_refresh(attempt=attempt, now=now)
    return attempt


def attempt_paper(attempt: Attempt) -> list[dict]:
    """The items as the candidate sees them: stem and options in display order with display
    letters, their answer in display letters. ``correct``/``awarded`` only once the score is
    visible; the right answer and the explanation only for a submitted practice paper."""
    visible = score_visible(attempt)
    reveal = attempt.practice and attempt.state == AttemptState.SUBMITTED
    parts = {}
    if attempt.sitting_id:
        parts = {p.pk: p.name for p in attempt.sitting.exam.parts.all()}
    out = []
    for item in attempt.items.select_related("version").order_by("position"):
        v = item.version
        order = item.option_order
        row = {
            "position": item.position,
            "part": parts.get(item.part_id, ""),
            "kind": v.kind,
            "kind_display": QuestionKind(v.kind).label,
            "stem": v.stem,
            "options": [{"letter": LETTERS[i], "text": v.options[o]} for i, o in enumerate(order)],
            "points": item.points,
            "answer": to_display(item.answer, order) if item.answer else "",
            "answered_at": item.answered_at,
        }
        if visible:
            row["correct"] = item.correct
            row["awarded"] = item.awarded
        if reveal:
            row["right_answer"] = to_display(v.answer, order)
            row["explanation"] = v.explanation
        out.append(row)
    return out


def sitting_attempts(*, sitting: Sitting) -> QuerySet[Attempt]:
    """The attempts of a sitting for the office (the caller checked the sitting is in scope)."""
    return sitting.attempts.select_related("inspector", "result").order_by("inspector__name", "pk")
