"""Reads of the training app, scoped by the actor in one place (personnel.selectors)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import StartsWith

from core.compiled import CompiledRead
from core.errors import NotFound
from core.serializers import ID_MAX
from personnel import access
from personnel.models import Inspector, InspectorStatus, Region, Sector
from personnel.selectors import actor_manages_region, inspector_list, scope_filter

from . import rules
from .models import THREE_SYSTEMS, Batch, BatchStatus, Course, Enrollment, EnrollmentStatus, HoursPolicy

HOURS = rules.HOURS
S = EnrollmentStatus


def default_required_hours() -> Decimal:
    return Decimal(str(settings.TRAINING_REQUIRED_HOURS))


# --- batches -----------------------------------------------------------------------------


def batch_counts(qs: QuerySet[Batch]) -> QuerySet[Batch]:
    """Annotate each batch with its enrollment counts (one GROUP BY, no per-row queries)."""
    return qs.annotate(
        enrolled_count=Count("enrollments", filter=Q(enrollments__status=S.ENROLLED)),
        waitlisted_count=Count("enrollments", filter=Q(enrollments__status=S.WAITLISTED)),
        cancelled_count=Count("enrollments", filter=Q(enrollments__status=S.CANCELLED)),
        completed_count=Count("enrollments", filter=Q(enrollments__status=S.COMPLETED)),
        no_show_count=Count("enrollments", filter=Q(enrollments__status=S.NO_SHOW)),
    )


def batch_list(*, actor, filters: dict | None = None) -> QuerySet[Batch]:
    """Batches the actor may see: admins those organised in their subtree; an inspector
    the batches they are in and the open ones organised above them for their sector."""
    qs = Batch.objects.select_related("course", "region")
    scope = access.scope_for(actor)
    if scope.kind == access.SELF:
        me = Inspector.objects.select_related("region").get(pk=scope.inspector_id)
        ancestors = [p + "/" for p in _prefixes(me.region.path)]
        # Exists, not a join: a join would leave only the inspector's own enrollment for
        # batch_counts to count.
        mine = Exists(Enrollment.objects.filter(batch=OuterRef("pk"), inspector_id=me.pk))
        qs = qs.filter(
            mine | Q(status=BatchStatus.OPEN, region__path__in=ancestors) & (Q(sector="") | Q(sector=me.sector))
        )
    else:
        q = scope_filter(actor=actor, region_field="region")
        if q is not None:
            qs = qs.filter(q)
    filters = filters or {}
    if filters.get("year"):
        qs = qs.filter(year=filters["year"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if "sector" in filters and filters["sector"] is not None:
        qs = qs.filter(sector=filters["sector"])
    if filters.get("region"):
        qs = qs.filter(region__path__startswith=_path(filters["region"]))
    if filters.get("topic"):
        qs = qs.filter(**{f"course__covers_{filters['topic']}": True})
    if filters.get("course"):
        qs = qs.filter(course__code=filters["course"])
    return qs


def _prefixes(path: str) -> list[str]:
    """``130000/130100/130102/`` -> ``130000``, ``130000/130100``, ``130000/130100/130102``."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _path(region) -> str:
    if isinstance(region, Region):
        return region.path
    path = Region.objects.filter(code=region).values_list("path", flat=True).first()
    return path or "no-such-region/"  # matches no path (all digits); PostgreSQL refuses a NUL byte


def _one(qs: QuerySet):
    """The row of a query by primary key, or None: no ORDER BY (the models' default ordering
    would join and sort for one row)."""
    return next(iter(qs.order_by()[:1]), None)


def _batch_by_pk(pk: int) -> QuerySet[Batch]:
    return Batch.objects.select_related("course", "region").filter(pk=pk).order_by()[:1]


# Every call on a batch reads it first (each of an enrollment storm's thousand calls):
# the statement is built once per connection (core.compiled).
_BATCH_READ = CompiledRead(_batch_by_pk, pk=-790_313_018)


def batch_get_for_actor(*, actor, batch_id) -> Batch:
    """The batch with its course and region if the actor may see it; NotFound otherwise."""
    if access.scope_for(actor).is_admin:
        # An admin sees the batches organised in their subtree (batch_list's scope_filter),
        # asked here of the one row read by its key.
        batch_id = int(batch_id) if str(batch_id).isdecimal() else 0
        batch = _BATCH_READ.first(pk=batch_id) if 0 < batch_id <= ID_MAX else None
        if batch is None or not actor_manages_region(actor=actor, region=batch.region):
            raise NotFound()
        return batch
    batch = _one(batch_list(actor=actor).filter(pk=batch_id))
    if batch is None:
        raise NotFound()
    return batch


def course_list(*, actor, filters: dict | None = None) -> QuerySet[Course]:
    """Courses are province-wide reference data: any signed-in role may read them."""
    if access.scope_for(actor).kind == access.NONE:
        return Course.objects.none()
    qs = Course.objects.all()
    filters = filters or {}
    if filters.get("topic"):
        qs = qs.filter(**{f"covers_{filters['topic']}": True})
    if filters.get("active") is not None:
        qs = qs.filter(active=filters["active"])
    return qs


