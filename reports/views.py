"""Pages of the reports app: the admins' overview of a year in their region, and the office's
lists (学时未达标名单, 三项制度未覆盖名单) as xlsx downloads.

The figures come from ``reports.figures`` (the same GROUP BY queries as the workbook), so
the page and the 汇总 sheet never disagree. Charts are inline SVG whose geometry is
computed here: no script, no outside service, nothing to download.
"""

from __future__ import annotations

import tempfile
import unicodedata
from dataclasses import dataclass
from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseBadRequest, HttpResponseNotFound
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.errors import ValidationFailed
from exams.selectors import certificate_list
from personnel import access
from personnel.selectors import region_list
from training.evaluations import QUESTIONS
from training.selectors import batch_counts, batch_list

from . import figures, selectors, services, xlsx
from .models import XLSX_TYPE

# The figures shown as cards at the top; every figure is in the table below them.
HEADLINE = (
    "person_times",
    "persons",
    "completion_rate",
    "hours",
    "hours_met_rate",
    "pass_rate",
    "certs_issued",
    "certs_valid_year_end",
)
EXPIRING_WITHIN_DAYS = services.OVERVIEW_EXPIRING_DAYS
EXPIRING_SHOWN = 20
UPCOMING_SHOWN = 10
YEARS_OFFERED = 6


def admins_only(view):
    """For staff holding an admin role now (access follows the role held, not the one held
    when a link was made): anonymous visitors go to the admin login, anyone else gets 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (user.is_staff and access.scope_for(user).is_admin):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


@never_cache
@require_safe
@admins_only
def overview(request):
    """Key figures of a year against the previous one, by sector and by city, with the
    certificates about to expire and the batches not yet finished, for an admin's region."""
    user = request.user
    today = timezone.localdate()
    default_year = today.year - 1
    year_error = None
    try:
        scope = services.export_scope(
            actor=user, year=request.GET.get("year") or default_year, region_code=request.GET.get("region") or None
        )
    except ValidationFailed as exc:
        if "region" in exc.fields:
            # The same answer for "no such region" and "not yours".
            raise Http404 from None
        year_error = exc.detail
        try:
            scope = services.export_scope(actor=user, year=default_year, region_code=request.GET.get("region") or None)
        except ValidationFailed:
            # A bad year and a bad region at once: the region's answer (it was a 500)
            raise Http404 from None

    # The stored figures (refreshed every few minutes), summed for the scope; a year not
    # stored yet from scratch. Missing or stale ones are asked for again (after commit).
    overview = selectors.overview_report(scope=scope)
    for stale_year in overview.refresh:
        services.overview_refresh_request(year=stale_year)
    report = overview.report
    summary = report.summary()
    sectors = report.by_sector(user, with_coverage=False)
    cities = [row for row in report.by_region() if row["level"] == 0]

    region = scope.region
    subtree = report.regions()  # (read once: the rows above and the sections below)
    expiring = certificate_list(
        actor=user, filters={"expiring_within": EXPIRING_WITHIN_DAYS, "region": region.code}, today=today
    ).order_by("valid_until", "number")
    upcoming = (
        batch_counts(batch_list(actor=user, filters={"region": region}))
        .filter(figures.batch_unfinished(today))
        .order_by("starts_on", "region__path", "number")
    )
    expiring_shown = [{"certificate": c, "days_left": (c.valid_until - today).days} for c in expiring[:EXPIRING_SHOWN]]
    # How many in all: counted by the refresh with the figures when they are fresh (counting
    # them here joins every certificate in the window to its holder: a third of the page's time
    # at 1M enrollments), else now. Never fewer than the list shows.
    expiring_count = overview.expiring_count if overview.expiring_count is not None else expiring.count()
    expiring_count = max(expiring_count, len(expiring_shown))
    # When each certificate-work section's figures were computed: the year's refresh for a
    # stored one, now for one counted now.
    now = timezone.now()
    work_computed = {
        name: _when(timezone.localtime(overview.year_computed_at if stored is not None else now), today)
        for name, stored in (
            ("applications", overview.applications),
            ("cards_printed", overview.cards_printed),
            ("annual_review", overview.annual_review),
        )
    }

    context = {
        **admin.site.each_context(request),
        "title": _("统计概览"),
        "subtitle": _("%(region)s · %(year)s年") % {"region": region.name, "year": scope.year},
        "scope": scope,
        "region": region,
        "year": scope.year,
        "previous_year": scope.year - 1,
        "year_error": year_error,
        # 计算于 14:05 (a date before it when not today)
        "computed_at": _when(timezone.localtime(overview.computed_at), today),
        "figures_stale": overview.stale,
        "years": list(range(today.year, today.year - YEARS_OFFERED, -1)),
        "regions": region_list(actor=user).select_related(None).order_by("path").only("code", "name", "depth"),
        "headline": [_display(row) for row in summary if row["key"] in HEADLINE],
        "summary": [_display(row) for row in summary],
        "sector_chart": bar_chart(
            [(row["label"], (row["person_times"], row["hours_met_rate"])) for row in sectors],
            panels=(Panel(_("培训人次"), "int", "#417690"), Panel(_("学时达标率"), "pct", "#e0a030")),
            label=_("分行业培训人次与学时达标率"),
        ),
        "city_chart": bar_chart(
            [(row["region"].name, (row["completion_rate"], row["hours_met_rate"])) for row in cities],
            panels=(Panel(_("结业率"), "pct", "#417690"), Panel(_("学时达标率"), "pct", "#e0a030")),
            label=_("各地区结业率与学时达标率"),
        ),
        "cities": [
            {
                "rank": row["rank"],
                "name": row["region"].name,
                "inspectors": row["inspectors"],
                "hours_met": row["hours_met"],
                "hours_met_rate": fmt(row["hours_met_rate"], "pct"),
                "hours": fmt(row["hours"], "hours"),
                "completion_rate": fmt(row["completion_rate"], "pct"),
            }
            for row in cities
        ],
        "expiring": expiring_shown,
        "expiring_count": expiring_count,
        "expiring_within": EXPIRING_WITHIN_DAYS,
        "today": today,
        "upcoming": list(upcoming[:UPCOMING_SHOWN]),
        # (counted without the enrollment counts the listed rows carry: the same batches)
        "upcoming_count": batch_list(actor=user, filters={"region": region})
        .filter(figures.batch_unfinished(today))
        .count(),
        # Certificate work (issue 14), defined in reports.figures (the workbook's 证件办理 sheets
        # count the same now): the refresh's stored counts when there are, else counted now.
        "applications": figures.applications_by_kind_state(scope, user, overview.applications),
        "annual_review": [
            {**row, "deadline_text": DEADLINE_TEXT.get(row["colour"], "")}
            for row in figures.annual_review_by_city(
                scope, user, today=today, progress=overview.annual_review, regions=subtree
            )
        ],
        "cards_printed": figures.cards_printed_by_region(scope, overview.cards_printed, subtree),
        "work_computed": work_computed,
        # 评教 per organising region: the refresh's stored counts when there are (else counted now).
        "evaluations": [
            _evaluation_row(row) for row in figures.evaluations_by_region(scope, overview.evaluations, subtree)
        ],
        "evaluation_questions": QUESTIONS,
    }
    return render(request, "reports/overview.html", context)


