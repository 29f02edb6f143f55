"""The exams app's rules, each once, as pure functions (no queries, no writes).

The services call them under their locks before they write; the score check of the grid,
the API and the file import (``exams.imports``) calls the same functions on what it read,
so it can report every refused row at once; the admin's forms call them for a form error.
A refusal is a ``Refusal`` (code, message, the fields it is about), turned into the domain
error the caller raises with ``Refusal.error()``.

| rule | function |
|------|----------|
| a sitting takes scores unless it is closed or cancelled | ``sitting_scores_refusal`` |
| a score is recorded only while attempts are left and the exam is not passed yet; a result that issued a certificate is fixed | ``result_refusal`` |
| the total is the sum of the parts; it passes at or above the pass mark in force | ``result_outcome`` |
| attempts count the scored results of one exam in date order; absences use none | ``attempt_numbers`` |
| a qualification pass issues a certificate unless one was issued for it, the holder holds one, or is not in post | ``result_earns_certificate`` |
| a paper has parts with distinct names and a pass mark within its full marks | ``exam_paper_refusal`` |
| once results exist the paper, the pass mark, kind, course and region are fixed | ``exam_change_refusal`` |
| once results exist a sitting's date is fixed (attempts are numbered by it) | ``sitting_change_refusal`` |
| a sitting moves scheduled/grading -> any other status, closed -> grading, cancelled -> none; never cancelled with results | ``sitting_status_moves``, ``sitting_status_refusal`` |
| which certificate actions (暂扣/恢复/吊销/收回/换发/年审) a status allows | ``certificate_action_allowed``, ``certificate_actions`` |
| an expiry reminder goes 90, 30 and 7 days before: the nearest threshold only | ``reminder_threshold`` |
| renewal: a valid certificate within the renewal window whose holder passed the latest qualification or annual exam of the last year | ``renewal_refusal`` |
| the levels an application passes: its kind's chain from the inspector's own level up | ``application_levels``, ``next_level`` |
| who may apply for which certificate change (hours, exams, status, photo, open applications, the card) | ``application_refusals`` |
| annual review deadline: amber from two months before, red once overdue | ``deadline_colour`` |
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, ValidationFailed
from core.text import plain_number

from .models import HELD, CertificateStatus, ExamKind, SittingStatus


@dataclass(frozen=True)
class Refusal:
    """Why a rule says no: ``code`` for the API, ``message`` for people, ``fields`` for forms."""

    code: str
    message: str
    fields: dict = field(default_factory=dict)
    conflict: bool = True  # a state conflict (409) or invalid input (400)

    def error(self) -> DomainError:
        kind = Conflict if self.conflict else ValidationFailed
        return kind(self.message, code=self.code, fields=dict(self.fields))


# --- scores ---------------------------------------------------------------------------------

CLOSED_TO_SCORES = (SittingStatus.CLOSED, SittingStatus.CANCELLED)


def sitting_accepts_scores(*, status: str) -> bool:
    """Scores are entered (and corrected) while a sitting is scheduled or being graded."""
    return status not in CLOSED_TO_SCORES


def sitting_scores_refusal(*, sitting) -> Refusal | None:
    """The sitting as a whole takes no scores (confirmed or cancelled)."""
    if sitting_accepts_scores(status=sitting.status):
        return None
    message = _("场次状态为“%(s)s”，不能录入成绩。") % {"s": sitting.get_status_display()}
    return Refusal("sitting_closed", message)


@dataclass(frozen=True)
class PriorResult:
    """What the rules need to know of a result already recorded for the exam."""

    sitting_id: int
    score: Decimal | None
    absent: bool
    passed: bool | None
    part_scores: dict
    certified: bool


def result_unchanged(*, mine: PriorResult | None, total, absent: bool, part_scores: dict) -> bool:
    """Saving the same values again is no change: nothing is written, no history row."""
    return mine is not None and (mine.score, mine.absent, mine.part_scores) == (total, absent, part_scores)


def result_refusal(
    *,
    inspector_name: str,
    max_attempts: int,
    absent: bool,
    mine: PriorResult | None,
    others: Iterable[PriorResult],
) -> Refusal | None:
    """A changed row of one sitting: ``mine`` is the candidate's result in this sitting (if
    any), ``others`` their results of the same exam in other sittings."""
    if mine is not None and mine.certified:
        message = _("%(n)s 的该次成绩已用于发证，不能修改。") % {"n": inspector_name}
        return Refusal("result_locked", message)
    if absent or (mine is not None and not mine.absent):
        return None  # an absence, or a correction of a score: no new attempt
    # A new score (or an absence turned into a score) uses an attempt.
    others = list(others)
    if any(p.passed for p in others):
        return Refusal("already_passed", _("%(n)s 已通过该考试，无需再考。") % {"n": inspector_name})
    if sum(1 for p in others if not p.absent) >= max_attempts:
        message = _("%(n)s 已用完 %(m)d 次考试机会。") % {"n": inspector_name, "m": max_attempts}
        return Refusal("attempts_exhausted", message)
    return None


def result_outcome(*, part_scores: dict[str, Decimal], pass_mark: Decimal) -> tuple[Decimal, bool]:
    """The total (the sum of the parts) and whether it passes (at or above the pass mark)."""
    total = sum((Decimal(v) for v in part_scores.values()), Decimal("0"))
    return total, total >= pass_mark


def missing_parts_refusal(*, part_names_missing: list[str]) -> Refusal | None:
    """A score is given for every part of the paper (an absence has none)."""
    if not part_names_missing:
        return None
    message = _("缺少科目成绩：%(p)s") % {"p": "、".join(part_names_missing)}
    return Refusal("invalid", message, fields={"scores": part_names_missing}, conflict=False)


def attempt_numbers(scored: Iterable[tuple[Hashable, dt.date, int | None]]) -> dict[Hashable, int]:
    """Attempt numbers of one person's scored results of one exam: 1, 2, ... by the date of the
    sitting, then in the order they were entered (``seq``: the id; None for one not saved yet,
    which comes last). Absences are not passed in: they use no attempt."""
    order = sorted(scored, key=lambda r: (r[1], r[2] is None, r[2] or 0))
    return {key: n for n, (key, _held_on, _seq) in enumerate(order, start=1)}


def result_earns_certificate(
    *, passed: bool | None, exam_kind: str, already_issued: bool, holder_holds_one: bool, holder_active: bool
) -> bool:
    """A pass of the qualification exam issues a 行政执法证, once per pass, to a holder who
    holds none and is in post (a pass while on leave stands; the certificate waits)."""
    return (
        bool(passed)
        and exam_kind == ExamKind.QUALIFICATION
        and not already_issued
        and not holder_holds_one
        and holder_active
    )


# --- exam papers and sittings ----------------------------------------------------------------


def exam_paper_refusal(*, parts: list[tuple[str, Decimal]], pass_mark: Decimal | None) -> Refusal | None:
    """A paper has at least one part, distinct part names, and a pass mark not above its full
    marks (the sum of the parts)."""
    if not parts:
        message = _("至少需要一个考试科目。")
        return Refusal("invalid", message, fields={"parts": [message]}, conflict=False)
    names = [name for name, _max in parts]
    if len(set(names)) != len(names):
        message = _("科目名称重复。")
        return Refusal("invalid", message, fields={"parts": [message]}, conflict=False)
    total = sum((Decimal(m) for _n, m in parts), Decimal("0"))
    if pass_mark is not None and Decimal(pass_mark) > total:
        message = _("及格分 %(p)s 高于满分 %(t)s。") % {"p": plain_number(pass_mark), "t": plain_number(total)}
        return Refusal("invalid", message, fields={"pass_mark": [_("高于满分。")]}, conflict=False)
    return None


# What fixes the meaning of recorded results: the paper, the pass mark, kind, course, region.
EXAM_FIXED_ONCE_SCORED = ("parts", "pass_mark", "kind", "course", "region")


def exam_change_refusal(*, has_results: bool, changed: Iterable[str]) -> Refusal | None:
    """Once results exist, changing the paper or the pass mark would change what the recorded
    scores mean (and who passed): refused. Title and attempts stay editable."""
    fixed = [name for name in changed if name in EXAM_FIXED_ONCE_SCORED]
    if not has_results or not fixed:
        return None
    message = _("已有考试成绩，试卷科目、及格分、类别、课程和组织地区不能再修改。")
    return Refusal("exam_has_results", message, fields={name: [message] for name in fixed})


def sitting_change_refusal(*, has_results: bool, changed: Iterable[str]) -> Refusal | None:
    """A sitting keeps its exam and batch; once results exist its date is fixed too, because
    attempts are numbered in date order."""
    changed = list(changed)
    always = [name for name in changed if name in ("exam", "batch")]
    if always:
        message = _("场次的考试和培训批次创建后不能修改。")
        return Refusal("sitting_fixed", message, fields={name: [message] for name in always})
    if has_results and "held_on" in changed:
        message = _("已有考试成绩，场次日期不能再修改。")
        return Refusal("sitting_has_results", message, fields={"held_on": [message]})
    return None


def sitting_status_moves(*, status: str, has_results: bool) -> list[str]:
    """The statuses a sitting may move to from ``status`` (itself not included): a cancelled
    sitting stays so; a confirmed one only reopens for grading; a scheduled or grading one
    may move anywhere, but not to cancelled once it has results."""
    if status == SittingStatus.CANCELLED:
        return []
    if status == SittingStatus.CLOSED:
        return [SittingStatus.GRADING]
    return [s for s in SittingStatus.values if s != status and not (s == SittingStatus.CANCELLED and has_results)]


def sitting_status_refusal(*, status: str, to: str, has_results: bool) -> Refusal | None:
    """Why a sitting may not move from ``status`` to ``to`` (None: it may, or it stays)."""
    if to == status or to in sitting_status_moves(status=status, has_results=has_results):
        return None
    if to == SittingStatus.CANCELLED and status != SittingStatus.CANCELLED and has_results:
        return Refusal("has_results", _("已有成绩的场次不能取消。"), fields={"status": [_("已有成绩的场次不能取消。")]})
    message = _("场次状态不能这样变更。")
    return Refusal("illegal_transition", message, fields={"status": [message]})


# --- certificates ----------------------------------------------------------------------------

# The certificate state machine: which statuses each action starts from. The services refuse
# any other start (409 illegal_transition); the admin offers an action only where it applies.
# Further conditions (a reason, the holder's status, the renewal window) are the services'.
CERTIFICATE_ACTION_FROM: dict[str, tuple[str, ...]] = {
    "suspend": (CertificateStatus.VALID,),
    "reinstate": (CertificateStatus.SUSPENDED,),
    "revoke": HELD,
    "return": HELD,
    "renew": (CertificateStatus.VALID,),
    "review": HELD,
    "replace": (CertificateStatus.VALID,),
    "change": HELD,
    "cancel": HELD,
}


def certificate_action_allowed(*, action: str, status: str) -> bool:
    """Whether a certificate in ``status`` may undergo ``action`` (a key of CERTIFICATE_ACTION_FROM)."""
    return status in CERTIFICATE_ACTION_FROM[action]


# Carried out only by the last approval of an application (exams.applications), never offered
# as a direct action.
APPLICATION_ONLY_ACTIONS = ("replace", "change", "cancel")


def certificate_actions(*, status: str) -> list[str]:
    """The direct actions a certificate in ``status`` may undergo, in the table's order."""
    return [
        action
        for action in CERTIFICATE_ACTION_FROM
        if action not in APPLICATION_ONLY_ACTIONS and certificate_action_allowed(action=action, status=status)
    ]


