"""Reads of export jobs, and the office's lists (who falls short of the hours, who lacks one
of the three systems), limited to what the actor may see (personnel.selectors.scope_filter).

One rule for listing, showing and downloading a job, decided by the role the actor holds
now, not the one they held when the job was made: an admin whose current region contains
the job's region. The requester is no exception: moved to another region, or no longer an
admin, they lose their own jobs outside their new scope like anyone else's. Everyone else
gets NotFound (404), the same answer as for a job that does not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.errors import NotFound
from personnel import access
from personnel.models import InspectorStatus
from personnel.selectors import inspector_list, scope_filter
from training.models import THREE_SYSTEMS
from training.selectors import coverage_missing, inspector_hours_list

from . import figures
from .figures import Scope
from .models import ExportJob, OverviewRegionFigures, OverviewSnapshot
from .pipeline import Pipeline


def export_job_list(*, actor) -> QuerySet[ExportJob]:
    """Jobs whose region lies inside the actor's current admin scope (their own included)."""
    qs = ExportJob.objects.select_related("region", "requested_by")
    # An admin may export exactly the regions of their scope, so "their own jobs they may
    # still export" is a subset of the region rule: one filter covers both.
    if not access.scope_for(actor).is_admin:
        return qs.none()
    region_q = scope_filter(actor=actor, region_field="region")
    if region_q is None:  # the whole province
        return qs
    return qs.filter(region_q)


def export_job_get_for_actor(*, actor, job_id) -> ExportJob:
    """One job the actor may see (and so download); NotFound otherwise."""
    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    job = export_job_list(actor=actor).filter(pk=job_id).first()
    if job is None:
        raise NotFound()
    return job


# --- the office's lists (学时未达标名单, 三项制度未覆盖名单) ------------------------------------------


def hours_shortfall_list(*, actor, scope: Scope):
    """Active inspectors of the scope (inside the actor's) whose hours in the year fall short
    of their required hours (``training.rules.hours_met``, through
    ``training.selectors.inspector_hours_list``), by region then name, with ``hours`` and
    ``required``."""
    filters = {"region": scope.region, "status": InspectorStatus.ACTIVE, "met": False}
    return inspector_hours_list(actor=actor, year=scope.year, filters=filters).order_by("region__path", "name", "id")


def coverage_missing_list(*, actor, scope: Scope):
    """Active inspectors of the scope (inside the actor's) who lack at least one of the three
    systems in the year, each once, with ``lacks_<topic>`` for each topic: who lacks what is
    ``training.selectors.coverage_missing``, asked per topic."""
    lacks = {
        f"lacks_{topic}": Exists(
            coverage_missing(actor=actor, year=scope.year, topic=topic, region=scope.region).filter(pk=OuterRef("pk"))
        )
        for topic in THREE_SYSTEMS
    }
    people = inspector_list(actor=actor, filters={"region": scope.region, "status": InspectorStatus.ACTIVE})
    any_lacking = Q()
    for name in lacks:
        any_lacking |= Q(**{name: True})
    return people.annotate(**lacks).filter(any_lacking).order_by("region__path", "name", "id")


# --- the overview page's figures ---------------------------------------------------------------------


@dataclass
class Overview:
    """The overview's ``figures.Report`` for a scope, its year and the year before, read from
    the stored snapshot where there is one. ``computed_at``: when the oldest figures shown
    were computed; ``stale``: older than ``OVERVIEW_MAX_AGE_SECONDS``; ``refresh``: the years
    whose stored figures were missing or stale (the page asks for them again)."""

    report: figures.Report
    computed_at: dt.datetime
    stale: bool = False
    refresh: list[int] = field(default_factory=list)
    # Certificates of the scope expiring soon, as counted by the (fresh) refresh of the year;
    # None: count them now.
    expiring_count: int | None = None
    # 评教 counts of the year's batches per organising region in the scope, as stored by the
    # refresh; None: not stored yet (``figures.evaluations_by_region`` counts them now).
    evaluations: dict[int, dict] | None = None
    # Certificate work of the year as stored by the refresh for the regions in the scope (the
    # arguments of ``figures.applications_by_kind_state``, ``cards_printed_by_region`` and
    # ``annual_review_by_city``); None: not stored yet, counted now. The 年审 rows only when
    # computed today (their overdue and colour are of the refresh's day).
    applications: dict[int, dict] | None = None
    cards_printed: dict[int, int] | None = None
    annual_review: list[dict] | None = None
    # When the scope year's stored figures were computed (None: not stored).
    year_computed_at: dt.datetime | None = None


