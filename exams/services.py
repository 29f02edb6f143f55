"""Every write of the exams app: exams, sittings, results (with history) and the one
certificate state machine. Each transition writes its event row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from core.errors import AccessDenied, Conflict, DomainError, NotFound, ValidationFailed
from core.mail import REMINDER_CHUNK, ReminderRun, send_each
from core.text import plain_number
from core.uploads import decimal_value
from personnel.models import Inspector, InspectorStatus, Region
from personnel.selectors import actor_manages_region
from training import rules as training_rules
from training.models import Batch, EnrollmentStatus
from training.selectors import inspector_hours_list

from . import numbers, rules
from .models import (
    HELD,
    AnnualReview,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Exam,
    ExamEvent,
    ExamKind,
    ExamPart,
    ExpiryReminder,
    Result,
    ResultChange,
    ScoreShown,
    Sitting,
    SittingMode,
    SittingStatus,
)

logger = logging.getLogger(__name__)

Kind = CertificateEvent.Kind
S = CertificateStatus


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.localdate()


def _actor_id(actor):
    return getattr(actor, "pk", None) if actor is not None else None


def _require_admin_of(*, actor, region: Region) -> None:
    if actor is None:  # the system itself (beat tasks, automatic issue)
        return
    if not actor_manages_region(actor=actor, region=region):
        raise AccessDenied(_("无权管理地区“%(r)s”的考试与证件。") % {"r": region.name})


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- exams and sittings ---------------------------------------------------------------------


def _exam_event(*, exam: Exam, kind: str, actor, changes: dict | None = None, sitting: Sitting | None = None):
    return ExamEvent.objects.create(
        exam=exam, sitting=sitting, kind=kind, changes=changes or {}, actor_id=_actor_id(actor)
    )


def _plain(value):
    """A field value as the event row keeps it (JSON): ids for rows, text for dates and numbers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


def _paper(parts) -> list[tuple[str, Decimal]]:
    return [(name, Decimal(m)) for name, m in parts]


@transaction.atomic
def exam_create(*, actor, title: str, kind: str, region: Region, parts: list[tuple[str, Decimal]], **extra) -> Exam:
    """An exam with its parts (e.g. 通用法律知识 40 + 专门法律知识 60), and its event row."""
    _require_admin_of(actor=actor, region=region)
    parts = _paper(parts)
    refusal = rules.exam_paper_refusal(parts=parts, pass_mark=Decimal(extra.get("pass_mark", Decimal("60"))))
    if refusal is not None:
        raise refusal.error()
    exam = Exam(title=title, kind=kind, region=region, **extra)
    exam.full_clean()
    exam.save()
    ExamPart.objects.bulk_create(
        [ExamPart(exam=exam, name=name, max_score=m, order=i) for i, (name, m) in enumerate(parts)]
    )
    changes = {name: [None, _plain(getattr(exam, name))] for name in ("title", "kind", "region", "course", "pass_mark")}
    changes["max_attempts"] = [None, exam.max_attempts]
    changes["parts"] = [None, [[name, str(m)] for name, m in parts]]
    _exam_event(exam=exam, kind=ExamEvent.Kind.EXAM_CREATED, actor=actor, changes=changes)
    return exam


EXAM_FIELDS = ("title", "kind", "course", "region", "pass_mark", "max_attempts")


@transaction.atomic
def exam_update(*, exam: Exam, actor, parts: list[tuple[str, Decimal]] | None = None, **values) -> Exam:
    """Change an exam's fields (``values``: any of EXAM_FIELDS) and, with ``parts``, its paper
    (replaced whole, in order). Once results exist the paper and the pass mark are fixed."""
    unknown = set(values) - set(EXAM_FIELDS)
    if unknown:
        raise TypeError(f"exam_update: unknown fields {sorted(unknown)}")
    exam = Exam.objects.select_for_update(of=("self",)).select_related("region").get(pk=exam.pk)
    _require_admin_of(actor=actor, region=exam.region)
    if "region" in values and values["region"] is not None and values["region"].pk != exam.region_id:
        _require_admin_of(actor=actor, region=values["region"])
    current_parts = [(p.name, p.max_score) for p in exam.parts.order_by("order", "id")]
    changes = {
        name: [_plain(getattr(exam, name)), _plain(value)]
        for name, value in values.items()
        if getattr(exam, name) != value
    }
    new_parts = _paper(parts) if parts is not None else current_parts
    if parts is not None and [(n, Decimal(m)) for n, m in current_parts] != new_parts:
        changes["parts"] = [[[n, str(m)] for n, m in current_parts], [[n, str(m)] for n, m in new_parts]]
    if not changes:
        return exam
    refusal = rules.exam_change_refusal(has_results=exam.results.exists(), changed=changes)
    if refusal is None:
        refusal = rules.exam_paper_refusal(parts=new_parts, pass_mark=values.get("pass_mark", exam.pass_mark))
    if refusal is not None:
        raise refusal.error()
    for name, value in values.items():
        setattr(exam, name, value)
    exam.full_clean()
    exam.save()
    if "parts" in changes:
        # Parts are keyed by name in the history; result scores by part id, and there are no
        # results yet (the rule above), so the paper is simply laid anew.
        kept = {p.name: p for p in exam.parts.all()}
        wanted = {name for name, _m in new_parts}
        ExamPart.objects.filter(exam=exam).exclude(name__in=wanted).delete()
        for i, (name, m) in enumerate(new_parts):
            part = kept.get(name) or ExamPart(exam=exam, name=name)
            part.max_score, part.order = m, i
            part.save()
    _exam_event(exam=exam, kind=ExamEvent.Kind.EXAM_CHANGED, actor=actor, changes=changes)
    return exam


