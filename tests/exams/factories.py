"""factory_boy factories for the exams app.

Rows are written directly (no rules checked): they set up the state a test starts from.
Tests of the rules themselves record results through exams.services (see ``record``).
"""

import datetime as dt
import itertools
from decimal import Decimal

import factory

from exams import numbers, services
from exams.models import (
    Certificate,
    CertificateStatus,
    Exam,
    ExamKind,
    ExamPart,
    Result,
    Sitting,
    SittingStatus,
)
from personnel.models import RegionLevel
from tests.factories import InspectorFactory, RegionFactory

GENERAL = "通用法律知识"
SPECIALIST = "专门法律知识"
DEFAULT_PARTS = ((GENERAL, Decimal("40")), (SPECIALIST, Decimal("60")))

_serial = itertools.count(1)


def years_after(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later; 29 February becomes the 28th (as the certificate services
    count a validity), instead of the ValueError of ``date.replace`` on those dates."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class ExamFactory(factory.django.DjangoModelFactory):
    """A qualification exam (执法资格考试) organised by the province, with two parts
    (通用法律知识 40 + 专门法律知识 60), pass mark 60, three attempts. ``parts=[(name, max)]``
    gives other parts."""

    class Meta:
        model = Exam
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"行政执法资格考试{n}")
    kind = ExamKind.QUALIFICATION
    region = factory.SubFactory(RegionFactory, code="130000", name="河北省", level=RegionLevel.PROVINCE)
    course = None
    pass_mark = Decimal("60")
    max_attempts = 3

    @factory.post_generation
    def parts(self, create, extracted, **kwargs):
        if not create:
            return
        parts = DEFAULT_PARTS if extracted is None else extracted
        ExamPart.objects.bulk_create(
            [ExamPart(exam=self, name=name, max_score=Decimal(str(m)), order=i) for i, (name, m) in enumerate(parts)]
        )


class SittingFactory(factory.django.DjangoModelFactory):
    """An open sitting (no batch: anyone in scope may sit) on 20 June 2025."""

    class Meta:
        model = Sitting

    exam = factory.SubFactory(ExamFactory)
    held_on = dt.date(2025, 6, 20)
    place = "省应急管理厅考试中心"
    batch = None
    status = SittingStatus.SCHEDULED


class ResultFactory(factory.django.DjangoModelFactory):
    """A scored result written directly: ``part_scores`` keyed by part id (as strings);
    left out, the first part gets the whole ``score``. Attempt 1 unless told."""

    class Meta:
        model = Result

    sitting = factory.SubFactory(SittingFactory)
    inspector = factory.SubFactory(InspectorFactory)
    exam = factory.SelfAttribute("sitting.exam")
    absent = False
    score = factory.LazyAttribute(lambda r: None if r.absent else Decimal("80.0"))
    part_scores = factory.LazyAttribute(
        lambda r: {} if r.absent else {str(r.sitting.exam.parts.first().pk): str(r.score)}
    )
    pass_mark = factory.LazyAttribute(lambda r: r.sitting.exam.pass_mark)
    passed = factory.LazyAttribute(lambda r: None if r.absent else r.score >= r.pass_mark)
    attempt = factory.LazyAttribute(lambda r: None if r.absent else 1)


class CertificateFactory(factory.django.DjangoModelFactory):
    """A valid certificate issued on 10 January 2024 for five years, numbered like the
    real ones (13 + year + serial + check character), issued by the holder's region."""

    class Meta:
        model = Certificate

    holder = factory.SubFactory(InspectorFactory)
    region = factory.SelfAttribute("holder.region")
    issued_on = dt.date(2024, 1, 10)
    valid_until = factory.LazyAttribute(lambda c: years_after(c.issued_on, 5))
    number = factory.LazyAttribute(
        lambda c: numbers.make(province_prefix="13", year=c.issued_on.year, serial=900000 + next(_serial))
    )
    status = CertificateStatus.VALID


def parts_of(exam: Exam) -> dict[str, ExamPart]:
    """An exam's parts by name."""
    return {p.name: p for p in exam.parts.all()}


def record(sitting: Sitting, inspector, actor, *scores, absent: bool = False) -> Result:
    """Record a result through the service: ``scores`` in part order."""
    parts = list(sitting.exam.parts.all())
    by_id = {str(p.pk): Decimal(str(s)) for p, s in zip(parts, scores, strict=False)}
    return services.result_record(sitting=sitting, inspector=inspector, actor=actor, scores=by_id, absent=absent)
