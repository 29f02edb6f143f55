"""The yearly totals, computed by the database (GROUP BY), for one year and one region scope.

A report is a generator (this module: figures and row iterators) plus a formatter
(``reports.xlsx``). Every figure here is an aggregate query or a rollup of a few
hundred per-region aggregates over the region tree; nothing loops over enrollments.

Definitions: each is one function or query expression in its app's rules module, embedded
in these queries (``docs/definitions.md`` is the table of them):
- training (``training.rules``): the year an enrollment and its hours count in (its batch's
  year), 培训人次 person-times, 培训人数 persons, 结业率 completion rate, 学时 hours and
  学时达标 hours met (against ``training.selectors.required_hours_expression``);
- exams (``exams.figures``): the year a sitting counts in, 参考人次 sat, 缺考人次 absent,
  合格人次 passed (one per inspector and exam in the scope, their latest attempt), pass rate;
- certificates of holders in scope: issued in the year, and renewed / suspended / revoked /
  expired events in the year; valid at year end replays the event log to 31 December.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from exams import figures as exam_rules
from exams.models import Certificate, CertificateEvent, CertificateStatus, Result
from personnel import access
from personnel.models import Inspector, InspectorStatus, Region, RegionLevel, Sector
from training import rules
from training.evaluations import add_counts, evaluation_counts, evaluation_figures
from training.models import THREE_SYSTEMS, Batch, BatchStatus, Course, Enrollment, EnrollmentStatus, Topic
from training.selectors import coverage, required_hours_expression

ZERO = Decimal("0")

# (key, label, kind): kind "int", "hours", "pct". The labels stay Chinese in the workbooks (an
# official hands them on as they are); pages translate them (gettext) for English readers.
SUMMARY_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("person_times", gettext_noop("培训人次"), "int"),
    ("persons", gettext_noop("培训人数"), "int"),
    ("completions", gettext_noop("结业人次"), "int"),
    ("no_shows", gettext_noop("缺席人次"), "int"),
    ("completion_rate", gettext_noop("结业率"), "pct"),
    ("batches", gettext_noop("举办批次"), "int"),
    ("hours", gettext_noop("累计学时"), "hours"),
    ("three_systems_person_times", gettext_noop("“三项制度”培训人次"), "int"),
    ("inspectors", gettext_noop("在岗执法人员"), "int"),
    ("hours_met", gettext_noop("学时达标人数"), "int"),
    ("hours_met_rate", gettext_noop("学时达标率"), "pct"),
    ("sittings", gettext_noop("考试场次"), "int"),
    ("candidates", gettext_noop("参考人次"), "int"),
    ("absences", gettext_noop("缺考人次"), "int"),
    ("passes", gettext_noop("合格人次"), "int"),
    ("pass_rate", gettext_noop("考试合格率"), "pct"),
    ("certs_issued", gettext_noop("新发执法证"), "int"),
    ("certs_renewed", gettext_noop("换发执法证"), "int"),
    ("certs_suspended", gettext_noop("暂扣执法证"), "int"),
    ("certs_revoked", gettext_noop("吊销执法证"), "int"),
    ("certs_expired", gettext_noop("过期执法证"), "int"),
    ("certs_valid_year_end", gettext_noop("年末有效执法证"), "int"),
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


# --- the base querysets, each limited to the scope ------------------------------------------


def _enrollments(scope: Scope):
    """The scope's person-times of the year (``training.rules.person_time_in``)."""
    return Enrollment.objects.filter(rules.person_time_in(scope.year), inspector__region__path__startswith=scope.path)


def _inspectors(scope: Scope):
    return Inspector.objects.filter(region__path__startswith=scope.path)


def _results(scope: Scope):
    """Every result of the year's sittings (``exams.figures.sitting_in_year``) of candidates in scope."""
    return Result.objects.filter(
        exam_rules.sitting_in_year(scope.year, "sitting__"), inspector__region__path__startswith=scope.path
    )


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
#
# Every figure but two is additive over the inspectors' (sector, region) pairs: an inspector,
# their enrollments, results and certificates belong to exactly one pair. So each part is one
# GROUP BY sector, region per year, and the summary, the sector rows and the region rows are
# sums of those few hundred rows (``Report``). Batches and sittings held are not additive (a
# province batch seats people from every city): they are counted for the scope alone.