@transaction.atomic
def sitting_create(
    *,
    actor,
    exam: Exam,
    held_on: dt.date,
    place: str = "",
    batch: Batch | None = None,
    mode: str = SittingMode.PAPER,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    duration_minutes: int | None = None,
    score_shown: str = ScoreShown.ON_SUBMIT,
) -> Sitting:
    """A sitting of an exam (for a batch: its completed inspectors sit), with its event row.
    An online one (``mode``) needs a window, a duration and a paper that can be drawn
    (exams.online.sitting_online_check)."""
    from .online import sitting_online_check

    _require_admin_of(actor=actor, region=exam.region)
    if batch is not None and exam.course_id and batch.course_id != exam.course_id:
        raise ValidationFailed(_("该批次的课程与考试的课程不一致。"), fields={"batch": [_("课程不一致。")]})
    sitting_online_check(
        exam=exam, mode=mode, opens_at=opens_at, closes_at=closes_at, duration_minutes=duration_minutes
    )
    online = {}
    if mode == SittingMode.ONLINE:
        online = {
            "mode": mode,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "duration_minutes": duration_minutes,
            "score_shown": score_shown,
        }
    sitting = Sitting.objects.create(exam=exam, held_on=held_on, place=place, batch=batch, **online)
    changes = {"held_on": [None, held_on.isoformat()], "place": [None, place], "batch": [None, _plain(batch)]}
    changes.update({name: [None, _plain(value)] for name, value in online.items()})
    _exam_event(exam=exam, sitting=sitting, kind=ExamEvent.Kind.SITTING_CREATED, actor=actor, changes=changes)
    return sitting


SITTING_FIELDS = (
    "exam",
    "batch",
    "held_on",
    "place",
    "mode",
    "opens_at",
    "closes_at",
    "duration_minutes",
    "score_shown",
)


@transaction.atomic
def sitting_update(*, sitting: Sitting, actor, **values) -> Sitting:
    """Change a sitting's date or place, or its online settings (``values``). Its exam and
    batch stay; once results exist its date stays too; once candidates started online, its
    mode and duration stay (their deadlines are fixed). The status moves through
    ``sitting_set_status``."""
    from .online import ONLINE_FIELDS, sitting_online_check

    unknown = set(values) - set(SITTING_FIELDS)
    if unknown:
        raise TypeError(f"sitting_update: unknown fields {sorted(unknown)}")
    sitting = Sitting.objects.select_for_update(of=("self",)).select_related("exam__region").get(pk=sitting.pk)
    _require_admin_of(actor=actor, region=sitting.exam.region)
    changes = {
        name: [_plain(getattr(sitting, name)), _plain(value)]
        for name, value in values.items()
        if getattr(sitting, name) != value
    }
    if not changes:
        return sitting
    refusal = rules.sitting_change_refusal(has_results=sitting.results.exists(), changed=changes)
    if refusal is not None:
        raise refusal.error()
    fixed = [name for name in ("mode", "duration_minutes") if name in changes]
    if fixed and sitting.attempts.exists():
        message = _("已有考生开始在线答题，考试方式和答题时长不能再修改。")
        raise Conflict(message, code="sitting_has_attempts", fields={name: [message] for name in fixed})
    for name, value in values.items():
        setattr(sitting, name, value)
    if any(name in changes for name in ONLINE_FIELDS):
        sitting_online_check(
            exam=sitting.exam,
            mode=sitting.mode,
            opens_at=sitting.opens_at,
            closes_at=sitting.closes_at,
            duration_minutes=sitting.duration_minutes,
        )
    sitting.full_clean()
    sitting.save()
    _exam_event(exam=sitting.exam, sitting=sitting, kind=ExamEvent.Kind.SITTING_CHANGED, actor=actor, changes=changes)
    return sitting


@transaction.atomic
def sitting_set_status(*, actor, sitting: Sitting, status: str) -> Sitting:
    """Move a sitting: scheduled -> grading -> closed (and back to grading), or cancelled
    while it has no results; with its event row."""
    sitting = Sitting.objects.select_for_update(of=("self",)).select_related("exam__region").get(pk=sitting.pk)
    _require_admin_of(actor=actor, region=sitting.exam.region)
    refusal = rules.sitting_status_refusal(
        status=sitting.status, to=status, has_results=status == SittingStatus.CANCELLED and sitting.results.exists()
    )
    if refusal is not None:
        raise refusal.error()
    before = sitting.status
    sitting.status = status
    sitting.save(update_fields=["status", "updated_at"])
    if before != status:
        _exam_event(
            exam=sitting.exam,
            sitting=sitting,
            kind=ExamEvent.Kind.SITTING_STATUS,
            actor=actor,
            changes={"status": [before, status]},
        )
    return sitting


def sitting_candidates(*, sitting: Sitting):
    """Inspectors who may sit: the batch's completed inspectors, plus anyone already recorded."""
    ids = set(sitting.results.values_list("inspector_id", flat=True))
    if sitting.batch_id:
        ids |= set(
            sitting.batch.enrollments.filter(status=EnrollmentStatus.COMPLETED).values_list("inspector_id", flat=True)
        )
    return Inspector.objects.filter(pk__in=ids).select_related("region").order_by("name", "id")


# --- results --------------------------------------------------------------------------------