def _stored_cells(by_sector_of: dict[int, dict]) -> dict:
    """Stored rows back into ``figures.grid`` cells: {(sector, region id): {figure: value}}."""
    cells = {}
    for region_id, sectors in by_sector_of.items():
        for sector, values in sectors.items():
            cell = cells[(sector, region_id)] = dict(values)
            if cell.get("hours") is not None:  # (the one figure stored as text: a Decimal)
                cell["hours"] = Decimal(cell["hours"])
    return cells


def overview_report(*, scope: Scope) -> Overview:
    """The figures of ``scope`` (already limited to the actor: ``services.export_scope``) for its
    year and the year before. Each year comes from the stored snapshot when it has a row for
    the scope region: the rows of the regions under it, summed by ``figures.Report`` as fresh
    figures are (two statements, however many enrollments). A year not stored yet is computed
    from scratch for the scope, as the workbook does (``Report.figures``)."""
    report = figures.Report(scope)
    now = timezone.now()
    years = (scope.year, scope.year - 1)
    snapshots = {
        s.pk: s
        for s in OverviewSnapshot.objects.filter(year__in=years, computed_at__isnull=False).only("year", "computed_at")
    }
    stored: dict[int, dict] = {year: {} for year in years}
    held: dict[int, dict] = {}
    expiring = dict.fromkeys(years, 0)
    evaluations: dict[int, dict] = {}
    work: dict[str, dict] = {"applications": {}, "cards_printed": {}, "annual_review": {}}
    rows = OverviewRegionFigures.objects.filter(snapshot__in=list(snapshots), region__path__startswith=scope.path)
    for (
        snapshot_id,
        region_id,
        by_sector,
        region_held,
        region_expiring,
        region_evaluations,
        *certificate_work,
    ) in rows.values_list(
        "snapshot_id",
        "region_id",
        "by_sector",
        "held",
        "expiring_certificates",
        "evaluations",
        "applications",
        "cards_printed",
        "annual_review",
        "region__path",
    ):
        year = snapshots[snapshot_id].year
        stored[year][region_id] = by_sector
        expiring[year] += region_expiring
        if year == scope.year:
            evaluations[region_id] = region_evaluations
            applications, cards, review, path = certificate_work
            work["applications"][region_id] = applications
            work["cards_printed"][region_id] = cards
            if review is None or review:  # ({}: a region with no 年审 row)
                work["annual_review"][path] = review
        if region_id == scope.region.pk:
            held[year] = region_held
    computed = {s.year: s.computed_at for s in snapshots.values() if s.year in held}
    missing = [year for year in years if year not in computed]
    for year in years:
        if year in computed:
            report.use(year, cells=_stored_cells(stored[year]), held=held[year])
    if missing:
        # Side by side on PostgreSQL, as the page did before it had stored figures.
        with Pipeline() as reads:
            results = [
                r for year in missing for r in reads.values(f"figures-{year}", lambda y=year: report.figures(year=y))
            ]
            for result in results:
                result.get()
    limit = now - dt.timedelta(seconds=settings.OVERVIEW_MAX_AGE_SECONDS)
    stale = [year for year, at in computed.items() if at < limit]
    # (a row stored before the certificate work was has None: counted now until the next refresh)
    stored_work = {
        name: values if scope.year in computed and None not in values.values() else None
        for name, values in work.items()
    }
    if scope.year in computed and timezone.localtime(computed[scope.year]).date() != timezone.localdate(now):
        stored_work["annual_review"] = None
    return Overview(
        report=report,
        computed_at=min([*computed.values(), now]),
        stale=bool(stale),
        refresh=sorted([*missing, *stale]),
        expiring_count=expiring[scope.year] if scope.year in computed and scope.year not in stale else None,
        # (a row stored before 评教 was has none: counted now until the next refresh)
        evaluations=evaluations if scope.year in computed and all(evaluations.values()) else None,
        year_computed_at=computed.get(scope.year),
        applications=stored_work["applications"],
        cards_printed=stored_work["cards_printed"],
        annual_review=None if stored_work["annual_review"] is None else _annual_review(stored_work["annual_review"]),
    )


def _annual_review(by_path: dict[str, dict]) -> list[dict]:
    """Stored 年审 rows back into ``exams.selectors.annual_review_progress``'s: in its order (by
    the city's path), the deadline a date again."""
    rows = []
    for _path, row in sorted(by_path.items()):
        deadline = row.get("deadline")
        rows.append({**row, "deadline": dt.date.fromisoformat(deadline) if deadline else None})
    return rows
