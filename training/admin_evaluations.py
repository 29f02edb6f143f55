"""评教 in the admin: the evaluations, read-only and anonymous (no name, no enrollment), of the
batches organised in the admin's region; the figures on a batch's page and a course's page
(``training.evaluations``: the same counts the API, the overview and the workbook show)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from personnel.admin import RegionLevelFilter, ScopedAdminMixin
from personnel.selectors import region_list, scope_filter

from . import rules
from .evaluations import QUESTIONS, batch_evaluation_figures, evaluation_counts, evaluation_figures
from .models import Enrollment, Evaluation


def evaluation_list(*, actor) -> QuerySet[Evaluation]:
    """The evaluations the figures count (of completed enrollments) of batches organised in the
    actor's region and below: a batch's administrators read its evaluations."""
    qs = Evaluation.objects.filter(rules.completed("enrollment__")).select_related("batch__course", "batch__region")
    q = scope_filter(actor=actor, region_field="batch__region")
    return qs if q is None else qs.filter(q)


def _rate(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _mean(value) -> str:
    return "—" if value is None else f"{value:.2f}"


HEAD = (_("结业人数"), _("评价份数"), _("参评率"), *(label for _n, label in QUESTIONS), _("综合平均分"))


def figures_cells(figures: dict) -> list[str]:
    """A figures dict (``evaluation_figures``) as the cells of a row, in ``HEAD``'s order."""
    return [
        str(figures["completers"]),
        str(figures["evaluations"]),
        _rate(figures["response_rate"]),
        *(_mean(figures[name]) for name, _label in QUESTIONS),
        _mean(figures["overall"]),
    ]


def figures_table(rows: list[tuple[str, dict]], *, first: str) -> str:
    """Rows of (label, figures) as a small read-only table."""
    head = format_html_join("", "<th>{}</th>", ((h,) for h in (first, *HEAD)))
    body = format_html_join(
        "",
        "<tr><th>{}</th>{}</tr>",
        (
            (label, format_html_join("", "<td>{}</td>", ((c,) for c in figures_cells(figures))))
            for label, figures in rows
        ),
    )
    return format_html(
        '<table class="evaluation-figures"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
    )


class EvaluationSummaryMixin:
    """A read-only "评教" field on the change page (not on the add page), below the form."""

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "evaluation_summary"]
        return [*fields, "evaluation_summary"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # The summary's own scope needs the viewer; the admin is one instance for every
            # request, the object is this request's.
            obj.evaluation_viewer = request.user
        return [*super().get_readonly_fields(request, obj), "evaluation_summary"]


def batch_evaluation_summary(batch) -> str:
    """A batch's figures and a link to its evaluations (comments included)."""
    figures = batch_evaluation_figures(batch)
    link = reverse("admin:training_evaluation_changelist") + "?" + urlencode({"batch__id__exact": batch.pk})
    return format_html(
        '{}<p><a href="{}">{}</a></p>',
        figures_table([(_("本批次"), figures)], first=_("范围")),
        link,
        _("查看本批次的评价与意见（匿名）"),
    )


def course_evaluation_summary(course, *, actor) -> str:
    """A course's figures per year, over its batches organised in the actor's region."""
    enrollments = Enrollment.objects.filter(batch__course=course)
    q = scope_filter(actor=actor, region_field="batch__region")
    if q is not None:
        enrollments = enrollments.filter(q)
    per_year = evaluation_counts(enrollments, by="batch__year")
    if not any(c["completers"] for c in per_year.values()):
        return _("暂无结业学员。")
    rows = [(str(year), evaluation_figures(per_year[year])) for year in sorted(per_year, reverse=True)]
    link = reverse("admin:training_evaluation_changelist") + "?" + urlencode({"batch__course__id__exact": course.pk})
    return format_html(
        '{}<p><a href="{}">{}</a></p>', figures_table(rows, first=_("年度")), link, _("查看该课程的评价与意见（匿名）")
    )


class EvaluationRegionFilter(RegionLevelFilter):
    title = _("组织单位")

    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        region = region_list(actor=request.user).filter(code=code).first()
        return queryset.none() if region is None else queryset.filter(batch__region__path__startswith=region.path)


@admin.register(Evaluation)
class EvaluationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Read-only: an evaluation is given once by its participant (``/me/`` or the API) and never
    changed. Anonymous: no column or field says whose it is."""

    list_display = ["batch_label", "course", "organiser", "content", "trainer", "organisation", "comment", "given_on"]
    list_filter = ["batch__year", "batch__course", EvaluationRegionFilter]
    list_select_related = ["batch__course", "batch__region"]
    search_fields = ["comment"]
    fields = ["batch_name", "content", "trainer", "organisation", "comment", "given_on"]
    readonly_fields = fields
    list_per_page = 100
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        return evaluation_list(actor=request.user)

    def lookup_allowed(self, lookup, value, request=None):
        # The links from a batch's and a course's page.
        if lookup in ("batch__id__exact", "batch__course__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("批次"), ordering="batch__year")
    def batch_label(self, obj):
        return obj.batch.label

    @admin.display(description=_("批次"))
    def batch_name(self, obj):
        return obj.batch.display_name

    @admin.display(description=_("课程"), ordering="batch__course__title")
    def course(self, obj):
        return obj.batch.course.title

    @admin.display(description=_("组织单位"), ordering="batch__region__path")
    def organiser(self, obj):
        return obj.batch.region.name

    @admin.display(description=_("评价日期"), ordering="created_at")
    def given_on(self, obj):
        return timezone.localtime(obj.created_at).date()