def parse_score(raw, *, maximum: Decimal) -> Decimal:
    """A score a person typed: a number, 0 <= score <= maximum, at most one decimal."""
    # The one reading of a number cell (full-width digits taken as ASCII; exponents, NaN,
    # infinities and control characters refused) for the grid, the API and the file.
    value = decimal_value(raw)
    if value is None:
        raise ValueError(_("不是数字"))
    if value < 0:
        raise ValueError(_("分数不能为负数"))
    if value > maximum:
        raise ValueError(_("分数 %(v)s 超过满分 %(m)s") % {"v": plain_number(value), "m": plain_number(maximum)})
    if value != value.quantize(Decimal("0.1")):
        raise ValueError(_("分数最多保留一位小数"))
    return value.quantize(Decimal("0.1"))


def _open_sitting(sitting: Sitting, actor) -> tuple[Sitting, list[ExamPart]]:
    """Lock the sitting (one save of its scores at a time) and check it takes scores."""
    sitting = Sitting.objects.select_for_update(of=("self",)).select_related("exam", "exam__region").get(pk=sitting.pk)
    _require_admin_of(actor=actor, region=sitting.exam.region)
    refusal = rules.sitting_scores_refusal(sitting=sitting)
    if refusal is not None:
        raise refusal.error()
    return sitting, list(sitting.exam.parts.all())


def _prior(result: Result) -> rules.PriorResult:
    return rules.PriorResult(
        sitting_id=result.sitting_id,
        score=result.score,
        absent=result.absent,
        passed=result.passed,
        part_scores=result.part_scores,
        certified=result.certificate_id is not None,
    )