def _training_by(scope: Scope) -> dict:
    three = Q(batch__course__covers_publicity=True) | Q(batch__course__covers_process_recording=True)
    three |= Q(batch__course__covers_legal_review=True)
    aggregates = {
        "person_times": rules.person_times(),
        "persons": rules.persons(),
        "completions": rules.completions(),
        "no_shows": rules.no_shows(),
        "hours": rules.hours_sum(scope.year),
        "three_systems_person_times": rules.person_times(only=three),
    }
    return _grouped(_enrollments(scope), ("inspector__sector", "inspector__region_id"), aggregates)


def _hours_table(scope: Scope):
    """Hours per inspector in the year (``training.rules.hours_in``),
    as SQL for a derived table ``(inspector_id, h)``: one HashAggregate over the year's
    completions. Joined to the inspectors (LEFT JOIN: no completion, no row, 0 hours) it is
    three times faster on PostgreSQL than grouping the inspectors joined to all their
    enrollments (``training.selectors.hours_this_year``), which also sorted 1.5 million rows
    at 250,000 inspectors before the first row came out."""
    done = Enrollment.objects.filter(rules.hours_in(scope.year))
    if scope.region.parent_id is not None:  # the whole tree needs no filter (nor its join)
        done = done.filter(inspector__region__path__startswith=scope.path)
    return done.order_by().values("inspector_id").annotate(h=Sum("hours_credited")).query.sql_with_params()


def _join_hours(people, scope: Scope) -> tuple[str, list]:
    """``people`` (a values() queryset with ``id``) as ``p``, LEFT JOIN its hours
    (``_hours_table``) as ``h``: a FROM clause and its parameters. Only the ORM's own SQL is
    spliced in; every value stays a parameter."""
    p_sql, p_params = people.query.sql_with_params()
    h_sql, h_params = _hours_table(scope)
    return f"({p_sql}) p LEFT JOIN ({h_sql}) h ON h.inspector_id = p.id", [*p_params, *h_params]


def _hours_by(scope: Scope) -> dict:
    """Active inspectors and how many meet the year's required hours, per (sector, region),
    over the inspectors joined to their hours (``_hours_table``)."""
    people = (
        _inspectors(scope)
        .filter(status=InspectorStatus.ACTIVE)
        .order_by()
        .annotate(req=required_hours_expression(year=scope.year))
        .values("id", "sector", "region_id", "req")
    )
    joined, params = _join_hours(people, scope)
    met = rules.hours_met_sql("COALESCE(h.h, 0)", "p.req")
    columns = f"p.sector, p.region_id, COUNT(*), SUM(CASE WHEN {met} THEN 1 ELSE 0 END)"
    sql = f"SELECT {columns} FROM {joined} GROUP BY p.sector, p.region_id"  # noqa: S608
    with connections[people.db].cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (sector, region_id): {"inspectors": n, "hours_met": int(met or 0)}
            for sector, region_id, n, met in cursor.fetchall()
        }


def _exams_by(scope: Scope) -> dict:
    """参考人次, 缺考人次, 合格人次 per (sector, region): each inspector and exam of the year
    once (``exams.figures.candidate_counts``)."""
    counts = exam_rules.candidate_counts(_results(scope), ("inspector__sector", "inspector__region_id"))
    return {
        key: {"candidates": row["sat"], "absences": row["absent"], "passes": row["passed"]}
        for key, row in counts.items()
    }


def _certificates_by(scope: Scope) -> dict:
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
    return _grouped(qs, ("holder__sector", "holder__region_id"), aggregates)


def _held(scope: Scope) -> dict:
    """The two figures that are not additive over groups: batches and sittings held."""
    batches = _enrollments(scope).aggregate(batches=Count("batch_id", distinct=True))
    sittings = _results(scope).aggregate(sittings=Count("sitting_id", distinct=True))
    return {**batches, **sittings}


