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

Each figure is one pass over the scope's results: a GROUP BY per inspector and exam (did they
ever score, their latest attempt, their latest passed attempt) inside one GROUP BY per group.
``docs/definitions.md`` is the table of them in words.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Count, F, Max, Q, QuerySet

from .models import Result


def sitting_in_year(year: int, prefix: str = "") -> Q:
    """The year a sitting counts in: a training batch's own sitting (its course exam) counts in
    the batch's year, as the batch's enrollments and hours do (``training.rules.in_year``),
    even when held after New Year; any other sitting in the year it is held."""
    return Q(**{f"{prefix}batch__year": year}) | Q(**{f"{prefix}batch__isnull": True, f"{prefix}held_on__year": year})


def per_candidate(results: QuerySet[Result], group: tuple[str, ...]) -> QuerySet:
    """One row per group, inspector and exam: ``scored`` (results with a score), ``latest``
    (the highest attempt number: attempts are numbered by sitting date, an absence has
    none) and ``latest_passed`` (the highest passed attempt). Group columns as ``g0``, ``g1``..."""
    return (
        results.order_by()
        .values(
            **{f"g{i}": F(path) for i, path in enumerate(group)}, c_inspector=F("inspector_id"), c_exam=F("exam_id")
        )
        .annotate(
            scored=Count("id", filter=Q(absent=False)),
            latest=Max("attempt"),
            latest_passed=Max("attempt", filter=Q(passed=True)),
        )
    )


# Over ``per_candidate`` rows: sat = scored at least once; absent = never scored; passed = the
# latest attempt is a passed one.
SAT_SQL = "c.scored > 0"
ABSENT_SQL = "c.scored = 0"
PASSED_SQL = "c.latest_passed = c.latest"


def candidate_counts(results: QuerySet[Result], group: tuple[str, ...]) -> dict[tuple, dict[str, int]]:
    """{group values: {"sat", "absent", "passed"}} over ``results`` (those of one scope),
    each inspector and exam counted once per group (``per_candidate``)."""
    inner_sql, params = per_candidate(results, group).query.sql_with_params()
    keys = ", ".join(f"c.g{i}" for i in range(len(group)))
    counts = ", ".join(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)" for cond in (SAT_SQL, ABSENT_SQL, PASSED_SQL))
    sql = f"SELECT {keys}, {counts} FROM ({inner_sql}) c GROUP BY {keys}"  # noqa: S608 (the ORM's own SQL)
    with connections[results.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    n = len(group)
    return {
        tuple(row[:n]): {"sat": int(row[n] or 0), "absent": int(row[n + 1] or 0), "passed": int(row[n + 2] or 0)}
        for row in rows
    }


def pass_rate(passed: int, sat: int) -> float | None:
    """考试合格率 = passed / sat (absences excluded); None when nobody sat."""
    return round(passed / sat, 4) if sat else None
