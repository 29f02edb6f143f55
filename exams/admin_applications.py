"""Certificate applications (申请) in the admin: the list with its filters and the annual
review progress per city above it, 批准 / 退回 (with a comment) for many at once, the apply
page for many inspectors at once (the inspector list's action "申请…", each one's eligibility
and refusals shown before anything is written), the approval chains and the annual review
windows, and the applications on the certificate's page. Imported at the end of exams/admin.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from personnel import access
from personnel.admin import RegionLevelFilter, ScopedAdminMixin
from personnel.models import Region, Sector
from personnel.selectors import inspector_list, region_list

from . import applications, selectors
from .admin import CertificateModelAdmin, ReadOnlyInlineMixin, _user_name
from .admin_dossier import InspectorDossierAdmin
from .models import (
    AnnualReviewWindow,
    ApplicationEvent,
    ApplicationKind,
    ApplicationReason,
    ApprovalChain,
    CertificateApplication,
)


class LevelFilter(admin.SimpleListFilter):
    title = _("当前审批层级")
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [*applications.APPROVAL_LEVEL_LABELS.items(), ("mine", _("待我审批"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(applications.awaiting_q(request.user))
        if value in applications.APPROVAL_LEVEL_LABELS:
            return queryset.filter(level=value)
        return queryset


class YearFilter(admin.SimpleListFilter):
    title = _("年审年度")
    parameter_name = "year"

    def lookups(self, request, model_admin):
        this = timezone.localdate().year
        return [(str(y), str(y)) for y in range(this, this - 5, -1)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(year=int(value)) if value and value.isdigit() else queryset


class ApplicationEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ApplicationEvent
    fields = ["at", "kind", "level_label", "comment", "actor_name"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description=_("审批层级"))
    def level_label(self, obj):
        return applications.level_label(obj.level) if obj.level else "-"

    @admin.display(description=_("操作人"))
    def actor_name(self, obj):
        return _user_name(obj.actor)


class ReturnForm(forms.Form):
    comment = forms.CharField(label=_("退回意见"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(CertificateApplication)
class CertificateApplicationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """证件申请: read-only rows; they move through 批准 / 退回 (the actions) alone."""

    list_display = [
        "id",
        "kind",
        "inspector_name",
        "region",
        "level_display",
        "state",
        "year",
        "created_at",
        "applicant",
    ]
    list_select_related = ["inspector", "region", "created_by"]
    list_filter = ["kind", "state", LevelFilter, RegionLevelFilter, YearFilter]
    search_fields = ["inspector__name", "certificate__number"]
    fields = [
        "kind",
        "state",
        "inspector",
        "certificate",
        "source_result",
        "region",
        "levels_display",
        "level_display",
        "year",
        "reason",
        "note",
        "new_region",
        "new_sector",
        "new_unit",
        "created_by",
        "created_at",
        "closed_at",
    ]
    readonly_fields = fields
    inlines = [ApplicationEventInline]
    actions = ["approve", "return_"]
    change_list_template = "admin/exams/certificateapplication/change_list.html"
    list_per_page = 100

    class Media:
        css = {"all": ["exams/applications.css"]}

    def get_queryset(self, request):
        return selectors.application_list(actor=request.user)

    def has_add_permission(self, request):
        return False  # the apply page (from the inspector list) creates them

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        if not access.scope_for(request.user).is_admin:
            return {}
        return super().get_actions(request)

    @admin.display(description=_("执法人员"), ordering="inspector__name")
    def inspector_name(self, obj):
        return obj.inspector.name

    @admin.display(description=_("当前审批层级"), ordering="level")
    def level_display(self, obj):
        return applications.level_label(obj.level) if obj.level else "-"

    @admin.display(description=_("审批层级"))
    def levels_display(self, obj):
        # The chain as the office reads it (县级 → 市级 → 省级), not its stored codes.
        return " → ".join(applications.level_label(level) for level in obj.level_list) or "-"

    @admin.display(description=_("申请人"))
    def applicant(self, obj):
        return _user_name(obj.created_by)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("apply/", view(self.apply_view), name="exams_certificateapplication_apply"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        if access.scope_for(request.user).is_admin:
            year = timezone.localdate().year
            context["review_year"] = year
            context["review_progress"] = selectors.annual_review_progress(actor=request.user, year=year)
        return super().changelist_view(request, context)

    # actions

    @admin.action(description=_("批准所选申请"))
    def approve(self, request, queryset):
        outcome = applications.applications_approve(actor=request.user, ids=list(queryset.values_list("pk", flat=True)))
        _report(request, outcome, gettext("已批准 %(n)d 件申请。"))

    @admin.action(description=_("退回所选申请…"))
    def return_(self, request, queryset):
        rows = list(queryset.select_related("inspector"))
        form = ReturnForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            outcome = applications.applications_return(
                actor=request.user, ids=[a.pk for a in rows], comment=form.cleaned_data["comment"]
            )
            _report(request, outcome, gettext("已退回 %(n)d 件申请。"))
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("退回申请"),
            "rows": rows,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/exams/certificateapplication/return.html", context)

    # the apply page

    def apply_view(self, request):
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        ids = [int(i) for i in data.getlist("ids") if str(i).isdigit()][:1000]
        people = list(inspector_list(actor=request.user).filter(pk__in=ids).order_by("region__path", "name", "id"))
        form = ApplyForm(data if "kind" in data else None, actor=request.user)
        answers, outcome = {}, None
        if form.is_valid() and people:
            options = form.options()
            try:
                if request.method == "POST" and "confirm" in request.POST:
                    outcome = applications.applications_create(
                        actor=request.user, kind=form.cleaned_data["kind"], inspectors=people, **options
                    )
                    _report(request, outcome, gettext("已提交 %(n)d 件申请。"), people=people)
                    if outcome.done:
                        return redirect("admin:exams_certificateapplication_changelist")
                options.pop("note", None)
                answers = applications.application_eligibility(
                    kind=form.cleaned_data["kind"], inspectors=people, **options
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
        rows = [(p, answers.get(p.pk)) for p in people]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("申请"),
            "form": form,
            "rows": rows,
            "ids": [p.pk for p in people],
            "eligible": sum(1 for _p, a in rows if a is not None and a.eligible),
            "checked": bool(answers),
        }
        return TemplateResponse(request, "admin/exams/certificateapplication/apply.html", context)


class ApplyForm(forms.Form):
    kind = forms.ChoiceField(label=_("申请类别"), choices=ApplicationKind.choices)
    year = forms.IntegerField(label=_("年审年度"), min_value=2000, max_value=2100, required=False)
    reason = forms.ChoiceField(label=_("事由"), choices=[("", "-"), *ApplicationReason.choices], required=False)
    new_region = forms.ModelChoiceField(label=_("变更后地区"), queryset=Region.objects.none(), required=False)
    new_sector = forms.ChoiceField(label=_("变更后行业"), choices=[("", "-"), *Sector.choices], required=False)
    new_unit = forms.CharField(label=_("变更后单位"), max_length=64, required=False)
    note = forms.CharField(label=_("说明"), max_length=300, required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_region"].queryset = region_list(actor=actor).order_by("path")

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            "year": data.get("year") or (timezone.localdate().year if data["kind"] == "review" else None),
            "reason": data.get("reason") or "",
            "note": data.get("note") or "",
            "new_region": data.get("new_region"),
            "new_sector": data.get("new_sector") or "",
            "new_unit": data.get("new_unit") or "",
        }


def _report(request, outcome: applications.Outcome, done_message: str, people=None) -> None:
    if outcome.done:
        messages.success(request, done_message % {"n": len(outcome.done)})
    names = {p.pk: p.name for p in people or []}
    for refused in outcome.refused:
        who = names.get(refused.key, f"#{refused.key}")
        messages.error(request, f"{who}：{refused.detail}")


@admin.register(ApprovalChain)
class ApprovalChainAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """审批流程 per kind: the province office's to set (an application keeps the chain it
    started with)."""

    list_display = ["kind", "levels"]
    list_editable = ["levels"]
    fields = ["kind", "levels"]

    def _province(self, request) -> bool:
        return access.scope_for(request.user).kind == access.ALL

    def has_add_permission(self, request):
        return self._province(request)

    def has_change_permission(self, request, obj=None):
        return self._province(request)


@admin.register(AnnualReviewWindow)
class AnnualReviewWindowAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """年审期限 per year (opens, deadline): the province office's to set."""

    list_display = ["year", "opens_on", "deadline"]
    fields = ["year", "opens_on", "deadline"]

    def _province(self, request) -> bool:
        return access.scope_for(request.user).kind == access.ALL

    def has_add_permission(self, request):
        return self._province(request)

    def has_change_permission(self, request, obj=None):
        return self._province(request)


# --- the certificate's page: the applications that changed it ------------------------------------


class CertificateApplicationInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = CertificateApplication
    fk_name = "certificate"
    verbose_name = _("申请")
    verbose_name_plural = _("申请记录")
    fields = ["link", "kind", "state", "created_at", "closed_at", "applicant"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    @admin.display(description=_("编号"))
    def link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:exams_certificateapplication_change", args=[obj.pk]), obj.pk
        )

    @admin.display(description=_("申请人"))
    def applicant(self, obj):
        return _user_name(obj.created_by)


CertificateModelAdmin.inlines = [*CertificateModelAdmin.inlines, CertificateApplicationInline]


# --- the inspector list's action ----------------------------------------------------------------


@admin.action(description=_("申请…"))
def apply_for_inspectors(modeladmin, request, queryset):
    """To the apply page with the selected inspectors (their eligibility is shown there)."""
    ids = list(queryset.values_list("pk", flat=True)[:1000])
    query = "&".join(f"ids={pk}" for pk in ids)
    return redirect(f"{reverse('admin:exams_certificateapplication_apply')}?{query}")


InspectorDossierAdmin.actions = [*(InspectorDossierAdmin.actions or []), apply_for_inspectors]