REMINDER_DAYS = (7, 30, 90)


def reminder_threshold(*, days_left: int) -> int | None:
    """The reminder due ``days_left`` days before expiry: the nearest of 90, 30 and 7 days not
    yet passed (one first seen at 25 days gets the 30-day one); None beyond 90 days or after
    the expiry date."""
    if days_left < 0:
        return None
    return next((d for d in REMINDER_DAYS if days_left <= d), None)


def renewal_refusal(
    *,
    status: str,
    status_display: str,
    valid_until: dt.date,
    today: dt.date,
    window_days: int,
    latest_exam_on: dt.date | None,
    latest_exam_passed: bool | None,
) -> Refusal | None:
    """换证: a valid certificate within ``window_days`` of its expiry, whose holder's latest
    qualification or annual exam (sat, not absent) was taken within the last year and passed."""
    if not certificate_action_allowed(action="renew", status=status):
        return Refusal("illegal_transition", _("证件状态为“%(s)s”，不能换发。") % {"s": status_display})
    if (valid_until - today).days > window_days:
        return Refusal("not_eligible", _("距有效期届满超过 %(d)d 天，尚不能换发。") % {"d": window_days})
    if latest_exam_on is None or latest_exam_on < today - dt.timedelta(days=366):
        return Refusal("not_eligible", _("近一年内没有执法资格考试或年度考核考试成绩。"))
    if not latest_exam_passed:
        return Refusal("not_eligible", _("最近一次考试（%(d)s）未通过。") % {"d": latest_exam_on.isoformat()})
    return None