def _record_rows(*, sitting: Sitting, parts: list[ExamPart], rows: list[dict], actor, source: str) -> list[Result]:
    """Write ``rows`` ({inspector, scores, absent}) of one locked sitting: every row is checked
    against the rules first (all refusals are collected; any refusal writes nothing), then
    results, attempt numbers, history rows and certificates are written in a fixed number of
    statements, whatever the number of rows."""
    exam = sitting.exam
    ids = [row["inspector"].pk for row in rows]
    # One score at a time per inspector: two sittings of one exam recorded at once would
    # otherwise both pass the attempts check. Locked in id order, in one statement.
    people = {
        p.pk: p
        for p in Inspector.objects.select_for_update(of=("self",))
        .select_related("region")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    prior: dict[int, dict[int, Result]] = {}
    for result in (
        Result.objects.filter(exam=exam, inspector_id__in=ids)
        .select_related("sitting")
        .annotate(certificate_id=F("certificate__id"))
        .order_by("pk")
    ):
        prior.setdefault(result.inspector_id, {})[result.sitting_id] = result

    refused: list[tuple[int, DomainError]] = []
    plan: list[tuple[int, Result | None, dict, Decimal | None, bool, bool | None, bool]] = []
    seen: set[int] = set()
    for index, row in enumerate(rows):
        inspector = people.get(row["inspector"].pk)
        if inspector is None or (actor is not None and not actor_manages_region(actor=actor, region=inspector.region)):
            refused.append((index, NotFound(_("考生不存在或不在您的管辖范围内。"))))
            continue
        if inspector.pk in seen:
            refused.append((index, ValidationFailed(_("%(n)s 重复出现。") % {"n": inspector.name}, code="duplicate")))
            continue
        seen.add(inspector.pk)
        absent = bool(row.get("absent", False))
        if absent:
            part_scores, total, passed = {}, None, None
        else:
            scores = row.get("scores") or {}
            missing = rules.missing_parts_refusal(part_names_missing=[p.name for p in parts if str(p.pk) not in scores])
            if missing is not None:
                refused.append((index, missing.error()))
                continue
            part_scores = {str(p.pk): str(Decimal(scores[str(p.pk)])) for p in parts}
            total, passed = rules.result_outcome(part_scores=part_scores, pass_mark=exam.pass_mark)
        theirs = prior.get(inspector.pk, {})
        existing = theirs.get(sitting.pk)
        mine = _prior(existing) if existing is not None else None
        if rules.result_unchanged(mine=mine, total=total, absent=absent, part_scores=part_scores):
            plan.append((index, existing, part_scores, total, absent, passed, False))
            continue
        refusal = rules.result_refusal(
            inspector_name=inspector.name,
            max_attempts=exam.max_attempts,
            absent=absent,
            mine=mine,
            others=[_prior(r) for where, r in theirs.items() if where != sitting.pk],
        )
        if refusal is not None:
            refused.append((index, refusal.error()))
            continue
        plan.append((index, existing, part_scores, total, absent, passed, True))
    if refused:
        # The first refusal is raised; ``fields["rows"]`` names every refused row by position.
        first = refused[0][1]
        by_row = {str(i): {"scores" if "scores" in e.fields else "inspector": [e.detail]} for i, e in refused}
        first.fields = {**first.fields, "rows": by_row}
        raise first

    now = timezone.now()
    out: dict[int, Result] = {}
    created: list[Result] = []
    updated: list[Result] = []
    history: list[tuple[Result, tuple | None]] = []
    for index, existing, part_scores, total, absent, passed, changed in plan:
        if not changed:
            out[index] = existing
            continue
        if existing is not None:
            old = (existing.score, existing.absent, existing.part_scores)
            result = existing
            result.inspector = people[result.inspector_id]  # already read and locked above
            updated.append(result)
        else:
            old = None
            result = Result(sitting=sitting, inspector=people[rows[index]["inspector"].pk], exam=exam)
            created.append(result)
            prior.setdefault(result.inspector_id, {})[sitting.pk] = result
        result.part_scores, result.score, result.absent, result.passed = part_scores, total, absent, passed
        result.pass_mark = exam.pass_mark
        result.updated_at = now
        history.append((result, old))
        out[index] = result
    if not history:
        return [out[i] for i in range(len(rows))]

    # Attempt numbers of every touched person, in date order (rules.attempt_numbers).
    renumbered: list[tuple[Result, int | None]] = []
    for inspector_id in {r.inspector_id for r, _old in history}:
        theirs = list(prior[inspector_id].values())
        numbered = rules.attempt_numbers((id(r), r.sitting.held_on, r.pk) for r in theirs if not r.absent)
        for r in theirs:
            attempt = numbered.get(id(r))
            if r.pk is None:
                r.attempt = attempt
            elif attempt != r.attempt:
                renumbered.append((r, attempt))
    # Rows whose number moves are first moved out of the way (+1000), so the unique index never
    # sees two rows with one number while they are renumbered in one statement.
    moving = [r.pk for r, _n in renumbered if r.attempt is not None]
    if moving:
        Result.objects.filter(pk__in=moving).update(attempt=F("attempt") + 1000)
    for r, attempt in renumbered:
        r.attempt = attempt
    rewritten = {r.pk: r for r in [*updated, *(r for r, _n in renumbered)]}
    if rewritten:
        Result.objects.bulk_update(
            list(rewritten.values()),
            ["part_scores", "score", "absent", "passed", "pass_mark", "attempt", "updated_at"],
        )
    if created:
        Result.objects.bulk_create(created)
    ResultChange.objects.bulk_create(
        [
            ResultChange(
                result=result,
                old_score=old[0] if old else None,
                new_score=result.score,
                old_absent=old[1] if old else None,
                new_absent=result.absent,
                old_parts=old[2] if old else None,
                new_parts=result.part_scores,
                source=source,
                actor_id=_actor_id(actor),
            )
            for result, old in history
        ]
    )
    _issue_for_results(results=[r for r, _old in history], sitting=sitting, actor=actor)
    return [out[i] for i in range(len(rows))]


@transaction.atomic
def result_record(
    *, sitting: Sitting, inspector: Inspector, actor, scores: dict | None = None, absent: bool = False
) -> Result:
    """Record (or correct) one candidate's scores, keyed by part id, or an absence."""
    sitting, parts = _open_sitting(sitting, actor)
    by_id = {str(p.pk): p for p in parts}
    clean = {}
    errors = {}
    for key, raw in (scores or {}).items():
        part = by_id.get(str(key))
        if part is None:
            errors[str(key)] = [_("不是该考试的科目。")]
            continue
        try:
            clean[str(part.pk)] = parse_score(raw, maximum=part.max_score)
        except ValueError as exc:
            errors[str(part.pk)] = [str(exc)]
    if errors:
        raise ValidationFailed(_("成绩有误。"), fields={"scores": errors})
    if not _is_candidate(sitting, inspector):
        raise ValidationFailed(_("%(n)s 不是本场考试的考生。") % {"n": inspector.name}, code="not_a_candidate")
    (result,) = _record_rows(
        sitting=sitting,
        parts=parts,
        rows=[{"inspector": inspector, "scores": clean, "absent": absent}],
        actor=actor,
        source="entry",
    )
    _grading_started(sitting)
    return result


def _grading_started(sitting: Sitting) -> None:
    if sitting.status == SittingStatus.SCHEDULED:
        Sitting.objects.filter(pk=sitting.pk).update(status=SittingStatus.GRADING)


def _is_candidate(sitting: Sitting, inspector: Inspector) -> bool:
    if not sitting.batch_id:
        return True  # an open sitting (e.g. the qualification exam): any inspector in scope
    return (
        sitting.results.filter(inspector=inspector).exists()
        or sitting.batch.enrollments.filter(inspector=inspector, status=EnrollmentStatus.COMPLETED).exists()
    )


@transaction.atomic
def results_record_many(*, sitting: Sitting, actor, rows: list[dict], source: str = "grid") -> list[Result]:
    """The score grid and the file import: ``rows`` of {inspector, scores, absent}, already
    parsed; all are checked, then all are written or none, each change with its history row,
    in a number of statements that does not grow with the rows."""
    sitting, parts = _open_sitting(sitting, actor)
    out = _record_rows(sitting=sitting, parts=parts, rows=rows, actor=actor, source=source)
    _grading_started(sitting)
    return out


# --- certificates: the state machine ---------------------------------------------------------


def _event(
    certificate: Certificate, kind: str, actor, reason: str = "", from_status: str = "", application=None
) -> CertificateEvent:
    return CertificateEvent.objects.create(
        certificate=certificate,
        kind=kind,
        reason=reason[:300],
        from_status=from_status,
        to_status=certificate.status,
        actor_id=_actor_id(actor),
        application=application,
    )


NUMBER_SERIES_LOCK = 70_642  # advisory lock class of the certificate number series (ISO 7064)


def _next_numbers(region: Region, year: int, count: int) -> list[str]:
    """The next ``count`` numbers of the region's province and the year of issue. The series is
    locked until the transaction ends (PostgreSQL advisory lock; SQLite writes one at a time),
    so numbers are unique and gapless however many issues run at once."""
    prefix = region.code[:2]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            key = zlib.crc32(f"{prefix}{year:04d}".encode()) & 0x7FFFFFFF
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [NUMBER_SERIES_LOCK, key])
    last = Certificate.objects.filter(number__startswith=f"{prefix}{year:04d}").aggregate(m=Max("number"))["m"]
    first = numbers.serial_of(last) + 1 if last else 1
    return [numbers.make(province_prefix=prefix, year=year, serial=first + i) for i in range(count)]