def held_by_region(scope: Scope) -> dict[int, dict]:
    """``_held`` for the scope region and every region under it at once: {region id:
    {"batches", "sittings"}}, each counting a batch (sitting) once however many of the
    region's subtree sat in it. Two reads of the distinct (own region, batch) and (own
    region, sitting) pairs of the same querysets as ``_held``, rolled up the tree here: the
    pairs grow with batches and regions, not with the people in them."""
    regions = {r.pk: r.parent_id for r in Region.objects.filter(path__startswith=scope.path).only("id", "parent")}
    seen: dict[int, dict[str, set]] = {pk: {"batches": set(), "sittings": set()} for pk in regions}
    pairs = (
        ("batches", _enrollments(scope).order_by().values_list("inspector__region_id", "batch_id").distinct()),
        ("sittings", _results(scope).order_by().values_list("inspector__region_id", "sitting_id").distinct()),
    )
    for key, rows in pairs:
        for region_id, held_id in rows.iterator(chunk_size=10_000):
            while region_id in regions:  # up to the scope region, not beyond it
                seen[region_id][key].add(held_id)
                region_id = regions[region_id]
    return {pk: {key: len(ids) for key, ids in sets.items()} for pk, sets in seen.items()}


def _grouped(qs, group: tuple[str, str], aggregates: dict) -> dict:
    """{(sector, region id): {figure: value}}."""
    rows = qs.order_by().values(_s=F(group[0]), _r=F(group[1])).annotate(**aggregates)
    return {(row.pop("_s"), row.pop("_r")): row for row in rows}


def grid(scope: Scope) -> dict:
    """The additive figures per (sector, region id) for a year: four GROUP BYs."""
    out: dict[tuple, dict] = {}
    for part in (_training_by(scope), _hours_by(scope), _exams_by(scope), _certificates_by(scope)):
        for key, row in part.items():
            out.setdefault(key, {}).update(row)
    return out


RATES = frozenset(key for key, kind in KINDS.items() if kind == "pct")


def _add(total: dict, row: dict) -> dict:
    """Add a row's counts into ``total`` (rates are not added; a zero or empty value adds
    nothing: ``_derive`` gives every absent count 0)."""
    for key, value in row.items():
        if value and key not in RATES:
            total[key] = total.get(key, 0) + value
    return total


def _total(rows) -> dict:
    """Sum rows of counts (region or sector rollup) and derive the rates."""
    total: dict = {}
    for row in rows:
        _add(total, row)
    return _derive(total)


