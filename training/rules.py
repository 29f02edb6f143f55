"""The training figures' definitions, each once: the year an enrollment and its hours count
in, person-times, persons, hours, completion rate and hours met.

Every surface (the yearly workbook and the overview page in ``reports.figures``, the hours
and coverage API in ``training.selectors``, ``/me/``, the annual review, the roster export)
embeds these expressions in its own query, so the fast SQL shapes stay (one GROUP BY, a
derived table, a subquery per row) and the definition does not get written twice.
``docs/definitions.md`` is the table of them in words.

``prefix`` is the path from the queried model to the enrollment ("" on Enrollment,
"enrollments__" on Inspector or Batch).
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from .models import BatchStatus, EnrollmentStatus

S = EnrollmentStatus
HOURS = DecimalField(max_digits=7, decimal_places=1)
ZERO = Decimal("0")

# 人次: enrollments that hold or held a seat. Waitlisted never had one; cancelled gave it up.
SEATED = (S.ENROLLED, S.COMPLETED, S.NO_SHOW)


def in_year(year: int, prefix: str = "") -> Q:
    """The year an enrollment, its person-time and its hours count in: its batch's own year
    (``Batch.year``, the year of 2025年第N批), also for a batch that ends after New Year."""
    return Q(**{f"{prefix}batch__year": year})


def seated(prefix: str = "") -> Q:
    """An enrollment that holds or held a seat (enrolled, completed, no-show)."""
    return Q(**{f"{prefix}status__in": SEATED})


def completed(prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": S.COMPLETED})


def person_time_in(year: int, prefix: str = "") -> Q:
    """培训人次: a seated enrollment in one of the year's batches (a cancelled batch counts
    nowhere; cancelling one cancels its enrollments as well)."""
    return in_year(year, prefix) & seated(prefix) & ~Q(**{f"{prefix}batch__status": BatchStatus.CANCELLED})


def hours_in(year: int, prefix: str = "") -> Q:
    """The enrollments whose credited hours count in ``year``: completed, in the year's batches."""
    return in_year(year, prefix) & completed(prefix)


def person_times(prefix: str = "", *, only: Q | None = None) -> Count:
    """培训人次 over rows already limited to a year's person-times (``person_time_in``):
    each seated enrollment once. ``only`` narrows it (one topic's person-times)."""
    return Count(f"{prefix}id", filter=seated(prefix) & (only or Q()))


def persons(prefix: str = "") -> Count:
    """培训人数: distinct inspectors among the person-times."""
    return Count(f"{prefix}inspector_id", filter=seated(prefix), distinct=True)


def completions(prefix: str = "") -> Count:
    return Count(f"{prefix}id", filter=completed(prefix))


def no_shows(prefix: str = "") -> Count:
    return Count(f"{prefix}id", filter=Q(**{f"{prefix}status": S.NO_SHOW}))


def hours_sum(year: int, prefix: str = "") -> Coalesce:
    """学时 of a group of enrollments (an inspector's, a region's): the hours credited on
    completion in the year's batches; 0 when none."""
    return Coalesce(Sum(f"{prefix}hours_credited", filter=hours_in(year, prefix)), Value(ZERO), output_field=HOURS)


def completion_rate(completions: int, person_times: int) -> float | None:
    """结业率 = completions / person-times (a county with 3 completions of 8 person-times:
    0.375); None when nobody held a seat."""
    return round(completions / person_times, 4) if person_times else None


def hours_met(hours: Decimal, required: Decimal) -> bool:
    """学时达标: the hours in the year (``hours_in``) reach the required hours of the
    inspector's region for that year (``training.selectors.required_hours_expression``)."""
    return hours >= required


def hours_met_q(hours: str = "hours", required: str = "required") -> Q:
    """``hours_met`` on two annotations of a queryset."""
    return Q(**{f"{hours}__gte": F(required)})


def hours_met_rate(met: int, inspectors: int) -> float | None:
    """学时达标率 = active inspectors who met the hours / active inspectors; None with nobody."""
    return round(met / inspectors, 4) if inspectors else None


def hours_met_sql(hours: str, required: str) -> str:
    """``hours_met`` as a SQL condition on two column expressions, for the raw GROUP BY over
    the derived hours table (``reports.figures._hours_by``)."""
    return f"({hours}) >= ({required})"


# --- batch status ------------------------------------------------------------------------------

# The moves an edit may make (completing has its own service, ``batch_complete``; a completed
# or cancelled batch is final). The service refuses every other move and the admin form
# offers only these, so both read them here.
BATCH_STATUS_MOVES: dict[str, frozenset[str]] = {
    BatchStatus.DRAFT: frozenset({BatchStatus.OPEN, BatchStatus.CANCELLED}),
    BatchStatus.OPEN: frozenset({BatchStatus.CLOSED, BatchStatus.CANCELLED}),
    BatchStatus.CLOSED: frozenset({BatchStatus.OPEN, BatchStatus.CANCELLED}),
    BatchStatus.COMPLETED: frozenset(),
    BatchStatus.CANCELLED: frozenset(),
}

# The statuses a new batch may start in.
NEW_BATCH_STATUSES = (BatchStatus.DRAFT, BatchStatus.OPEN)


def batch_status_moves(current: str | None) -> list[str]:
    """The statuses a batch in ``current`` may be edited to, ``current`` included (staying is
    always allowed), in the order of ``BatchStatus``; a new batch (``None``): draft or open."""
    if current is None:
        return list(NEW_BATCH_STATUSES)
    return [s for s in BatchStatus.values if batch_status_move_allowed(current, s)]


def batch_status_move_allowed(current: str, new: str) -> bool:
    """Whether an edit may move a batch from ``current`` to ``new`` (staying counts)."""
    return new == current or new in BATCH_STATUS_MOVES[current]


# --- seats and the waitlist --------------------------------------------------------------------


def enrollment_place(taken: int, capacity: int, last: int) -> tuple[str, int | None]:
    """Where a newcomer to a batch goes (status, waitlist position): a seat while fewer than
    ``capacity`` are taken, else the waitlist after its ``last`` position (the services keep
    the list 1..n, so that is its length). Counted under the batch lock."""
    if taken < capacity:
        return S.ENROLLED, None
    return S.WAITLISTED, last + 1


def enrollment_place_sql(*, taken: str, capacity: str, last: str) -> tuple[str, str]:
    """``enrollment_place`` as two SQL expressions (status, waitlist position) over column
    expressions, for the one statement that counts the seats and inserts the enrollment under
    the batch lock (``training.services.enrollment_create``)."""
    seat = f"({taken}) < ({capacity})"
    return (
        f"CASE WHEN {seat} THEN '{S.ENROLLED.value}' ELSE '{S.WAITLISTED.value}' END",
        f"CASE WHEN {seat} THEN NULL ELSE ({last}) + 1 END",
    )