def _issue_for_results(*, results: list[Result], sitting: Sitting, actor) -> list[Certificate]:
    """The bulk side of ``certificate_issue_for_result``: the certificates the rule grants for
    these freshly written results, numbered from one reservation, with their events; a fixed
    number of statements. The holders are locked by the caller."""
    exam = sitting.exam

    def earns(result: Result, holding: set[int]) -> bool:
        return rules.result_earns_certificate(
            passed=result.passed,
            exam_kind=exam.kind,
            already_issued=getattr(result, "certificate_id", None) is not None,
            holder_holds_one=result.inspector_id in holding,
            holder_active=result.inspector.status == InspectorStatus.ACTIVE,
        )

    maybe = [r for r in results if earns(r, set())]  # before asking who holds one already
    if not maybe:
        return []
    holding = set(
        Certificate.objects.filter(holder_id__in=[r.inspector_id for r in maybe], status__in=HELD).values_list(
            "holder_id", flat=True
        )
    )
    due = [r for r in maybe if earns(r, holding)]
    if not due:
        return []
    if not issue_on_pass():
        from .applications import applications_open_for_passes

        applications_open_for_passes(results=due, actor=actor)
        return []
    issued_on = sitting.held_on
    valid_until = _add_years(issued_on, settings.CERTIFICATE_VALIDITY_YEARS)
    certificates = Certificate.objects.bulk_create(
        [
            Certificate(
                number=number,
                holder_id=result.inspector_id,
                region=exam.region,
                issued_on=issued_on,
                valid_until=valid_until,
                source_result=result,
            )
            for number, result in zip(_next_numbers(exam.region, issued_on.year, len(due)), due, strict=True)
        ]
    )
    reason = (_("通过%(e)s") % {"e": exam.title})[:300]
    CertificateEvent.objects.bulk_create(
        [
            CertificateEvent(
                certificate=c, kind=Kind.ISSUED, reason=reason, to_status=c.status, actor_id=_actor_id(actor)
            )
            for c in certificates
        ]
    )
    return certificates


def issue_on_pass() -> bool:
    """settings.CERTIFICATE_ON_PASS: "issue" issues at once on a qualification pass; anything
    else ("application", the default) opens a 申领 application instead (exams.applications)."""
    return getattr(settings, "CERTIFICATE_ON_PASS", "application") == "issue"


def _lock(certificate: Certificate) -> Certificate:
    try:
        return (
            Certificate.objects.select_for_update(of=("self",))
            .select_related("holder", "holder__region", "region")
            .get(pk=certificate.pk)
        )
    except Certificate.DoesNotExist:
        raise NotFound() from None


def _refuse(certificate: Certificate, action: str) -> Conflict:
    return Conflict(
        _("证件状态为“%(s)s”，不能%(a)s。") % {"s": certificate.get_status_display(), "a": action},
        code="illegal_transition",
    )


@transaction.atomic
def certificate_issue(
    *,
    holder: Inspector,
    region: Region,
    actor,
    issued_on: dt.date | None = None,
    source_result: Result | None = None,
    check_access: bool = True,
    application=None,
) -> Certificate:
    """Issue a certificate valid for settings.CERTIFICATE_VALIDITY_YEARS. A holder has at
    most one valid or suspended certificate (a partial unique index says so too)."""
    if check_access:
        _require_admin_of(actor=actor, region=holder.region)
    issued_on = _today(issued_on)
    Inspector.objects.select_for_update().filter(pk=holder.pk).first()  # one issue per holder at a time
    if Certificate.objects.filter(holder=holder, status__in=HELD).exists():
        raise Conflict(_("%(n)s 已持有有效证件。") % {"n": holder.name}, code="already_certified")
    if holder.status != InspectorStatus.ACTIVE:
        raise Conflict(_("%(n)s 不在岗，不能发证。") % {"n": holder.name}, code="inspector_inactive")
    for _try in range(5):
        try:
            with transaction.atomic():
                certificate = Certificate.objects.create(
                    number=_next_numbers(region, issued_on.year, 1)[0],
                    holder=holder,
                    region=region,
                    issued_on=issued_on,
                    valid_until=_add_years(issued_on, settings.CERTIFICATE_VALIDITY_YEARS),
                    source_result=source_result,
                )
            break
        except IntegrityError as exc:
            if Certificate.objects.filter(holder=holder, status__in=HELD).exists():
                raise Conflict(_("%(n)s 已持有有效证件。") % {"n": holder.name}, code="already_certified") from exc
            if source_result is not None and Certificate.objects.filter(source_result=source_result).exists():
                raise Conflict(_("该成绩已发过证。"), code="already_issued") from exc
            continue  # another issue took the same serial: take the next one
    else:
        raise Conflict(_("证号分配冲突，请重试。"), code="number_conflict")
    reason = _("通过%(e)s") % {"e": source_result.exam.title} if source_result else ""
    _event(certificate, Kind.ISSUED, actor, reason, application=application)
    return certificate


def certificate_issue_for_result(*, result: Result, actor) -> Certificate | None:
    """Automatic issue on passing a qualification exam (``rules.result_earns_certificate``):
    never twice for one pass, not when the holder already holds a certificate, and not while
    the holder is not in post (the score stands; the certificate waits)."""
    earns = rules.result_earns_certificate(
        passed=result.passed,
        exam_kind=result.exam.kind,
        already_issued=Certificate.objects.filter(source_result=result).exists(),
        holder_holds_one=Certificate.objects.filter(holder=result.inspector, status__in=HELD).exists(),
        holder_active=result.inspector.status == InspectorStatus.ACTIVE,
    )
    if not earns:
        return None
    if not issue_on_pass():
        from .applications import applications_open_for_passes

        applications_open_for_passes(results=[result], actor=actor)
        return None
    # The pass itself is the authority (the score was recorded by an admin of the exam's
    # region); the event still names who recorded it.
    return certificate_issue(
        holder=result.inspector,
        region=result.exam.region,
        actor=actor,
        issued_on=result.sitting.held_on,
        source_result=result,
        check_access=False,
    )