class Report:
    """The figures of one scope and year. Each aggregate query runs once and is shared by
    the summary, the sector and the region rows (the workbook and the overview page show
    all three). Keep an instance for one request or one export only: it does not refresh."""

    def __init__(self, scope: Scope):
        self.scope = scope
        self._grids: dict[int, dict] = {}
        self._held: dict[int, dict] = {}
        self._coverage: list[dict] | None = None
        self._regions: list[Region] | None = None

    def use(self, year: int, *, cells: dict, held: dict) -> Report:
        """Take a year's ``grid`` cells and ``_held`` figures as computed before (the overview's
        stored snapshot, ``reports.selectors.overview_report``) instead of querying them: the
        summary, sector and region rows are then rolled up from them exactly as from fresh ones."""
        self._grids[year] = cells
        self._held[year] = held
        return self

    def prepare(self, actor) -> Report:
        """Run every query the summary, sector and region rows need, now (in an export's
        reader thread); the rows are then computed without the database."""
        for year in (self.scope.year, self.scope.year - 1):
            self.figures(year=year)
        self.coverage(actor)
        self.regions()
        return self

    def prepare_in(self, reads, actor) -> list:
        """``prepare`` in three readers of a ``reports.pipeline.Pipeline`` at once (this year,
        last year, coverage and regions): for a page that waits for all of it. The results'
        ``get()`` waits for them."""
        year = self.scope.year
        return [
            *reads.values(f"figures-{year}", lambda: self.figures(year=year)),
            *reads.values(f"figures-{year - 1}", lambda: self.figures(year=year - 1)),
            *reads.values("coverage", lambda: self.coverage(actor), self.regions),
        ]

    def coverage(self, actor) -> list[dict]:
        if self._coverage is None:
            self._coverage = coverage(actor=actor, year=self.scope.year, region=self.scope.region)
        return self._coverage

    def regions(self) -> list[Region]:
        if self._regions is None:
            self._regions = list(Region.objects.filter(path__startswith=self.scope.path).order_by("path"))
        return self._regions

    def grid(self, year: int) -> dict:
        if year not in self._grids:
            self._grids[year] = grid(Scope(region=self.scope.region, year=year))
        return self._grids[year]

    def figures(self, by: str | None = None, *, year: int | None = None) -> dict:
        """All figures for the scope, or per sector / per region id (``by``)."""
        year = self.scope.year if year is None else year
        cells = self.grid(year)
        if by is None:
            if year not in self._held:
                self._held[year] = _held(Scope(region=self.scope.region, year=year))
            return {None: _total([*cells.values(), self._held[year]])}
        return {key: _derive(counts) for key, counts in self._sums(by, year).items()}

    def _sums(self, by: str, year: int) -> dict:
        """The year's counts summed per sector / per region id (``by``), not derived: a key for
        every group with a cell, zero or not."""
        index = 0 if by == "sector" else 1
        groups: dict = {}
        for key, row in self.grid(year).items():
            _add(groups.setdefault(key[index], {}), row)
        return groups

    def summary(self) -> list[dict]:
        now = self.figures()[None]
        before = self.figures(year=self.scope.year - 1)[None]
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

    def by_sector(self, actor, *, with_coverage: bool = True) -> list[dict]:
        """Per sector; ``with_coverage=False`` leaves out the three systems' coverage (the
        overview page does not show it; the workbook's 分行业 sheet does)."""
        per = self.figures(by="sector")
        cov = {row["sector"]: row for row in self.coverage(actor)} if with_coverage else {}
        rows = []
        for sector in Sector:
            row = {"sector": sector.value, "label": str(sector.label), **_derive(per.get(sector.value, {}))}
            c = cov.get(sector.value, {})
            for topic in (*THREE_SYSTEMS, "all_three") if with_coverage else ():
                row[f"cov_{topic}"] = c.get(str(topic), 0)
                rate = c.get(f"{topic}_rate")
                row[f"cov_{topic}_rate"] = None if rate is None else rate / 100
            rows.append(row)
        return rows

    def by_region(self, *, include_own_office: bool = False) -> list[dict]:
        """Cities (or the scope's children) with their counties under them, each rolled up
        from the per-region aggregates, ranked by completion rate then hours compliance;
        with ``include_own_office``, a last unranked row for the scope region's own staff."""
        scope = self.scope
        own = self._sums("region", scope.year)  # each region's own staff
        regions = self.regions()
        children_of: dict[int, list[Region]] = {}
        for region in regions:
            children_of.setdefault(region.parent_id, []).append(region)
        # Counts summed up the tree (children before parents), rates derived only for the rows
        # shown: the roll-up of a few hundred cells, not a derived row per region and level.
        sums: dict[int, dict] = {}
        for region in reversed(regions):
            total = dict(own.get(region.pk, {}))
            for child in children_of.get(region.pk, []):
                _add(total, sums[child.pk])
            sums[region.pk] = total
        top = children_of.get(scope.region.pk) or [scope.region]
        totals = {r.pk: _derive(sums[r.pk]) for r in top}
        totals.update({r.pk: _derive(sums[r.pk]) for city in top for r in children_of.get(city.pk, [])})
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
            children = children_of.get(city.pk, [])
            if children and city.pk in own:
                rows.append({"region": city, "level": 1, "rank": None, "own_office": True, **_derive(own[city.pk])})
            for county in children:
                rows.append({"region": county, "level": 1, "rank": None, **totals[county.pk]})
        if include_own_office and scope.region.pk in own and top != [scope.region]:
            # The scope's own office (the province's or a city's staff) is in no city or county
            # below it: without this row a table's rows would not add up to the scope's totals.
            rows.append(
                {"region": scope.region, "level": 0, "rank": None, "own_office": True, **_derive(own[scope.region.pk])}
            )
        return rows


def figures(scope: Scope, by: str | None = None) -> dict:
    """All figures for the scope, or per sector / per region id (``by``)."""
    return Report(scope).figures(by)


def _derive(row: dict) -> dict:
    full = {key: row.get(key) or 0 for key, _l, _k in SUMMARY_FIGURES}
    full["hours"] = row.get("hours") or ZERO
    full["completion_rate"] = rules.completion_rate(full["completions"], full["person_times"])
    full["hours_met_rate"] = rules.hours_met_rate(full["hours_met"], full["inspectors"])
    full["pass_rate"] = exam_rules.pass_rate(full["passes"], full["candidates"])
    return full


def change(current, previous) -> float | None:
    """同比 as a fraction; None (shown blank with a note) when the previous year is zero."""
    if current is None or previous is None or not previous:
        return None
    return round((float(current) - float(previous)) / float(previous), 4)


