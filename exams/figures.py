"""The exam figures' definitions, each once: the year a sitting counts in, who sat, who was
absent, who passed, and the pass rate; for a scope's year (the 汇总, 分行业 and 分地区
sheets, the overview page) and for one training batch (the 分批次 sheet) alike.

The unit is an inspector and an exam: whoever sits an exam twice in the same scope (a resit
in the second sitting of one batch, a spring and an autumn qualification exam in one year)
counts once, by their latest attempt there. Absent is not an attempt (``Result``: no score,
no attempt number), so:

- 参考人次 (sat): the (inspector, exam) pairs with at least one scored result in the scope;
- 缺考人次 (absent): the pairs with results in the scope, none of them scored;
- 合格人次 (passed): the pairs whose latest attempt in the scope (highest attempt number:
  attempts are numbered by sitting date) passed;
- 考试合格率 (pass rate) = passed / sat.

Each result is kept or dropped by one NOT EXISTS (another result of the same inspector and
exam in the scope that outranks it), so every figure stays one GROUP BY over the results.
``docs/definitions.md`` is the table of them in words.
"""

from __future__ import annotations

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from .models import Result


def sitting_in_year(year: int, prefix: str = "") -> Q:
    """The year a sitting counts in: a training batch's own sitting (its course exam) counts in
    the batch's year, as the batch's enrollments and hours do (``training.rules.in_year``),
    even when held after New Year; any other sitting in the year it is held."""
    return Q(**{f"{prefix}batch__year": year}) | Q(**{f"{prefix}batch__isnull": True, f"{prefix}held_on__year": year})


def _outranked(same_scope: Q) -> Exists:
    """Another result of the same inspector and exam in the scope (``same_scope``, a filter on
    the inner results) comes before this one: a later attempt (any attempt, when this one is
    an absence: ``attempt`` is NULL exactly when absent), or, between two absences, the one
    with the higher id (absences only need one of them kept)."""
    outer_absent = ExpressionWrapper(OuterRef("absent"), output_field=BooleanField())
    later = Result.objects.filter(same_scope, inspector_id=OuterRef("inspector_id"), exam_id=OuterRef("exam_id"))
    later = later.annotate(outer_absent=outer_absent).filter(
        Q(absent=False, attempt__gt=Coalesce(OuterRef("attempt"), 0))
        | Q(absent=True, outer_absent=True, id__gt=OuterRef("id"))
    )
    return Exists(later)


def counted(results: QuerySet[Result], *, same_scope: Q) -> QuerySet[Result]:
    """``results`` (those of a scope) kept to one per inspector and exam: the latest attempt,
    else (never scored in the scope) one of the absences."""
    return results.filter(~_outranked(same_scope))


def counted_in_year(results: QuerySet[Result], *, year: int) -> QuerySet[Result]:
    """A year's results (``sitting_in_year``), one per inspector and exam (``counted``)."""
    return counted(results.filter(sitting_in_year(year, "sitting__")), same_scope=sitting_in_year(year, "sitting__"))


def counted_per_batch(results: QuerySet[Result], *, year: int) -> QuerySet[Result]:
    """The results of the year's batches' sittings, one per batch, inspector and exam."""
    batch_results = results.filter(sitting__batch__year=year)
    return counted(batch_results, same_scope=Q(sitting__batch_id=OuterRef("sitting__batch_id")))


def sat() -> Count:
    """参考人次 over ``counted`` results."""
    return Count("id", filter=Q(absent=False))


def absent() -> Count:
    """缺考人次 over ``counted`` results."""
    return Count("id", filter=Q(absent=True))


def passed() -> Count:
    """合格人次 over ``counted`` results."""
    return Count("id", filter=Q(passed=True))


def pass_rate(passed: int, sat: int) -> float | None:
    """考试合格率 = passed / sat (absences excluded); None when nobody sat."""
    return round(passed / sat, 4) if sat else None