def _evaluation_row(row: dict) -> dict:
    """A 评教 row as the page writes it: the rate as a percentage, the means to two places."""
    means = {key: "—" if row[key] is None else f"{row[key]:.2f}" for key in (*dict(QUESTIONS), "overall")}
    return {**row, **means, "response_rate": fmt(row["response_rate"], "pct")}


# The 年审 deadline's colour in words (the colour alone would say nothing to a screen reader).
DEADLINE_TEXT = {"amber": gettext_lazy("临近截止"), "red": gettext_lazy("已逾期")}


# --- the office's lists, as xlsx --------------------------------------------------------------------

# {name in the URL: (what it is called, the writer)}
LISTS = {
    "hours-shortfall": (gettext_lazy("学时未达标名单"), xlsx.hours_shortfall_workbook),
    "coverage-missing": (gettext_lazy("三项制度未覆盖名单"), xlsx.coverage_missing_workbook),
}


@never_cache
@require_safe
@admins_only
def lists(request):
    """The lists page: pick a year and a region of one's scope, download a list."""
    user = request.user
    today = timezone.localdate()
    default_year = today.year - 1
    try:
        scope = services.export_scope(
            actor=user, year=request.GET.get("year") or default_year, region_code=request.GET.get("region") or None
        )
    except ValidationFailed:
        scope = services.export_scope(actor=user, year=default_year)
    context = {
        **admin.site.each_context(request),
        "title": _("名单下载"),
        "year": scope.year,
        "region": scope.region,
        "years": list(range(today.year, today.year - YEARS_OFFERED, -1)),
        "regions": region_list(actor=user).select_related(None).order_by("path").only("code", "name", "depth"),
        "lists": [
            {"name": name, "label": label, "url": reverse("reports:list_download", args=[name])}
            for name, (label, _writer) in LISTS.items()
        ],
    }
    return render(request, "reports/lists.html", context)