@dataclass(frozen=True)
class YearOnYear:
    """同比 of one summary figure as the overview page and the 汇总 sheet show it.

    A count's change is relative (``value`` a fraction, rounded to what "+0.0%" shows: 2.0 is
    "+200.0%"); a rate's change is the difference in percentage points (``value`` in points,
    rounded to one place: 6.9 is "+6.9 个百分点"), never "+6.9%", which would read as a change
    relative to last year's rate. ``value`` is None when there is nothing to compare."""

    value: float | None
    points: bool
    previous_zero: bool = False

    def number(self) -> str:
        """The number as written: "+6.9", "-12.5%", "0.0%" (no sign on zero, as Excel shows it)."""
        if self.points:
            return "0.0" if self.value == 0 else f"{self.value:+.1f}"
        return "0.0%" if self.value == 0 else f"{self.value:+.1%}"

    def text(self) -> str:
        """ "+6.9 个百分点", "+500.0%", "上年为0" (a count against a zero year) or "—"."""
        if self.value is None:
            return gettext("上年为0") if self.previous_zero else "—"
        if self.points:
            return gettext("%(points)s 个百分点") % {"points": self.number()}
        return self.number()

    @property
    def direction(self) -> int:
        return 0 if not self.value else (1 if self.value > 0 else -1)


def year_on_year(row: dict) -> YearOnYear:
    """同比 of a ``Report.summary`` row: the one definition the page and the workbook use."""
    current, previous = row["current"], row["previous"]
    if row["kind"] == "pct":
        if current is None or previous is None:
            return YearOnYear(None, points=True)
        return YearOnYear(round((float(current) - float(previous)) * 100, 1), points=True)
    relative = change(current, previous)
    if relative is None:
        return YearOnYear(None, points=False, previous_zero=not previous)
    return YearOnYear(round(relative, 3), points=False)


def batch_unfinished(today: dt.date) -> Q:
    """A batch the overview lists under 进行中和即将开始 (“upcoming”): not finished, that is
    ending today or later and neither completed nor cancelled. A batch that started and is
    still running is in it (marked in progress); one completed today, or ended yesterday and
    not yet marked completed, is not."""
    return Q(ends_on__gte=today) & ~Q(status__in=(BatchStatus.COMPLETED, BatchStatus.CANCELLED))


# --- sheets ------------------------------------------------------------------------------------------


def summary(scope: Scope) -> list[dict]:
    return Report(scope).summary()


def by_sector(scope: Scope, actor) -> list[dict]:
    return Report(scope).by_sector(actor)


def by_region(scope: Scope, *, include_own_office: bool = False) -> list[dict]:
    return Report(scope).by_region(include_own_office=include_own_office)


def by_batch(scope: Scope):
    """One row per batch of the year with an enrollee in scope (counts of those enrollees)."""
    # One GROUP BY over the scope's enrollments (the filter comes before the counts, so they
    # count only the rows it kept). Neither DISTINCT over that join, which made every subquery
    # run once per enrollment (minutes at 100k), nor a subquery per count and batch.
    return (
        Batch.objects.filter(year=scope.year, enrollments__inspector__region__path__startswith=scope.path)
        .exclude(status=BatchStatus.CANCELLED)
        .select_related("course", "region")
        .annotate(
            n_enrolled=rules.person_times("enrollments__"),
            n_completed=rules.completions("enrollments__"),
            n_no_show=rules.no_shows("enrollments__"),
            n_waitlisted=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.WAITLISTED)),
        )
        .order_by("starts_on", "region__path", "number")
    )


def batch_exams(scope: Scope) -> dict[int, tuple[int, int]]:
    """{batch id: (sat, passed)} for the sittings of the year's batches, counting the
    scope's candidates only (a province batch's sitting has candidates from every city),
    each once per batch and exam (``exams.figures.candidate_counts``: a resit in a second
    sitting of the batch is the same candidate). One GROUP BY; a subquery per batch in
    ``by_batch`` cost a third of the export's queries."""
    results = Result.objects.filter(
        rules.in_year(scope.year, "sitting__"), inspector__region__path__startswith=scope.path
    )
    counts = exam_rules.candidate_counts(results, ("sitting__batch_id",))
    return {batch_id: (row["sat"], row["passed"]) for (batch_id,), row in counts.items()}


BATCH_COLUMNS = (
    "id",
    "year",
    "number",
    "course_id",
    "course__title",
    "sector",
    "region__name",
    "starts_on",
    "ends_on",
    "capacity",
    "n_enrolled",
    "n_completed",
    "n_no_show",
    "n_waitlisted",
)