# --- applications (申请) -----------------------------------------------------------------------

LEVEL_RANK = {"county": 0, "city": 1, "province": 2}


def application_levels(*, chain: str, region_level: str) -> list[str]:
    """The levels an application for an inspector of a ``region_level`` region passes: the
    kind's chain without the levels below that region (a city's inspector has no county);
    a chain wholly below it ends at the region's own level."""
    rank = LEVEL_RANK[region_level]
    levels = [lv for lv in chain.split(",") if lv and LEVEL_RANK[lv] >= rank]
    return levels or [region_level]


def next_level(*, levels: list[str], level: str) -> str | None:
    """The level after ``level`` in the chain; None when ``level`` is the last (carry out)."""
    at = levels.index(level)
    return levels[at + 1] if at + 1 < len(levels) else None


# Kinds that print a card, and so need the holder's photo.
KINDS_WITH_CARD = ("issue", "renew", "replace", "change")
REPLACE_REASONS = ("lost", "damaged")
CANCEL_REASONS = ("transferred", "retired", "dismissed")
# A qualification pass opens 申领 for a year (the same window as the renewal's latest exam).
PASS_VALID_DAYS = 366


@dataclass(frozen=True)
class ApplicationFacts:
    """What the eligibility of one application depends on, read beforehand by
    ``exams.applications.application_eligibility`` (a fixed number of reads for many)."""

    inspector_name: str
    active: bool
    has_photo: bool | None  # None: the photo rule does not apply (no photo field yet)
    open_application: bool
    certificate_status: str | None  # the held (valid or suspended) certificate's
    certificate_status_display: str = ""
    valid_until: dt.date | None = None
    latest_revoked: bool = False  # the inspector's latest certificate was revoked
    pass_on: dt.date | None = None  # the unused qualification pass (申领)
    latest_exam_on: dt.date | None = None
    latest_exam_passed: bool | None = None
    hours: Decimal | None = None  # 年审: the year's hours and the required hours
    required: Decimal | None = None
    reviewed: bool = False  # 年审: the year is reviewed already
    window_opens_on: dt.date | None = None
    reason: str = ""
    changes: tuple = ()  # 变更: the fields that would change
    renewal_window_days: int = 90