@never_cache
@require_safe
@admins_only
def list_download(request, name: str):
    """One list as an xlsx file, for ``?year=&region=`` (default: last year, the admin's own
    region). A region that does not exist or is not the admin's: 404 with the reason (the
    same for both); a bad year: 400 with the reason."""
    if name not in LISTS:
        raise Http404
    label, write = LISTS[name]
    user = request.user
    try:
        scope = services.export_scope(
            actor=user,
            year=request.GET.get("year") or timezone.localdate().year - 1,
            region_code=request.GET.get("region") or None,
        )
    except ValidationFailed as exc:
        reason = HttpResponseNotFound if "region" in exc.fields else HttpResponseBadRequest
        return reason(exc.detail, content_type="text/plain; charset=utf-8")
    # Streamed to a temporary file (xlsxwriter in constant_memory: memory stays flat however
    # long the list), then sent from it; the file goes away when the response closes it.
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    try:
        write(handle, scope=scope, actor=user)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    filename = f"{scope.year}年{scope.region.name}{label}.xlsx"
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE)


# --- formatting ------------------------------------------------------------------------------------


def fmt(value, kind: str) -> str:
    """A figure as shown on the page: 1,234 · 1,234.5 · 12.3% · — (no data)."""
    if value is None:
        return "—"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "hours":
        return f"{float(value):,.1f}"
    return f"{value:,}"


def _when(moment, today) -> str:
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%Y-%m-%d %H:%M")


def _display(row: dict) -> dict:
    """A summary row with its figures formatted and the change (``figures.year_on_year``, as
    the workbook's 同比 column shows it) as text and direction."""
    yoy = figures.year_on_year(row)
    return {
        **row,
        "label": _(row["label"]),
        "current_display": fmt(row["current"], row["kind"]),
        "previous_display": fmt(row["previous"], row["kind"]),
        "change_display": yoy.text(),
        "trend": {0: "flat", 1: "up", -1: "down"}[yoy.direction],
    }


# --- charts: horizontal bars as inline SVG ---------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One measure of a chart: bars on their own scale (counts to the largest, rates to 100%)."""

    title: str
    kind: str
    color: str


LABEL_WIDTH = 104
PANEL_WIDTH = 320
VALUE_WIDTH = 68  # room for the figure printed after the longest bar
PANEL_GAP = 28
HEAD_HEIGHT = 30
ROW_HEIGHT = 30
BAR_HEIGHT = 16


def _text_width(text: str) -> int:
    """Pixels a label takes at the chart's 13px font, roughly: wide (CJK) characters 14,
    the others 8."""
    return sum(14 if unicodedata.east_asian_width(ch) in "WF" else 8 for ch in text)


def bar_chart(rows: list[tuple[str, tuple]], *, panels: tuple[Panel, ...], label: str) -> dict:
    """Geometry for ``reports/_bar_chart.html``: one row per category, one panel per measure."""
    # Room for the longest category name, right-aligned before the bars: five Chinese
    # characters fit LABEL_WIDTH; English names ("Hazardous chemicals") need more.
    label_width = max(LABEL_WIDTH, 16 + max((_text_width(name) for name, _values in rows), default=0))
    width = label_width + len(panels) * PANEL_WIDTH + (len(panels) - 1) * PANEL_GAP
    height = HEAD_HEIGHT + max(len(rows), 1) * ROW_HEIGHT + 8
    span = PANEL_WIDTH - VALUE_WIDTH
    out_panels = []
    for j, panel in enumerate(panels):
        largest = max((float(v[j]) for _name, v in rows if v[j] is not None), default=0.0)
        scale = 1.0 if panel.kind == "pct" else (largest or 1.0)
        x = label_width + j * (PANEL_WIDTH + PANEL_GAP)
        out_panels.append(
            {
                "title": panel.title,
                "color": panel.color,
                "x": x,
                "grid": [round(x + span * k / 4, 1) for k in range(5)],
                "scale": scale,
            }
        )
    out_rows = []
    for i, (name, values) in enumerate(rows):
        y = HEAD_HEIGHT + i * ROW_HEIGHT
        bars = []
        for panel, spec, value in zip(out_panels, panels, values, strict=True):
            length = 0.0 if value is None else round(span * min(float(value) / panel["scale"], 1.0), 1)
            bars.append(
                {
                    "x": panel["x"],
                    "y": y + (ROW_HEIGHT - BAR_HEIGHT) / 2,
                    "width": length,
                    "color": panel["color"],
                    "text": fmt(value, spec.kind),
                    "text_x": round(panel["x"] + length + 6, 1),
                    "title": _("%(name)s · %(measure)s：%(value)s")
                    % {"name": name, "measure": spec.title, "value": fmt(value, spec.kind)},
                }
            )
        out_rows.append({"label": name, "text_y": y + ROW_HEIGHT / 2 + 5, "bars": bars})
    return {
        "label": label,
        "width": width,
        "height": height,
        "bar_height": BAR_HEIGHT,
        "label_x": label_width - 10,
        "head_y": HEAD_HEIGHT - 12,
        "grid_top": HEAD_HEIGHT - 4,
        "grid_bottom": height - 6,
        "panels": out_panels,
        "rows": out_rows,
    }