@transaction.atomic
def certificate_suspend(*, certificate: Certificate, reason: str, actor) -> Certificate:
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    _need_reason(reason)
    if not rules.certificate_action_allowed(action="suspend", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "暂扣"))
    return _move(certificate, S.SUSPENDED, Kind.SUSPENDED, actor, reason)


@transaction.atomic
def certificate_reinstate(*, certificate: Certificate, reason: str, actor, today: dt.date | None = None) -> Certificate:
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    _need_reason(reason)
    if not rules.certificate_action_allowed(action="reinstate", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "恢复"))
    if certificate.valid_until < _today(today):
        raise Conflict(_("证件已过有效期，不能恢复，请重新考试取证。"), code="past_validity")
    return _move(certificate, S.VALID, Kind.REINSTATED, actor, reason)


@transaction.atomic
def certificate_revoke(*, certificate: Certificate, reason: str, actor) -> Certificate:
    """Final: e.g. lending the certificate out, or using one that failed its review."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    _need_reason(reason)
    if not rules.certificate_action_allowed(action="revoke", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "吊销"))
    return _move(certificate, S.REVOKED, Kind.REVOKED, actor, reason)


@transaction.atomic
def certificate_return(*, certificate: Certificate, reason: str, actor) -> Certificate:
    """收回 when the holder leaves enforcement work (retired or transferred)."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    if not rules.certificate_action_allowed(action="return", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "收回"))
    if certificate.holder.status not in (InspectorStatus.RETIRED, InspectorStatus.TRANSFERRED):
        raise Conflict(_("持证人仍在执法岗位，不能收回证件；请先变更其人员状态。"), code="holder_still_active")
    return _move(certificate, S.RETURNED, Kind.RETURNED, actor, reason or certificate.holder.get_status_display())


def _need_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValidationFailed(_("请填写理由。"), fields={"reason": [_("请填写理由。")]})


def _move(certificate: Certificate, to: str, kind: str, actor, reason: str) -> Certificate:
    before = certificate.status
    certificate.status = to
    certificate.save(update_fields=["status", "updated_at"])
    _event(certificate, kind, actor, reason, from_status=before)
    return certificate


def renewal_eligible(*, certificate: Certificate, today: dt.date | None = None) -> tuple[bool, str]:
    """Near expiry (settings.CERTIFICATE_RENEWAL_WINDOW_DAYS) and the holder's latest
    qualification or annual exam, taken within the last year, was passed (``rules.renewal_refusal``)."""
    today = _today(today)
    latest = latest_exam_results(inspector_ids=[certificate.holder_id]).get(certificate.holder_id)
    refusal = rules.renewal_refusal(
        status=certificate.status,
        status_display=certificate.get_status_display(),
        valid_until=certificate.valid_until,
        today=today,
        window_days=settings.CERTIFICATE_RENEWAL_WINDOW_DAYS,
        latest_exam_on=latest[0] if latest else None,
        latest_exam_passed=latest[1] if latest else None,
    )
    return (True, "") if refusal is None else (False, refusal.message)


def latest_exam_results(*, inspector_ids: list[int]) -> dict[int, tuple[dt.date, bool]]:
    """Each inspector's latest qualification or annual exam sat (not absent): (date, passed),
    in one query for many."""
    rows = (
        Result.objects.filter(
            inspector_id__in=inspector_ids,
            absent=False,
            exam__kind__in=(ExamKind.QUALIFICATION, ExamKind.ANNUAL),
        )
        .order_by("inspector_id", "-sitting__held_on", "-id")
        .values_list("inspector_id", "sitting__held_on", "passed")
    )
    out: dict[int, tuple[dt.date, bool]] = {}
    for inspector_id, held_on, passed in rows:
        out.setdefault(inspector_id, (held_on, bool(passed)))
    return out


@transaction.atomic
def certificate_renew(
    *, certificate: Certificate, actor, today: dt.date | None = None, application=None
) -> Certificate:
    """Reissue near expiry: the validity restarts from the old expiry date."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    ok, why = renewal_eligible(certificate=certificate, today=today)
    if not ok:
        allowed = rules.certificate_action_allowed(action="renew", status=certificate.status)
        code = "not_eligible" if allowed else "illegal_transition"
        raise Conflict(why, code=code)
    before = certificate.valid_until
    certificate.valid_until = _add_years(before, settings.CERTIFICATE_VALIDITY_YEARS)
    certificate.renewal_count += 1
    certificate.save(update_fields=["valid_until", "renewal_count", "updated_at"])
    _event(
        certificate,
        Kind.RENEWED,
        actor,
        _("有效期由 %(a)s 延至 %(b)s") % {"a": before.isoformat(), "b": certificate.valid_until.isoformat()},
        from_status=S.VALID,
        application=application,
    )
    return certificate


@transaction.atomic
def certificate_review(*, certificate: Certificate, year: int, actor, application=None) -> AnnualReview:
    """年审 for a year: passes when the holder is active and completed the required training
    hours that year; a failed review suspends the certificate. Recorded once per year."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    if not rules.certificate_action_allowed(action="review", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "年审"))
    if AnnualReview.objects.filter(certificate=certificate, year=year).exists():
        raise Conflict(_("%(y)d 年度已年审。") % {"y": year}, code="already_reviewed")
    system = actor if actor is not None else _system_actor()
    row = inspector_hours_list(actor=system, year=year).filter(pk=certificate.holder_id).first()
    hours, required = (row.hours, row.required) if row else (Decimal("0"), Decimal("0"))
    active = certificate.holder.status == InspectorStatus.ACTIVE
    passed = active and training_rules.hours_met(hours, required)
    note = ""
    if not active:
        note = _("持证人状态为“%(s)s”") % {"s": certificate.holder.get_status_display()}
    elif not passed:
        note = _("年度学时 %(h)s，未达到 %(r)s 学时") % {"h": plain_number(hours), "r": plain_number(required)}
    review = AnnualReview.objects.create(
        certificate=certificate,
        year=year,
        passed=passed,
        hours=hours,
        required_hours=required,
        note=note,
        reviewed_by_id=_actor_id(actor),
    )
    verdict = (
        _("%(y)d 年度年审通过") % {"y": year} if passed else _("%(y)d 年度年审未通过：%(n)s") % {"y": year, "n": note}
    )
    _event(certificate, Kind.REVIEWED, actor, verdict, from_status=certificate.status, application=application)
    if not passed and certificate.status == S.VALID:
        _move(certificate, S.SUSPENDED, Kind.SUSPENDED, actor, verdict)
    return review


