"""The score write path as it was before scores were saved in bulk (row by row: 10-21
statements per row inside the sitting lock), kept for ``bench.scores`` only, as the peer the
bulk path is measured against. It writes the same models; nothing else imports it.

Copied from exams/services.py and exams/imports.py at 79e8f01 (``_renumber_attempts``,
``_record``, ``_open_sitting``, ``results_record_many``, ``certificate_issue``,
``certificate_issue_for_result``, ``_next_number`` and the import's ``_write``), unchanged but
for their names. Import it only after Django is set up.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _

from core.errors import Conflict, NotFound, ValidationFailed
from exams import numbers
from exams.models import (
    HELD,
    Certificate,
    CertificateEvent,
    ExamKind,
    ExamPart,
    Result,
    ResultChange,
    Sitting,
    SittingStatus,
)
from exams.services import _actor_id, _add_years, _event, _require_admin_of, _today
from personnel.models import Inspector, InspectorStatus, Region
from personnel.selectors import actor_manages_region

Kind = CertificateEvent.Kind


def write(sitting, actor, rows: list[dict], indexes: list[int], source: str, outcome) -> None:
    """``exams.imports._write`` as it was (without the dry run and the blame pass)."""
    with transaction.atomic():
        results = results_record_many(sitting=sitting, actor=actor, rows=rows, source=source)
        outcome.certificates = Certificate.objects.filter(source_result__in=[r.pk for r in results]).count()


def _renumber_attempts(*, exam_id: int, inspector_id: int) -> None:
    """Attempts count the scored results of one exam in date order; absences are skipped.
    Scored rows are first moved out of the way (+1000) so the unique index never sees two
    rows with one number while they are renumbered."""
    scored = Result.objects.filter(exam_id=exam_id, inspector_id=inspector_id, absent=False)
    ordered = list(scored.order_by("sitting__held_on", "id").values_list("pk", flat=True))
    scored.update(attempt=F("attempt") + 1000)
    for n, pk in enumerate(ordered, start=1):
        Result.objects.filter(pk=pk).update(attempt=n)


def _record(
    *,
    sitting: Sitting,
    inspector: Inspector,
    parts: list[ExamPart],
    scores: dict | None,
    absent: bool,
    actor,
    source: str,
) -> Result:
    exam = sitting.exam
    if actor is not None and not actor_manages_region(actor=actor, region=inspector.region):
        raise NotFound(_("考生不存在或不在您的管辖范围内。"))
    # One score at a time per inspector: two sittings of one exam recorded at once would
    # otherwise both pass the attempts check.
    Inspector.objects.select_for_update().filter(pk=inspector.pk).first()
    existing = Result.objects.select_for_update().filter(sitting=sitting, inspector=inspector).first()
    others = Result.objects.filter(exam=exam, inspector=inspector).exclude(sitting=sitting)
    if (existing is None or existing.absent) and not absent:  # an absence turned into a score is a new attempt
        if others.filter(passed=True).exists():
            raise Conflict(_("%(n)s 已通过该考试，无需再考。") % {"n": inspector.name}, code="already_passed")
        used = others.filter(absent=False).count()
        if used >= exam.max_attempts:
            raise Conflict(
                _("%(n)s 已用完 %(m)d 次考试机会。") % {"n": inspector.name, "m": exam.max_attempts},
                code="attempts_exhausted",
            )
    if absent:
        part_scores, total, passed = {}, None, None
    else:
        scores = scores or {}
        missing = [p.name for p in parts if str(p.pk) not in scores]
        if missing:
            raise ValidationFailed(_("缺少科目成绩：%(p)s") % {"p": "、".join(missing)}, fields={"scores": missing})
        part_scores = {str(p.pk): str(Decimal(scores[str(p.pk)])) for p in parts}
        total = sum((Decimal(v) for v in part_scores.values()), Decimal("0"))
        passed = total >= exam.pass_mark
    old = None
    if existing is not None:
        old = (existing.score, existing.absent, existing.part_scores)
        if old == (total, absent, part_scores):
            return existing
        if hasattr(existing, "certificate"):
            raise Conflict(_("%(n)s 的该次成绩已用于发证，不能修改。") % {"n": inspector.name}, code="result_locked")
        result = existing
    else:
        result = Result(sitting=sitting, inspector=inspector, exam=exam)
    result.part_scores, result.score, result.absent, result.passed = part_scores, total, absent, passed
    result.pass_mark = exam.pass_mark
    result.attempt = None if absent else 999  # placeholder until renumbered below
    result.save()
    _renumber_attempts(exam_id=exam.pk, inspector_id=inspector.pk)
    result.refresh_from_db(fields=["attempt"])
    ResultChange.objects.create(
        result=result,
        old_score=old[0] if old else None,
        new_score=total,
        old_absent=old[1] if old else None,
        new_absent=absent,
        old_parts=old[2] if old else None,
        new_parts=part_scores,
        source=source,
        actor_id=_actor_id(actor),
    )
    if passed and exam.kind == ExamKind.QUALIFICATION:
        certificate_issue_for_result(result=result, actor=actor)
    return result


def _open_sitting(sitting: Sitting, actor) -> tuple[Sitting, list[ExamPart]]:
    sitting = Sitting.objects.select_for_update().select_related("exam", "exam__region").get(pk=sitting.pk)
    _require_admin_of(actor=actor, region=sitting.exam.region)
    if sitting.status in (SittingStatus.CLOSED, SittingStatus.CANCELLED):
        raise Conflict(
            _("场次状态为“%(s)s”，不能录入成绩。") % {"s": sitting.get_status_display()}, code="sitting_closed"
        )
    return sitting, list(sitting.exam.parts.all())


@transaction.atomic
def results_record_many(*, sitting: Sitting, actor, rows: list[dict], source: str = "grid") -> list[Result]:
    """The score grid and the file import: ``rows`` of {inspector, scores, absent}, already
    validated; all are written or none, each with its history row."""
    sitting, parts = _open_sitting(sitting, actor)
    out = [
        _record(
            sitting=sitting,
            inspector=row["inspector"],
            parts=parts,
            scores=row.get("scores"),
            absent=row.get("absent", False),
            actor=actor,
            source=source,
        )
        for row in rows
    ]
    if sitting.status == SittingStatus.SCHEDULED:
        Sitting.objects.filter(pk=sitting.pk).update(status=SittingStatus.GRADING)
    return out


def _next_number(region: Region, year: int) -> str:
    prefix = region.code[:2]
    last = Certificate.objects.filter(number__startswith=f"{prefix}{year:04d}").aggregate(m=Max("number"))["m"]
    serial = numbers.serial_of(last) + 1 if last else 1
    return numbers.make(province_prefix=prefix, year=year, serial=serial)


@transaction.atomic
def certificate_issue(
    *,
    holder: Inspector,
    region: Region,
    actor,
    issued_on: dt.date | None = None,
    source_result: Result | None = None,
    check_access: bool = True,
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
                    number=_next_number(region, issued_on.year),
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
    _event(certificate, Kind.ISSUED, actor, reason)
    return certificate


def certificate_issue_for_result(*, result: Result, actor) -> Certificate | None:
    """Automatic issue on passing a qualification exam: never twice for one pass, and not
    when the holder already holds a certificate."""
    if not result.passed or result.exam.kind != ExamKind.QUALIFICATION:
        return None
    if Certificate.objects.filter(source_result=result).exists():
        return None
    if Certificate.objects.filter(holder=result.inspector, status__in=HELD).exists():
        return None
    if result.inspector.status != InspectorStatus.ACTIVE:
        # The score stands; the certificate waits until the holder is back at work.
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
