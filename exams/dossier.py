"""一人一档: the one home for what is on an inspector's file.

The roster record; the trainings of every year with the hours credited against the hours
required for that year; the three systems covered by completed courses per year; exam
results with their attempts; the certificates with their events. The admin change page,
the printable 培训档案 and the 学时证明 all render this one gathering.

Every read goes through the scoped selectors with the actor (an admin: their region
subtree; an inspector: only themself), and every figure comes from its home:
``training.rules.hours_sum`` / ``hours_met``, ``training.selectors.required_hours_for_years``
(``required_hours_for`` of several years) and ``_completed_topic`` (the coverage flag). The
reads are a fixed number (eight) whatever the number of years, trainings, results,
certificates or events.

It reads training and exams, so it lives in exams (the import graph runs
exams -> training -> personnel).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import BooleanField, ExpressionWrapper, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from personnel.models import Inspector
from personnel.selectors import can_see_full_national_id, inspector_get_for_actor, inspector_list
from training import rules
from training.models import THREE_SYSTEMS, Enrollment, Topic
from training.selectors import _completed_topic, enrollment_list, required_hours_for_years

from .models import Certificate, CertificateEvent, CertificateStatus, Result
from .selectors import certificate_list, result_list


@dataclass(frozen=True)
class TrainingRow:
    enrollment: Enrollment
    counts: bool  # its hours credited count (a completed enrollment, in its batch's year)

    @property
    def batch(self):
        return self.enrollment.batch


@dataclass(frozen=True)
class TopicCoverage:
    topic: str
    label: str
    covered: bool
    courses: tuple[str, ...]  # the completed courses of the year that cover it


@dataclass(frozen=True)
class TrainingYear:
    year: int
    trainings: tuple[TrainingRow, ...]
    hours: Decimal
    required: Decimal
    met: bool
    coverage: tuple[TopicCoverage, ...]

    @property
    def missing_topics(self) -> tuple[TopicCoverage, ...]:
        return tuple(c for c in self.coverage if not c.covered)


@dataclass(frozen=True)
class ResultRow:
    result: Result
    outcome: str  # 合格 / 不合格 / 缺考


@dataclass(frozen=True)
class ExamRecord:
    """One exam the inspector sat (or was absent from), with every sitting of it in order."""

    title: str
    kind_display: str
    max_attempts: int
    results: tuple[ResultRow, ...]

    @property
    def latest(self) -> Result:
        return self.results[-1].result


@dataclass(frozen=True)
class CertificateEventRow:
    event: CertificateEvent
    from_status: str  # the status labels (有效, 暂扣...), never the stored values
    to_status: str


@dataclass(frozen=True)
class CertificateRecord:
    certificate: Certificate
    status_display: str
    events: tuple[CertificateEventRow, ...]


@dataclass(frozen=True)
class Dossier:
    inspector: Inspector
    national_id: str  # whole for the admins of the inspector's region, masked for anyone else
    today: dt.date
    years: tuple[TrainingYear, ...]
    exams: tuple[ExamRecord, ...]
    certificates: tuple[CertificateRecord, ...]

    def year(self, year: int) -> TrainingYear | None:
        return next((y for y in self.years if y.year == year), None)


def status_label(value: str) -> str:
    """A certificate status as people read it (有效, 暂扣...); "-" for none."""
    if not value:
        return "-"
    try:
        return str(CertificateStatus(value).label)
    except ValueError:
        return value


def result_outcome(result: Result) -> str:
    """合格 / 不合格 / 缺考 of one result, as recorded by the exams services."""
    if result.absent:
        return _("缺考")
    if result.passed is None:
        return "-"
    return _("合格") if result.passed else _("不合格")


def inspector_dossier(
    *, actor, inspector_id, years: Iterable[int] | None = None, today: dt.date | None = None
) -> Dossier:
    """Everything on one inspector's file that the actor may see; NotFound (404) for an
    inspector outside the actor's scope. ``years`` limits the trainings to those years
    (each shown even without a training); by default every year with an enrollment and
    the current one."""
    today = today or timezone.localdate()
    inspector = inspector_get_for_actor(actor=actor, inspector_id=inspector_id)

    enrollments = enrollment_list(actor=actor, filters={"inspector": inspector.pk}).annotate(
        counts=ExpressionWrapper(rules.completed(), output_field=BooleanField())
    )
    if years is not None:
        wanted = sorted(set(years), reverse=True)
        enrollments = enrollments.filter(batch__year__in=wanted)
    rows = list(enrollments.order_by("-batch__year", "batch__starts_on", "batch_id"))
    if years is None:
        wanted = sorted({e.batch.year for e in rows} | {today.year}, reverse=True)

    return Dossier(
        inspector=inspector,
        national_id=inspector.national_id
        if can_see_full_national_id(actor=actor, inspector=inspector)
        else inspector.masked_national_id,
        today=today,
        years=_training_years(actor=actor, inspector=inspector, rows=rows, years=wanted),
        exams=_exams(actor=actor, inspector=inspector),
        certificates=_certificates(actor=actor, inspector=inspector),
    )


def _training_years(*, actor, inspector: Inspector, rows: list[Enrollment], years: list[int]) -> tuple:
    if not years:
        return ()
    # The hours of every year in one aggregate, each by the rule (training.rules.hours_sum).
    hours = enrollment_list(actor=actor, filters={"inspector": inspector.pk}).aggregate(
        **{f"y{y}": rules.hours_sum(y) for y in years}
    )
    # Coverage of every year and topic in one row, each by the coverage flag of the
    # coverage figure (a completed course on the topic in the year's batches).
    flags = (
        inspector_list(actor=actor)
        .filter(pk=inspector.pk)
        .annotate(**{f"c{y}_{t}": _completed_topic(y, t) for y in years for t in THREE_SYSTEMS})
        .values(*(f"c{y}_{t}" for y in years for t in THREE_SYSTEMS))
        .first()
    ) or {}
    required_by_year = required_hours_for_years(region=inspector.region, years=years)
    out = []
    for year in years:
        trainings = tuple(TrainingRow(enrollment=e, counts=bool(e.counts)) for e in rows if e.batch.year == year)
        required = required_by_year[year]
        coverage = tuple(
            TopicCoverage(
                topic=str(topic),
                label=str(Topic(topic).label),
                covered=bool(flags.get(f"c{year}_{topic}")),
                courses=tuple(
                    dict.fromkeys(
                        t.batch.course.title
                        for t in trainings
                        if t.counts and getattr(t.batch.course, f"covers_{topic}")
                    )
                ),
            )
            for topic in THREE_SYSTEMS
        )
        year_hours = hours[f"y{year}"]
        out.append(
            TrainingYear(
                year=year,
                trainings=trainings,
                hours=year_hours,
                required=required,
                met=rules.hours_met(year_hours, required),
                coverage=coverage,
            )
        )
    return tuple(out)


def _exams(*, actor, inspector: Inspector) -> tuple[ExamRecord, ...]:
    results = result_list(actor=actor, filters={"inspector": inspector.pk}).order_by(
        "sitting__held_on", "sitting_id", "id"
    )
    by_exam: dict[int, list[Result]] = {}
    for result in results:
        by_exam.setdefault(result.exam_id, []).append(result)
    records = [
        ExamRecord(
            title=rs[0].exam.title,
            kind_display=rs[0].exam.get_kind_display(),
            max_attempts=rs[0].exam.max_attempts,
            results=tuple(ResultRow(result=r, outcome=result_outcome(r)) for r in rs),
        )
        for rs in by_exam.values()
    ]
    # the latest exam first, its sittings oldest first
    records.sort(key=lambda r: (r.latest.sitting.held_on, r.latest.pk), reverse=True)
    return tuple(records)


def _certificates(*, actor, inspector: Inspector) -> tuple[CertificateRecord, ...]:
    events = CertificateEvent.objects.select_related("actor").order_by("at", "id")
    certificates = (
        certificate_list(actor=actor)
        .filter(holder_id=inspector.pk)
        .prefetch_related(Prefetch("events", queryset=events))
        .order_by("-issued_on", "-id")
    )
    return tuple(
        CertificateRecord(
            certificate=c,
            status_display=status_label(c.status),
            events=tuple(
                CertificateEventRow(
                    event=e, from_status=status_label(e.from_status), to_status=status_label(e.to_status)
                )
                for e in c.events.all()
            ),
        )
        for c in certificates
    )