# --- enrollments ---------------------------------------------------------------------------


def enrollment_list(*, actor, filters: dict | None = None) -> QuerySet[Enrollment]:
    """Enrollments of inspectors the actor may see (an inspector: their own)."""
    qs = Enrollment.objects.select_related("batch", "batch__course", "batch__region", "inspector", "inspector__region")
    q = scope_filter(actor=actor, region_field="inspector__region", inspector_field="inspector_id")
    if q is not None:
        qs = qs.filter(q)
    filters = filters or {}
    if filters.get("batch"):
        qs = qs.filter(batch_id=filters["batch"])
    if filters.get("inspector"):
        qs = qs.filter(inspector_id=filters["inspector"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("year"):
        qs = qs.filter(rules.in_year(filters["year"]))
    return qs


def enrollment_get_for_actor(*, actor, enrollment_id) -> Enrollment:
    enrollment = _one(enrollment_list(actor=actor).filter(pk=enrollment_id))
    if enrollment is None:
        raise NotFound()
    return enrollment


# --- hours ----------------------------------------------------------------------------------


def _nearest_policy(path: str, policies: dict[str, Decimal], default: Decimal) -> Decimal:
    """The required hours of the region at ``path``: the nearest ancestor's policy (its own
    first), else the default. ``policies`` maps a region's path to its required hours."""
    required = default
    for prefix in _prefixes(path):  # shallow to deep: the deepest match wins
        required = policies.get(prefix + "/", required)
    return required


def required_hours_by_region(*, year: int) -> dict[int, Decimal]:
    """Required hours per region id: the nearest ancestor's policy, else the default.
    Regions are a few hundred rows; policies fewer still."""
    policies = dict(HoursPolicy.objects.filter(year=year).values_list("region__path", "required_hours"))
    default = default_required_hours()
    return {
        region_id: _nearest_policy(path, policies, default)
        for region_id, path in Region.objects.values_list("id", "path")
    }


def required_hours_for(*, region: Region, year: int) -> Decimal:
    return required_hours_by_region(year=year).get(region.pk, default_required_hours())


def required_hours_for_years(*, region: Region, years) -> dict[int, Decimal]:
    """``required_hours_for`` of one region for several years in one read (one person's
    file, exams.dossier): the policies of the region's ancestors in those years."""
    by_year: dict[int, dict[str, Decimal]] = {year: {} for year in years}
    ancestors = [prefix + "/" for prefix in _prefixes(region.path)]
    rows = HoursPolicy.objects.filter(year__in=list(by_year), region__path__in=ancestors)
    for year, path, hours in rows.values_list("year", "region__path", "required_hours"):
        by_year[year][path] = hours
    default = default_required_hours()
    return {year: _nearest_policy(region.path, policies, default) for year, policies in by_year.items()}


def required_hours_expression(*, year: int, region_field: str = "region_id"):
    """A SQL CASE giving each row's required hours, so "who meets the policy" is computed by
    the database. One WHEN per distinct required figure other than the default."""
    by_region = required_hours_by_region(year=year)
    default = default_required_hours()
    groups: dict[Decimal, list[int]] = {}
    for region_id, hours in by_region.items():
        if hours != default:
            groups.setdefault(hours, []).append(region_id)
    whens = [When(**{f"{region_field}__in": ids}, then=Value(h)) for h, ids in groups.items()]
    if not whens:
        return Value(default, output_field=HOURS)
    return Case(*whens, default=Value(default), output_field=HOURS)


def hours_this_year(year: int, prefix: str = "enrollments__"):
    """An inspector's hours in ``year`` (``rules.hours_sum``) as an aggregate over the joined
    enrollments: for queries that need every inspector's hours (counts, filters on them)."""
    return rules.hours_sum(year, prefix)


def hours_this_year_per_row(year: int):
    """The same hours as a subquery per inspector row: for a page of a list or one person,
    where PostgreSQL computes it for the rows returned only (at 250,000 inspectors a page
    of the hours list took 7 s grouping everyone's enrollments first, 0.07 s this way)."""
    done = (
        Enrollment.objects.filter(rules.hours_in(year), inspector=OuterRef("pk"))
        .order_by()
        .values("inspector")
        .annotate(total=Sum("hours_credited"))
        .values("total")
    )
    return Coalesce(Subquery(done, output_field=HOURS), Value(Decimal("0")), output_field=HOURS)


def required_hours_per_row(year: int, path_field: str = "region__path"):
    """``required_hours_by_region``'s figure (the nearest ancestor's policy, the region's own
    first, else the default) as a subquery per row: for one person it reads the few policies
    above their region instead of every region and policy of the year."""
    nearest = (
        HoursPolicy.objects.filter(StartsWith(OuterRef(path_field), F("region__path")), year=year)
        .order_by("-region__depth")
        .values("required_hours")[:1]
    )
    return Coalesce(Subquery(nearest, output_field=HOURS), Value(default_required_hours()), output_field=HOURS)


def inspector_hours_list(*, actor, year: int, filters: dict | None = None) -> QuerySet[Inspector]:
    """Inspectors in scope with ``hours`` in the year (``rules.hours_in``), ``required``
    (policy) and ``met`` (``rules.hours_met``).

    Unfiltered by ``met``, hours come per row (a page, or one person, reads only its
    rows' enrollments); filtered by it, every inspector's hours are needed and one GROUP
    BY is cheaper than a subquery for each."""
    met = (filters or {}).get("met")
    hours = hours_this_year(year) if met is not None else hours_this_year_per_row(year)
    return _with_hours(inspector_list(actor=actor, filters=filters), hours, year=year, met=met)


def _with_hours(qs: QuerySet[Inspector], hours, *, year: int, met: bool | None = None) -> QuerySet[Inspector]:
    qs = qs.annotate(hours=hours, required=required_hours_expression(year=year))
    qs = qs.annotate(met=Case(When(rules.hours_met_q("hours", "required"), then=Value(True)), default=Value(False)))
    if met is not None:
        qs = qs.filter(met=met)
    return qs


def region_hours_summary(*, actor, year: int, region: Region | None = None) -> dict:
    """For the actor's scope (or a region inside it): active inspectors, how many meet
    the yearly hours, the share, and the hours delivered. Computed by the database."""
    filters = {"status": InspectorStatus.ACTIVE}
    if region is not None:
        filters["region"] = region
    # Every inspector's hours are counted: one GROUP BY, not a subquery per inspector.
    qs = _with_hours(inspector_list(actor=actor, filters=filters), hours_this_year(year), year=year)
    agg = qs.aggregate(
        inspectors=Count("id"),
        met_count=Count("id", filter=Q(met=True)),  # an alias named "met" would shadow the annotation
    )
    agg["met"] = agg.pop("met_count")
    delivered = enrollment_list(actor=actor, filters={}).filter(rules.hours_in(year))
    if region is not None:
        delivered = delivered.filter(inspector__region__path__startswith=region.path)
    hours = delivered.aggregate(h=rules.hours_sum(year))["h"]
    agg["hours_delivered"] = hours
    rate = rules.hours_met_rate(agg["met"], agg["inspectors"])
    agg["met_rate"] = None if rate is None else round(rate * 100, 1)  # the API's percentage
    return agg


# --- coverage of the three systems -------------------------------------------------------------


def _completed_topic(year: int, topic: str):
    return Exists(
        Enrollment.objects.filter(
            rules.hours_in(year),
            inspector_id=OuterRef("pk"),
            **{f"batch__course__covers_{topic}": True},
        )
    )


def coverage(*, actor, year: int, region: Region | None = None) -> list[dict]:
    """Per sector: active inspectors in scope and how many completed a course on each of
    the three systems that year (and all three).

    One GROUP BY sector and the three "completed a course on X" flags (at most 32 rows,
    added up here). Counting each flag with ``COUNT ... FILTER`` instead made PostgreSQL
    evaluate every flag's EXISTS again inside each count: ten times slower at 250,000
    inspectors."""
    filters = {"status": InspectorStatus.ACTIVE}
    if region is not None:
        filters["region"] = region
    qs = inspector_list(actor=actor, filters=filters).order_by()
    flags = [f"has_{t}" for t in THREE_SYSTEMS]
    qs = qs.annotate(**{f"has_{t}": _completed_topic(year, t) for t in THREE_SYSTEMS})
    empty = {"inspectors": 0, "all_three": 0, **dict.fromkeys(THREE_SYSTEMS, 0)}
    rows: dict[str, dict] = {}
    for group in qs.values("sector", *flags).annotate(n=Count("id")):
        row = rows.setdefault(group["sector"], dict(empty))
        row["inspectors"] += group["n"]
        for topic in THREE_SYSTEMS:
            if group[f"has_{topic}"]:
                row[topic] += group["n"]
        if all(group[flag] for flag in flags):
            row["all_three"] += group["n"]
    out = []
    for sector in Sector:
        row = rows.get(sector.value, empty)
        total = row["inspectors"]
        entry = {"sector": sector.value, "sector_display": str(sector.label), "inspectors": total}
        for t in (*THREE_SYSTEMS, "all_three"):
            key = str(t)
            entry[key] = row[key]
            entry[f"{key}_rate"] = round(row[key] * 100 / total, 1) if total else None
        out.append(entry)
    return out


def coverage_missing(*, actor, year: int, topic: str, sector: str | None = None, region: Region | None = None):
    """Active inspectors in scope who have not completed a course on ``topic`` that year."""
    filters = {"status": InspectorStatus.ACTIVE}
    if sector:
        filters["sector"] = sector
    if region is not None:
        filters["region"] = region
    return inspector_list(actor=actor, filters=filters).filter(~_completed_topic(year, topic))