def certificates_review_many(*, items: list[tuple[int, int, object]], actor) -> list[AnnualReview]:
    """``certificate_review`` for many (certificate id, year, application) at once, in a fixed
    number of statements: the certificates locked in id order, the hours of every holder in one
    read, then the reviews, the events and the suspensions of the failed ones in bulk. The caller
    checked access (the approval of the applications). A certificate not in a reviewable status,
    or reviewed already for the year, raises Conflict (nothing is written)."""
    if not items:
        return []
    ids = sorted({pk for pk, _y, _a in items})
    certificates = {
        c.pk: c
        for c in Certificate.objects.select_for_update(of=("self",))
        .select_related("holder")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    years = {y for _pk, y, _a in items}
    done = set(
        AnnualReview.objects.filter(certificate_id__in=ids, year__in=years).values_list("certificate_id", "year")
    )
    system = actor if actor is not None else _system_actor()
    hours: dict[tuple[int, int], tuple[Decimal, Decimal]] = {}
    for year in years:
        holders = [certificates[pk].holder_id for pk, y, _a in items if y == year and pk in certificates]
        for row in (
            inspector_hours_list(actor=system, year=year).filter(pk__in=holders).values_list("pk", "hours", "required")
        ):
            hours[(row[0], year)] = (row[1], row[2])
    reviews, events, suspend = [], [], []
    for pk, year, application in items:
        certificate = certificates.get(pk)
        if certificate is None:
            raise NotFound()
        if not rules.certificate_action_allowed(action="review", status=certificate.status):
            raise _refuse(certificate, pgettext("certificate action", "年审"))
        if (pk, year) in done:
            raise Conflict(_("%(y)d 年度已年审。") % {"y": year}, code="already_reviewed")
        done.add((pk, year))
        got, required = hours.get((certificate.holder_id, year), (Decimal("0"), Decimal("0")))
        active = certificate.holder.status == InspectorStatus.ACTIVE
        passed = active and training_rules.hours_met(got, required)
        note = ""
        if not active:
            note = _("持证人状态为“%(s)s”") % {"s": certificate.holder.get_status_display()}
        elif not passed:
            note = _("年度学时 %(h)s，未达到 %(r)s 学时") % {"h": plain_number(got), "r": plain_number(required)}
        reviews.append(
            AnnualReview(
                certificate=certificate,
                year=year,
                passed=passed,
                hours=got,
                required_hours=required,
                note=note,
                reviewed_by_id=_actor_id(actor),
            )
        )
        verdict = (
            _("%(y)d 年度年审通过") % {"y": year}
            if passed
            else _("%(y)d 年度年审未通过：%(n)s") % {"y": year, "n": note}
        )
        before = certificate.status
        events.append(
            CertificateEvent(
                certificate=certificate,
                kind=Kind.REVIEWED,
                reason=verdict[:300],
                from_status=before,
                to_status=before,
                actor_id=_actor_id(actor),
                application=application,
            )
        )
        if not passed and before == S.VALID:
            certificate.status = S.SUSPENDED
            suspend.append(certificate.pk)
            events.append(
                CertificateEvent(
                    certificate=certificate,
                    kind=Kind.SUSPENDED,
                    reason=verdict[:300],
                    from_status=S.VALID,
                    to_status=S.SUSPENDED,
                    actor_id=_actor_id(actor),
                )
            )
    out = AnnualReview.objects.bulk_create(reviews)
    if suspend:
        Certificate.objects.filter(pk__in=suspend).update(status=S.SUSPENDED, updated_at=timezone.now())
    CertificateEvent.objects.bulk_create(events)
    return out


@transaction.atomic
def certificate_replace(*, certificate: Certificate, reason: str, actor, application=None) -> Certificate:
    """补办: a new card under the same number (``card_edition`` + 1); the cards before are void."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    _need_reason(reason)
    if not rules.certificate_action_allowed(action="replace", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "补办"))
    certificate.card_edition += 1
    certificate.save(update_fields=["card_edition", "updated_at"])
    text = _("补办第 %(n)d 版证卡（%(r)s），此前证卡作废") % {"n": certificate.card_edition, "r": reason}
    _event(certificate, Kind.REPLACED, actor, text, from_status=certificate.status, application=application)
    return certificate


@transaction.atomic
def certificate_change(*, certificate: Certificate, actor, changes: dict, application=None) -> Certificate:
    """变更: the holder's unit, region or sector (``changes``: any of unit/region/sector) through
    the personnel service (its own event row), and the certificate's event naming the change."""
    from personnel.services import inspector_update

    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    if not rules.certificate_action_allowed(action="change", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "变更"))
    if not changes:
        raise ValidationFailed(_("没有要变更的内容。"), code="no_change")
    holder = inspector_update(actor=actor, inspector=certificate.holder, data=changes)
    described = []
    for field, value in changes.items():
        label = Inspector._meta.get_field(field).verbose_name
        shown = getattr(holder, f"get_{field}_display")() if field == "sector" else value
        described.append(f"{label}：{shown}")
    text = _("变更为 %(c)s") % {"c": "，".join(str(d) for d in described)}
    _event(certificate, Kind.CHANGED, actor, text, from_status=certificate.status, application=application)
    return certificate


