"""The yearly totals, computed by the database (GROUP BY), for one year and one region scope.

A report is a generator (this module: figures and row iterators) plus a formatter
(``reports.xlsx``). Every figure here is an aggregate query or a rollup of a few
hundred per-region aggregates over the region tree; nothing loops over enrollments.

Definitions (the same in every sheet):
- 培训人次 person-times: enrollments that took a seat (enrolled, completed, no-show) in
  the year's batches, of inspectors in scope; 培训人数 persons: distinct inspectors among them;
- 结业人次 completions and 缺席人次 no-shows; 学时 hours delivered: hours credited on completion;
- 学时达标: active inspectors whose completed hours in batches ending that year reach the
  required hours (the nearest region policy, else the default);
- exams: sittings held that year with a candidate in scope, candidates (results), absences,
  pass rate = passed / sat (absent excluded);
- certificates of holders in scope: issued in the year, and renewed / suspended / revoked /
  expired events in the year; valid at year end replays the event log to 31 December.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from exams.models import Certificate, CertificateEvent, CertificateStatus, Result
from personnel.models import Inspector, InspectorStatus, Region, RegionLevel, Sector
from training.models import THREE_SYSTEMS, Batch, BatchStatus, Enrollment, EnrollmentStatus, Topic
from training.selectors import coverage, hours_this_year, required_hours_expression

E = EnrollmentStatus
SEATED = (E.ENROLLED, E.COMPLETED, E.NO_SHOW)
ZERO = Decimal("0")

# (key, label, kind): kind "int", "hours", "pct"
SUMMARY_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("person_times", "培训人次", "int"),
    ("persons", "培训人数", "int"),
    ("completions", "结业人次", "int"),
    ("no_shows", "缺席人次", "int"),
    ("completion_rate", "结业率", "pct"),
    ("batches", "举办批次", "int"),
    ("hours", "累计学时", "hours"),
    ("three_systems_person_times", "“三项制度”培训人次", "int"),
    ("inspectors", "在岗执法人员", "int"),
    ("hours_met", "学时达标人数", "int"),
    ("hours_met_rate", "学时达标率", "pct"),
    ("sittings", "考试场次", "int"),
    ("candidates", "参考人次", "int"),
    ("absences", "缺考人次", "int"),
    ("passes", "合格人次", "int"),
    ("pass_rate", "考试合格率", "pct"),
    ("certs_issued", "新发执法证", "int"),
    ("certs_renewed", "换发执法证", "int"),
    ("certs_suspended", "暂扣执法证", "int"),
    ("certs_revoked", "吊销执法证", "int"),
    ("certs_expired", "过期执法证", "int"),
    ("certs_valid_year_end", "年末有效执法证", "int"),
)
# The figures shown by sector and by region (a subset that makes sense per group).
GROUP_FIGURES = (
    "inspectors",
    "person_times",
    "persons",
    "completions",
    "no_shows",
    "completion_rate",
    "hours",
    "hours_met",
    "hours_met_rate",
    "candidates",
    "pass_rate",
    "certs_valid_year_end",
)
LABELS = {key: label for key, label, _kind in SUMMARY_FIGURES}
KINDS = {key: kind for key, _label, kind in SUMMARY_FIGURES}


@dataclass(frozen=True)
class Scope:
    region: Region
    year: int

    @property
    def path(self) -> str:
        return self.region.path

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, 12, 31)

    def previous(self) -> Scope:
        return Scope(region=self.region, year=self.year - 1)


def _rate(part, whole) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


# --- the base querysets, each limited to the scope ------------------------------------------


def _enrollments(scope: Scope):
    return Enrollment.objects.filter(
        batch__year=scope.year,
        inspector__region__path__startswith=scope.path,
        status__in=SEATED,
    ).exclude(batch__status=BatchStatus.CANCELLED)


def _inspectors(scope: Scope):
    return Inspector.objects.filter(region__path__startswith=scope.path)


def _results(scope: Scope):
    return Result.objects.filter(sitting__held_on__year=scope.year, inspector__region__path__startswith=scope.path)


def _certificates(scope: Scope):
    return Certificate.objects.filter(holder__region__path__startswith=scope.path)


def _year_end_status(scope: Scope):
    """The status each certificate had at the end of the year, from its event log. With no
    event recorded by then it still had the status it was issued with: an issue is often
    recorded after its date (a qualification exam's certificate is dated the exam day)."""
    end = timezone.make_aware(dt.datetime.combine(scope.end, dt.time.max))
    last = CertificateEvent.objects.filter(certificate=OuterRef("pk"), at__lte=end).order_by("-at", "-id")
    return Coalesce(Subquery(last.values("to_status")[:1]), Value(CertificateStatus.VALID.value))


# --- grouped figures -----------------------------------------------------------------------------


def _training_by(scope: Scope, group: str | None) -> dict:
    three = Q(batch__course__covers_publicity=True) | Q(batch__course__covers_process_recording=True)
    three |= Q(batch__course__covers_legal_review=True)
    aggregates = {
        "person_times": Count("id"),
        "persons": Count("inspector_id", distinct=True),
        "completions": Count("id", filter=Q(status=E.COMPLETED)),
        "no_shows": Count("id", filter=Q(status=E.NO_SHOW)),
        "hours": Coalesce(Sum("hours_credited", filter=Q(status=E.COMPLETED)), Value(ZERO)),
        "three_systems_person_times": Count("id", filter=three),
        "batches": Count("batch_id", distinct=True),
    }
    return _grouped(_enrollments(scope), group, aggregates)


def _hours_by(scope: Scope, group: str | None) -> dict:
    active = _inspectors(scope).filter(status=InspectorStatus.ACTIVE)
    # Who meets the policy is itself a GROUP BY (hours per inspector); it is used here as a
    # subquery, so the count per group is still one statement.
    met_ids = (
        active.annotate(h=hours_this_year(scope.year), req=required_hours_expression(year=scope.year))
        .filter(h__gte=F("req"))
        .values("id")
    )
    aggregates = {"inspectors": Count("id"), "hours_met": Count("id", filter=Q(pk__in=met_ids))}
    return _grouped(active, group, aggregates)


def _exams_by(scope: Scope, group: str | None) -> dict:
    aggregates = {
        "candidates": Count("id"),
        "absences": Count("id", filter=Q(absent=True)),
        "passes": Count("id", filter=Q(passed=True)),
        "sat": Count("id", filter=Q(absent=False)),
        "sittings": Count("sitting_id", distinct=True),
    }
    return _grouped(_results(scope), group, aggregates)


def _certificates_by(scope: Scope, group: str | None) -> dict:
    year = scope.year
    qs = _certificates(scope).annotate(year_end=_year_end_status(scope))
    events = CertificateEvent.Kind

    def event_count(kind):
        return Count("events", filter=Q(events__kind=kind, events__at__year=year), distinct=True)

    aggregates = {
        "certs_issued": Count("id", filter=Q(issued_on__year=year), distinct=True),
        "certs_valid_year_end": Count(
            "id", filter=Q(year_end="valid", valid_until__gte=scope.end, issued_on__lte=scope.end), distinct=True
        ),
        "certs_renewed": event_count(events.RENEWED),
        "certs_suspended": event_count(events.SUSPENDED),
        "certs_revoked": event_count(events.REVOKED),
        "certs_expired": event_count(events.EXPIRED),
    }
    return _grouped(qs, group, aggregates)


def _grouped(qs, group: str | None, aggregates: dict) -> dict:
    """{group value: {figure: value}}; with group None, {None: {...}}."""
    if group is None:
        return {None: qs.aggregate(**aggregates)}
    return {row.pop("_g"): row for row in qs.order_by().values(_g=F(group)).annotate(**aggregates)}


_GROUPS = {
    # what to group each base queryset by, for "sector" and "region"
    "sector": {
        "training": "inspector__sector",
        "hours": "sector",
        "exams": "inspector__sector",
        "certs": "holder__sector",
    },
    "region": {
        "training": "inspector__region_id",
        "hours": "region_id",
        "exams": "inspector__region_id",
        "certs": "holder__region_id",
    },
}


def figures(scope: Scope, by: str | None = None) -> dict:
    """All figures for the scope, or per sector / per region id (``by``)."""
    groups = _GROUPS.get(by, {})
    parts = [
        _training_by(scope, groups.get("training")),
        _hours_by(scope, groups.get("hours")),
        _exams_by(scope, groups.get("exams")),
        _certificates_by(scope, groups.get("certs")),
    ]
    keys = set().union(*parts) if by else {None}
    out = {}
    for key in keys:
        row = {}
        for part in parts:
            row.update(part.get(key, {}))
        out[key] = _derive(row)
    return out


def _derive(row: dict) -> dict:
    full = {key: row.get(key) or 0 for key, _l, _k in SUMMARY_FIGURES}
    full["hours"] = row.get("hours") or ZERO
    full["sat"] = row.get("sat") or 0
    full["completion_rate"] = _rate(full["completions"], full["completions"] + full["no_shows"])
    full["hours_met_rate"] = _rate(full["hours_met"], full["inspectors"])
    full["pass_rate"] = _rate(full["passes"], full["sat"])
    return full


def add(a: dict, b: dict) -> dict:
    """Sum two rows of counts (region rollup) and recompute the rates."""
    row = {k: (a.get(k) or 0) + (b.get(k) or 0) for k in set(a) | set(b) if KINDS.get(k, "int") != "pct"}
    return _derive(row)


def change(current, previous) -> float | None:
    """同比 as a fraction; None (shown blank with a note) when the previous year is zero."""
    if current is None or previous is None or not previous:
        return None
    return round((float(current) - float(previous)) / float(previous), 4)


# --- sheets ------------------------------------------------------------------------------------------


def summary(scope: Scope) -> list[dict]:
    now, before = figures(scope)[None], figures(scope.previous())[None]
    return [
        {
            "key": key,
            "label": label,
            "kind": kind,
            "current": now[key],
            "previous": before[key],
            "change": change(now[key], before[key]) if kind != "pct" else None,
            "points": (now[key] - before[key]) if kind == "pct" and None not in (now[key], before[key]) else None,
        }
        for key, label, kind in SUMMARY_FIGURES
    ]


def by_sector(scope: Scope, actor) -> list[dict]:
    per = figures(scope, by="sector")
    cov = {row["sector"]: row for row in coverage(actor=actor, year=scope.year, region=scope.region)}
    rows = []
    for sector in Sector:
        row = {"sector": sector.value, "label": str(sector.label), **_derive(per.get(sector.value, {}))}
        c = cov.get(sector.value, {})
        for topic in (*THREE_SYSTEMS, "all_three"):
            row[f"cov_{topic}"] = c.get(str(topic), 0)
            rate = c.get(f"{topic}_rate")
            row[f"cov_{topic}_rate"] = None if rate is None else rate / 100
        rows.append(row)
    return rows


def by_region(scope: Scope, *, include_own_office: bool = False) -> list[dict]:
    """Cities (or the scope's children) with their counties under them, each rolled up
    from the per-region aggregates, ranked by completion rate then hours compliance;
    with ``include_own_office``, a last unranked row for the scope region's own staff."""
    per = figures(scope, by="region")
    regions = list(Region.objects.filter(path__startswith=scope.path).order_by("path"))
    totals: dict[int, dict] = {}
    for region in reversed(regions):  # children before parents
        own = per.get(region.pk, _derive({}))
        children = [totals[r.pk] for r in regions if r.parent_id == region.pk]
        row = own
        for child in children:
            row = add(row, child)
        totals[region.pk] = row
    top = [r for r in regions if r.parent_id == scope.region.pk] or [scope.region]
    ranked = sorted(
        top,
        key=lambda r: (
            -(totals[r.pk]["completion_rate"] or 0),
            -(totals[r.pk]["hours_met_rate"] or 0),
            r.code,
        ),
    )
    rank = {r.pk: i for i, r in enumerate(ranked, start=1)}
    rows = []
    for city in sorted(top, key=lambda r: rank[r.pk]):
        rows.append({"region": city, "level": 0, "rank": rank[city.pk], **totals[city.pk]})
        own_office = per.get(city.pk)
        children = [r for r in regions if r.parent_id == city.pk]
        if children and own_office:
            rows.append({"region": city, "level": 1, "rank": None, "own_office": True, **_derive(own_office)})
        for county in children:
            rows.append({"region": county, "level": 1, "rank": None, **totals[county.pk]})
    own = per.get(scope.region.pk)
    if include_own_office and own and top != [scope.region]:
        # The scope's own office (the province's or a city's staff) is in no city or county
        # below it: without this row a table's rows would not add up to the scope's totals.
        rows.append({"region": scope.region, "level": 0, "rank": None, "own_office": True, **_derive(own)})
    return rows


def by_batch(scope: Scope):
    """One row per batch of the year with an enrollee in scope (counts of those enrollees)."""
    # A province batch's sitting has candidates from every city: count the scope's only.
    mine = Q(sittings__results__inspector__region__path__startswith=scope.path)
    sat = Count("sittings__results", filter=mine & Q(sittings__results__absent=False), distinct=True)
    passed = Count("sittings__results", filter=mine & Q(sittings__results__passed=True), distinct=True)
    # One GROUP BY over the scope's enrollments (the filter comes before the counts, so they
    # count only the rows it kept). Neither DISTINCT over that join, which made every subquery
    # run once per enrollment (minutes at 100k), nor a subquery per count and batch (12 s of
    # the 1M-enrollment export; 6 s this way).
    seats = Q(enrollments__status__in=SEATED)
    qs = (
        Batch.objects.filter(year=scope.year, enrollments__inspector__region__path__startswith=scope.path)
        .exclude(status=BatchStatus.CANCELLED)
        .select_related("course", "region")
        .annotate(
            n_enrolled=Count("enrollments", filter=seats),
            n_completed=Count("enrollments", filter=Q(enrollments__status=E.COMPLETED)),
            n_no_show=Count("enrollments", filter=Q(enrollments__status=E.NO_SHOW)),
            n_waitlisted=Count("enrollments", filter=Q(enrollments__status=E.WAITLISTED)),
        )
        .order_by("starts_on", "region__path", "number")
    )
    exam = Batch.objects.filter(pk=OuterRef("pk")).annotate(sat=sat, passed=passed)
    qs = qs.annotate(
        n_sat=Subquery(exam.values("sat")[:1], output_field=IntegerField()),
        n_passed=Subquery(exam.values("passed")[:1], output_field=IntegerField()),
    )
    return qs


def topic_label(batch: Batch) -> str:
    course = batch.course
    if course.covers_three_systems:
        return "三项制度（全部）"
    return "、".join(str(Topic(t).label) for t in course.topics)


def hours_rows(scope: Scope):
    """Every inspector in scope with hours this year, required, met: a values() iterator."""
    return (
        _inspectors(scope)
        .annotate(h=hours_this_year(scope.year), req=required_hours_expression(year=scope.year))
        .order_by("region__path", "name", "id")
        .values_list("name", "national_id", "region__name", "sector", "status", "h", "req")
    )


def detail_rows(scope: Scope):
    """Every enrollment of the year of inspectors in scope (all statuses)."""
    return (
        Enrollment.objects.filter(batch__year=scope.year, inspector__region__path__startswith=scope.path)
        .order_by("batch__starts_on", "batch_id", "id")
        .values_list(
            "batch__year",
            "batch__number",
            "batch__course__title",
            "batch__region__name",
            "batch__starts_on",
            "batch__ends_on",
            "inspector__name",
            "inspector__national_id",
            "inspector__region__name",
            "inspector__sector",
            "status",
            "hours_credited",
        )
    )


def region_level_label(region: Region) -> str:
    return str(RegionLevel(region.level).label)