def application_refusals(*, kind: str, facts: ApplicationFacts, today: dt.date) -> list[Refusal]:
    """Every reason an application of ``kind`` is refused (empty: eligible). The one home of
    eligibility: the API, the admin's apply page and the services all ask this."""
    out: list[Refusal] = []
    name = facts.inspector_name
    if facts.open_application:
        out.append(Refusal("open_application", _("%(n)s 已有审批中的申请。") % {"n": name}))
    if kind != "cancel" and not facts.active:
        out.append(Refusal("inspector_inactive", _("%(n)s 不在岗。") % {"n": name}))
    if kind in KINDS_WITH_CARD and facts.has_photo is False:
        out.append(Refusal("photo_missing", _("%(n)s 没有照片。") % {"n": name}))
    if facts.latest_revoked and facts.certificate_status is None:
        out.append(Refusal("certificate_revoked", _("%(n)s 的执法证已被吊销。") % {"n": name}))
    if kind == "issue":
        if facts.certificate_status is not None:
            out.append(Refusal("already_certified", _("%(n)s 已持有有效证件。") % {"n": name}))
        if facts.pass_on is None or facts.pass_on < today - dt.timedelta(days=PASS_VALID_DAYS):
            out.append(Refusal("no_pass", _("%(n)s 近一年内没有未发证的执法资格考试合格成绩。") % {"n": name}))
        return out
    if facts.certificate_status is None:
        if not facts.latest_revoked:
            out.append(Refusal("no_certificate", _("%(n)s 没有有效或暂扣中的执法证。") % {"n": name}))
        return out
    if not certificate_action_allowed(action=kind, status=facts.certificate_status):
        message = _("证件状态为“%(s)s”，不能申请。") % {"s": facts.certificate_status_display}
        out.append(Refusal("illegal_transition", message))
        return out
    if kind == "review":
        if facts.reviewed:
            out.append(Refusal("already_reviewed", _("%(n)s 本年度已年审。") % {"n": name}))
        if facts.window_opens_on is not None and today < facts.window_opens_on:
            message = _("年审自 %(d)s 起申请。") % {"d": facts.window_opens_on.isoformat()}
            out.append(Refusal("window_not_open", message))
        hours, required = facts.hours or Decimal("0"), facts.required or Decimal("0")
        if hours < required:
            message = _("%(n)s 年度学时 %(h)s，未达到 %(r)s 学时。") % {
                "n": name,
                "h": plain_number(hours),
                "r": plain_number(required),
            }
            out.append(Refusal("hours_not_met", message))
    elif kind == "renew":
        refusal = renewal_refusal(
            status=facts.certificate_status,
            status_display=facts.certificate_status_display,
            valid_until=facts.valid_until,
            today=today,
            window_days=facts.renewal_window_days,
            latest_exam_on=facts.latest_exam_on,
            latest_exam_passed=facts.latest_exam_passed,
        )
        if refusal is not None:
            out.append(refusal)
    elif kind == "replace":
        if facts.reason not in REPLACE_REASONS:
            out.append(
                Refusal("reason_required", _("请选择补办事由（遗失或损坏）。"), {"reason": ["lost|damaged"]}, False)
            )
    elif kind == "change":
        if not facts.changes:
            out.append(Refusal("no_change", _("%(n)s 的单位、地区和行业都没有变化。") % {"n": name}))
    elif kind == "cancel" and facts.reason not in CANCEL_REASONS:
        message = _("请选择注销事由（调离、退休或辞退）。")
        out.append(Refusal("reason_required", message, {"reason": ["transferred|retired|dismissed"]}, False))
    return out


DEADLINE_AMBER_MONTHS = 2


def deadline_colour(*, deadline: dt.date | None, today: dt.date, outstanding: int) -> str:
    """年审 deadline state of a city: "red" once overdue with reviews outstanding, "amber" from
    two months before the deadline while any are outstanding, else "green"."""
    if deadline is None or outstanding == 0:
        return "green"
    if today > deadline:
        return "red"
    month = deadline.month - DEADLINE_AMBER_MONTHS
    year = deadline.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    amber_from = deadline.replace(year=year, month=month, day=min(deadline.day, 28))
    return "amber" if today >= amber_from else "green"