@transaction.atomic
def certificate_cancel(*, certificate: Certificate, reason: str, actor, application=None) -> Certificate:
    """注销 on transfer, retirement or dismissal: final, like 吊销 but no sanction."""
    certificate = _lock(certificate)
    _require_admin_of(actor=actor, region=certificate.holder.region)
    _need_reason(reason)
    if not rules.certificate_action_allowed(action="cancel", status=certificate.status):
        raise _refuse(certificate, pgettext("certificate action", "注销"))
    before = certificate.status
    certificate.status = S.CANCELLED
    certificate.save(update_fields=["status", "updated_at"])
    _event(certificate, Kind.CANCELLED, actor, reason, from_status=before, application=application)
    return certificate


def _system_actor():
    """Reads made on behalf of the system (beat tasks) see everything."""
    from django.contrib.auth import get_user_model

    return get_user_model()(username="system", is_superuser=True, is_active=True)


def certificates_expire(*, today: dt.date | None = None) -> int:
    """Nightly: valid or suspended certificates past their date become expired, each with one
    event. Rows are claimed with SKIP LOCKED, so two runs at once never touch the same one."""
    today = _today(today)
    with transaction.atomic():
        due = list(
            Certificate.objects.select_for_update(skip_locked=True)
            .filter(status__in=HELD, valid_until__lt=today)
            .values_list("pk", "status")
        )
        if not due:
            return 0
        ids = [pk for pk, _s in due]
        changed = Certificate.objects.filter(pk__in=ids, status__in=HELD).update(
            status=S.EXPIRED, updated_at=timezone.now()
        )
        CertificateEvent.objects.bulk_create(
            [
                CertificateEvent(
                    certificate_id=pk,
                    kind=Kind.EXPIRED,
                    reason=_("有效期届满"),
                    from_status=status,
                    to_status=S.EXPIRED,
                )
                for pk, status in due
            ]
        )
    return changed


def certificate_reminders_send(*, today: dt.date | None = None) -> ReminderRun:
    """E-mail holders 90, 30 and 7 days before expiry (``rules.reminder_threshold``: the
    nearest threshold only), each once per expiry date.

    Each chunk is claimed (one ``ExpiryReminder`` row each, unique) in a short transaction that
    commits before any mail goes out; the mails are sent after that commit (``on_commit``), so
    SMTP never holds a transaction, a rolled-back claim sends nothing, and two runs at once never
    claim the same reminder. One recipient's SMTP error is logged and their claim released (a
    retry of the task, or the next daily run, sends it); the others go on. The counts cover the
    mails sent by the time this returns: all of them, unless the caller holds a transaction, in
    which case they go when it commits."""
    today = _today(today)
    due = list(
        _reminders_due(today)
        .filter(holder__user__isnull=False)
        .exclude(holder__user__email="")
        .order_by("valid_until", "id")
        .values_list("id", flat=True)
    )
    run = ReminderRun()
    for start in range(0, len(due), REMINDER_CHUNK):
        _claim_reminders(due[start : start + REMINDER_CHUNK], today, run)
    return run


def _reminders_due(today: dt.date):
    horizon = today + dt.timedelta(days=max(rules.REMINDER_DAYS))
    return Certificate.objects.filter(status=S.VALID, valid_until__gte=today, valid_until__lte=horizon)


def _claim_reminders(ids: list[int], today: dt.date, run: ReminderRun) -> None:
    with transaction.atomic():
        claimed = []
        for certificate in _reminders_due(today).filter(pk__in=ids).select_related("holder", "holder__user"):
            left = (certificate.valid_until - today).days
            threshold = rules.reminder_threshold(days_left=left)
            try:
                # The unique row is the claim: sent already, or being sent by another run, fails here.
                with transaction.atomic():
                    reminder = ExpiryReminder.objects.create(
                        certificate=certificate, days_before=threshold, valid_until=certificate.valid_until
                    )
            except IntegrityError:
                continue
            claimed.append((certificate, reminder, left))
        if claimed:
            transaction.on_commit(lambda: _send_reminders(claimed, run))


def _send_reminders(claimed: list, run: ReminderRun) -> None:
    """After the claims committed: one mail each; a failure releases that claim only."""

    def mail(item) -> dict:
        certificate, _reminder, left = item
        return {
            "subject": _("行政执法证到期提醒：还有 %(d)d 天") % {"d": left},
            "message": _(
                "%(name)s 您好：\n\n您的行政执法证（证号 %(no)s）将于 %(until)s 到期，请及时参加考试并办理换证。\n"
            )
            % {"name": certificate.holder.name, "no": certificate.number, "until": certificate.valid_until},
            "from_email": None,
            "recipient_list": [certificate.holder.user.email],
        }

    def sent(item) -> None:
        certificate, reminder, _left = item
        _event(certificate, Kind.REMINDED, None, _("提前 %(d)d 天提醒") % {"d": reminder.days_before}, S.VALID)

    send_each(
        claimed,
        mail=mail,
        sent=sent,
        failed=lambda item, exc: ExpiryReminder.objects.filter(pk=item[1].pk).delete(),
        run=run,
        what=lambda item: f"expiry reminder for certificate {item[0].pk}",
    )