def batch_rows(scope: Scope):
    """``by_batch`` as plain tuples (``BATCH_COLUMNS``): a stream of model instances with
    their course and region would hold megabytes in an export's read-ahead."""
    return by_batch(scope).values_list(*BATCH_COLUMNS)


def topic_label(course: Course) -> str:
    if course.covers_three_systems:
        return "三项制度（全部）"
    return "、".join(str(Topic(t).label) for t in course.topics)


def topic_labels() -> dict[int, str]:
    """{course id: its topics as the 分批次 sheet shows them}; courses are a few dozen."""
    return {course.pk: topic_label(course) for course in Course.objects.all()}


def hours_rows(scope: Scope, *, chunk: int = 2000):
    """Every inspector in scope with hours this year and required hours, ordered by region
    then name: tuples ``(name, national_id, region name, sector, status, hours, required)``
    read through a server-side cursor (``chunk`` rows at a time)."""
    people = (
        _inspectors(scope)
        .order_by()
        .annotate(
            region_name=F("region__name"),
            region_path=F("region__path"),
            req=required_hours_expression(year=scope.year),
        )
        .values("id", "name", "national_id", "region_name", "region_path", "sector", "status", "req")
    )
    joined, params = _join_hours(people, scope)
    columns = "p.name, p.national_id, p.region_name, p.sector, p.status, COALESCE(h.h, 0), p.req"
    sql = f"SELECT {columns} FROM {joined} ORDER BY p.region_path, p.name, p.id"  # noqa: S608
    with connections[people.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


def detail_rows(scope: Scope):
    """Every enrollment of the year of inspectors in scope (all statuses)."""
    return (
        Enrollment.objects.filter(rules.in_year(scope.year), inspector__region__path__startswith=scope.path)
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


def subtree(scope: Scope, regions: list[Region] | None = None) -> dict[int, Region]:
    """{id: region} of the scope region and everything under it: ``regions`` when the caller
    has read them already (``Report.regions()``: the overview reads them once for every
    section), else read now."""
    if regions is None:
        regions = Region.objects.filter(path__startswith=scope.path).only("id", "code", "name", "path", "parent")
    return {r.pk: r for r in regions}


# --- certificate applications, annual review, cards printed (issue 14) ------------------------------
#
# Small counts (a GROUP BY each over the year's applications and card events, and the annual
# review's own selector), shown by the workbook's 证件办理 sheets (counted now) and the overview
# (as stored by its refresh for the whole tree: ``reports.services.overview_figures_refresh``).
# Each figure is defined once here; the refresh stores what these functions count, and the
# functions roll the stored counts up exactly as fresh ones.


def sees_whole_scope(actor, scope: Scope) -> bool:
    """The actor may see everything in the scope's subtree (an admin over its region): then
    what is counted for the whole tree, limited to the scope, is exactly what the actor sees,
    and stored counts may stand for the actor's. Anyone else is counted afresh, as they see."""
    seen = access.scope_for(actor)
    return seen.is_admin and seen.covers_path(scope.path)


def application_counts_by_region(scope: Scope, actor) -> dict[int, dict[str, dict[str, int]]]:
    """{applying region id: {kind: {state: n}}}: the applications the actor sees in the scope's
    subtree, made in the scope's year. One GROUP BY; what the overview's refresh stores per
    region (read as one who sees the whole tree)."""
    from exams.selectors import application_list

    counts = (
        application_list(actor=actor, filters={"region": scope.region.code})
        .filter(created_at__year=scope.year)
        .order_by()
        .values_list("region_id", "kind", "state")
        .annotate(n=Count("id"))
    )
    out: dict[int, dict[str, dict[str, int]]] = {}
    for region_id, kind, state, n in counts:
        out.setdefault(region_id, {}).setdefault(kind, {})[state] = n
    return out


def applications_by_kind_state(scope: Scope, actor, counts: dict[int, dict] | None = None) -> list[dict]:
    """申请 per kind and state: those the actor sees in the scope's subtree (the applying
    region), made in the year; a row per kind (every kind, zero included) with a count per
    state and its total, then the 合计 row (``kind`` None). From the regions' counts
    (``application_counts_by_region``, one GROUP BY); ``counts``: as stored for the regions of
    the scope's subtree, used when the actor sees the whole scope (``sees_whole_scope``)."""
    from exams.models import ApplicationKind, ApplicationState

    if counts is None or not sees_whole_scope(actor, scope):
        counts = application_counts_by_region(scope, actor)
    by_kind: dict[str, dict[str, int]] = {}
    for kinds in counts.values():
        for kind, states in kinds.items():
            for state, n in states.items():
                by_kind.setdefault(kind, {})[state] = by_kind.get(kind, {}).get(state, 0) + n
    rows = []
    for kind in ApplicationKind:
        states = by_kind.get(kind.value, {})
        row = {
            "kind": kind.value,
            "label": str(kind.label),
            **{s.value: states.get(s.value, 0) for s in ApplicationState},
        }
        row["total"] = sum(states.values())
        rows.append(row)
    total = {"kind": None, "label": gettext("合计")}
    for key in (*ApplicationState.values, "total"):
        total[key] = sum(row[key] for row in rows)
    return [*rows, total]


def annual_review_by_city(
    scope: Scope,
    actor,
    today: dt.date | None = None,
    progress: list[dict] | None = None,
    regions: list[Region] | None = None,
) -> list[dict]:
    """年审 of the scope's year per city (``exams.selectors.annual_review_progress``: due,
    applied, approved, returned, pending, overdue, colour), the cities in the scope (the
    province's own inspectors as the province's row). A county's scope has no city row.
    ``progress``: the selector's rows as stored for the whole tree on ``today`` (overdue and
    colour are of that day), used when the actor sees the whole scope (``sees_whole_scope``);
    ``regions``: see ``subtree``."""
    from exams.selectors import annual_review_progress

    if progress is None or not sees_whole_scope(actor, scope):
        progress = annual_review_progress(actor=actor, year=scope.year, today=today)
    inside = {region.code for region in subtree(scope, regions).values()}
    return [row for row in progress if row["region"] in inside]


def card_counts_by_region(scope: Scope) -> dict[int, int]:
    """{holder's region id: 执法证 cards printed in the year} (certificate events
    ``card_printed``) for holders in the scope: one GROUP BY on the holder's region id (the whole tree needs no
    region filter, nor its join). What the overview's refresh stores per region."""
    start = timezone.make_aware(dt.datetime(scope.year, 1, 1))
    end = timezone.make_aware(dt.datetime(scope.year + 1, 1, 1))
    events = CertificateEvent.objects.filter(kind=CertificateEvent.Kind.CARD_PRINTED, at__gte=start, at__lt=end)
    if scope.region.parent_id is not None:
        events = events.filter(certificate__holder__region__path__startswith=scope.path)
    return dict(events.order_by().values_list("certificate__holder__region_id").annotate(n=Count("id")))


def cards_printed_by_region(
    scope: Scope, counts: dict[int, int] | None = None, regions: list[Region] | None = None
) -> list[dict]:
    """执法证 cards printed in the year for holders in the scope (``card_counts_by_region``;
    ``counts``: as stored by the overview's refresh), per region one level down (a city's
    counties, the province's cities; the scope's own inspectors as ``本级``), every such region
    listed, then the 合计 row; rolled up the region tree here (``regions``: see ``subtree``)."""
    counts = card_counts_by_region(scope) if counts is None else counts
    regions = subtree(scope, regions)
    children = sorted((r for r in regions.values() if r.parent_id == scope.region.pk), key=lambda r: r.path)
    per_child = {child.pk: 0 for child in children}
    own = total = 0
    for region_id, n in counts.items():
        region = regions.get(region_id)
        if region is None:  # (a holder outside the scope's tree: not the scope's)
            continue
        total += n
        while region.pk != scope.region.pk and region.parent_id != scope.region.pk:
            region = regions[region.parent_id]
        if region.pk == scope.region.pk:
            own += n
        else:
            per_child[region.pk] += n
    rows = [{"region": child.code, "label": child.name, "cards": per_child[child.pk]} for child in children]
    if own:
        rows.insert(
            0, {"region": scope.region.code, "label": gettext("%(r)s本级") % {"r": scope.region.name}, "cards": own}
        )
    rows.append({"region": None, "label": gettext("合计"), "cards": total})
    return rows


# --- 评教 (training.evaluations) ------------------------------------------------------------------------
#
# Of the batches organised in the scope (the batch's region in the scope's subtree: a batch's
# evaluations belong to its organiser, as its administrators read them in the admin and the
# API), of the scope's year (the batch's year), over all their participants whatever their
# region. The counts are additive over batches and organising regions; the rates and means are
# derived from them (``training.evaluations.evaluation_figures``), never averaged.


def _organised(scope: Scope):
    """The enrollments of the year's batches organised in the scope."""
    qs = Enrollment.objects.filter(rules.in_year(scope.year))
    if scope.region.parent_id is not None:  # the whole tree needs no filter (nor its join)
        qs = qs.filter(batch__region__path__startswith=scope.path)
    return qs


def evaluation_counts_by_organiser(scope: Scope) -> dict[int, dict]:
    """{organising region id: additive 评教 counts} for the scope's year, each region its own
    batches (not those below it): what the overview's refresh stores per region. One GROUP BY."""
    counts = evaluation_counts(_organised(scope), by="batch__region_id")
    return {region_id: row for region_id, row in counts.items() if region_id is not None}


def evaluations_by_region(
    scope: Scope, own: dict[int, dict] | None = None, regions: list[Region] | None = None
) -> list[dict]:
    """评教 per region one level down (a city's counties, the province's cities; the scope's own
    batches as ``本级`` when it organised any), then the 合计 row (``region`` None), from each
    region's own counts (``evaluation_counts_by_organiser``; ``own``: as stored by the overview's
    refresh; ``regions``: see ``subtree``). Every row: {"region", "label", **evaluation_figures}."""
    own = evaluation_counts_by_organiser(scope) if own is None else own
    regions = subtree(scope, regions)
    children = sorted((r for r in regions.values() if r.parent_id == scope.region.pk), key=lambda r: r.path)
    per_child: dict[int, list[dict]] = {child.pk: [] for child in children}
    mine: list[dict] = []
    for region_id, counts in own.items():
        region = regions.get(region_id)
        if region is None:  # (stored for a region outside the scope: not summed)
            continue
        while region is not None and region.parent_id != scope.region.pk and region.pk != scope.region.pk:
            region = regions.get(region.parent_id)
        if region is None or region.pk == scope.region.pk:
            mine.append(counts)
        else:
            per_child[region.pk].append(counts)
    rows = [
        {"region": child.code, "label": child.name, **evaluation_figures(add_counts(per_child[child.pk]))}
        for child in children
    ]
    if any(c.get("completers") for c in mine):
        label = gettext("%(r)s本级") % {"r": scope.region.name}
        rows.insert(0, {"region": scope.region.code, "label": label, **evaluation_figures(add_counts(mine))})
    every = [c for counts in (*per_child.values(), mine) for c in counts]
    rows.append({"region": None, "label": gettext("合计"), **evaluation_figures(add_counts(every))})
    return rows


def evaluations_by_batch(scope: Scope) -> list[dict]:
    """评教 per batch of the year organised in the scope that has completers, by start date:
    {"batch": id, "label", "course", "organiser", "starts_on", "ends_on", **evaluation_figures}.
    One GROUP BY and one read of those batches."""
    counts = evaluation_counts(_organised(scope), by="batch_id")
    batches = Batch.objects.filter(pk__in=list(counts)).select_related("course", "region")
    return [
        {
            "batch": b.pk,
            "label": str(b.label),
            "course": b.course.title,
            "organiser": b.region.name,
            "starts_on": b.starts_on,
            "ends_on": b.ends_on,
            **evaluation_figures(counts[b.pk]),
        }
        for b in batches.order_by("starts_on", "region__path", "number")
    ]


def evaluations_by_course(scope: Scope) -> list[dict]:
    """评教 per course over the year's batches organised in the scope (those with completers),
    by course code, then the 合计 row (``course`` None): {"course", "code", "title", "batches",
    **evaluation_figures}. Two GROUP BYs."""
    enrollments = _organised(scope)
    counts = evaluation_counts(enrollments, by="batch__course_id")
    held = dict(
        enrollments.filter(rules.completed())
        .order_by()
        .values_list("batch__course_id")
        .annotate(n=Count("batch_id", distinct=True))
    )
    rows = [
        {
            "course": c.pk,
            "code": c.code,
            "title": c.title,
            "batches": held.get(c.pk, 0),
            **evaluation_figures(counts[c.pk]),
        }
        for c in Course.objects.filter(pk__in=list(counts)).order_by("code")
    ]
    total = {"course": None, "code": "", "title": gettext("合计"), "batches": sum(held.values())}
    rows.append({**total, **evaluation_figures(add_counts(counts.values()))})
    return rows
