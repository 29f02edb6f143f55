"""The training admin: courses, batches (with their enrollments and workflow actions),
hours policies and a read-only enrollment log. Every write goes through a service;
a refusal becomes a message on the page, never a server error."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.admin import Refused, ServiceFormMixin, describe
from core.errors import DomainError, ValidationFailed
from personnel import access
from personnel.admin import HistoryMixin, RegionLevelFilter, ScopedAdminMixin, history_table
from personnel.models import Sector
from personnel.selectors import inspector_list, region_get_for_actor, region_list, scope_filter

from . import rules, selectors, services
from .admin_enrollments import enrollment_summary
from .admin_evaluations import EvaluationSummaryMixin, batch_evaluation_summary, course_evaluation_summary
from .admin_workflow import BatchWorkflowMixin
from .models import Batch, BatchStatus, Course, Enrollment, HoursPolicy, HoursPolicyEvent, Topic

# --- courses ------------------------------------------------------------------------------------


class ProvincialOnlyMixin:
    """Courses are shared by the whole province: every admin reads them, provincial admins edit."""

    def has_add_permission(self, request):
        return access.scope_for(request.user).kind == access.ALL

    def has_change_permission(self, request, obj=None):
        return access.scope_for(request.user).kind == access.ALL


@admin.register(Course)
class CourseAdmin(
    EvaluationSummaryMixin, HistoryMixin, ServiceFormMixin, ProvincialOnlyMixin, ScopedAdminMixin, admin.ModelAdmin
):
    list_display = [
        "code",
        "title",
        "covers_publicity",
        "covers_process_recording",
        "covers_legal_review",
        "covers_other",
        "hours",
        "delivery",
        "active",
    ]
    list_filter = [
        "covers_publicity",
        "covers_process_recording",
        "covers_legal_review",
        "covers_other",
        "active",
        "delivery",
    ]
    search_fields = ["code", "title"]
    fields = [
        "code",
        "title",
        ("covers_publicity", "covers_process_recording", "covers_legal_review", "covers_other"),
        "hours",
        "delivery",
        "description",
        "active",
    ]

    def get_queryset(self, request):
        return selectors.course_list(actor=request.user)

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ("code", "title", "hours", "delivery", "description", "active")}
        data["topics"] = [t.value for t in Topic if form.cleaned_data.get(f"covers_{t.value}")]
        saved = self.call_service(
            request, services.course_save, actor=request.user, course=obj if change else None, data=data
        )
        obj.pk = saved.pk

    @admin.display(description=_("评教"))
    def evaluation_summary(self, obj):
        # Of the course's batches organised in the viewer's region (EvaluationSummaryMixin).
        return course_evaluation_summary(obj, actor=obj.evaluation_viewer)


# --- batches ------------------------------------------------------------------------------------


class BatchRegionFilter(RegionLevelFilter):
    title = _("组织单位")


class BatchSectorFilter(admin.SimpleListFilter):
    title = _("面向行业")
    parameter_name = "sector"
    MIXED = "mixed"

    def lookups(self, request, model_admin):
        return [(self.MIXED, _("综合")), *Sector.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(sector="" if value == self.MIXED else value)


class EnrollmentInline(admin.TabularInline):
    """Adds one or a few enrollments through the enrollment service; shows none of the
    existing ones (a batch of 120 rendered 120 rows here). Above the empty rows: the counts
    by status and the link to the batch's enrollment list, where each is cancelled,
    replaced or moved."""

    model = Enrollment
    fields = ["inspector"]
    raw_id_fields = ["inspector"]
    extra = 1
    verbose_name = _("报名")
    verbose_name_plural = _("添加报名（填执法人员，保存后按名额报名或进入候补）")
    template = "admin/training/batch/enrollment_inline.html"

    def get_queryset(self, request):
        return Enrollment.objects.none()

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.summary = enrollment_summary(obj) if obj is not None and hasattr(obj, "enrolled_count") else None
        return formset

    def has_view_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    def has_add_permission(self, request, obj=None):
        return obj is not None and access.scope_for(request.user).is_admin

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "inspector":
            kwargs["queryset"] = inspector_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# The model's constraints report above the form; each is about one field, where it is said.
_CONSTRAINT_FIELD = {
    "batch_unique_number_per_region_year": "number",
    "batch_ends_after_start": "ends_on",
    "batch_capacity_positive": "capacity",
    "batch_deadline_before_end": "enrollment_deadline",
}


class BatchAdminForm(forms.ModelForm):
    class Meta:
        model = Batch
        fields = [
            "course",
            "year",
            "number",
            "sector",
            "region",
            "starts_on",
            "ends_on",
            "place",
            "capacity",
            "enrollment_deadline",
            "status",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service derives the year from the start date and takes the next free number.
        self.fields["year"].required = False
        self.fields["number"].required = False
        self.fields["year"].help_text = _("留空取开始日期所在年份")
        self.fields["number"].help_text = _("留空取本年度下一个批次号")
        # Only the moves the service would take (training.rules): a list offering moves that
        # are always refused only teaches people to guess.
        current = self.instance.status if self.instance.pk else None
        labels = dict(BatchStatus.choices)
        self.fields["status"].choices = [(s, labels[s]) for s in rules.batch_status_moves(current)]

    def _post_clean(self):
        super()._post_clean()
        general = self._errors.get(NON_FIELD_ERRORS) if self._errors else None
        if not general:
            return
        on_field = {
            str(c.violation_error_message): _CONSTRAINT_FIELD[c.name]
            for c in Batch._meta.constraints
            if c.name in _CONSTRAINT_FIELD
        }
        kept = []
        for error in general.as_data():
            field = next((on_field[m] for m in error.messages if m in on_field), None)
            if field in self.fields and field not in self._errors:
                self._errors[field] = self.error_class(error.messages, renderer=self.renderer)
                self.cleaned_data.pop(field, None)
            else:
                kept.append(error)
        if kept:
            self._errors[NON_FIELD_ERRORS] = self.error_class(kept, error_class="nonfield", renderer=self.renderer)
        else:
            del self._errors[NON_FIELD_ERRORS]


class BulkEnrollForm(forms.Form):
    sector = forms.ChoiceField(label=_("行业"), required=False)
    region = forms.ChoiceField(label=_("地区（含下级）"), required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sector"].choices = [("", _("按批次面向的行业")), *Sector.choices]
        regions = region_list(actor=actor).order_by("path")
        self.fields["region"].choices = [("", _("按批次组织单位"))] + [
            (r.code, ("　" * r.depth) + r.name) for r in regions
        ]


@admin.register(Batch)
class BatchAdmin(
    BatchWorkflowMixin, EvaluationSummaryMixin, HistoryMixin, ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin
):
    form = BatchAdminForm
    list_display = [
        "label_display",
        "course",
        "region",
        "sector_display",
        "starts_on",
        "ends_on",
        "capacity",
        "status",
        "enrolled_count",
        "waitlisted_count",
        "completed_count",
        "no_show_count",
        "cancelled_count",
    ]
    list_filter = ["year", "status", BatchSectorFilter, BatchRegionFilter]
    list_select_related = ["course", "region"]
    search_fields = ["course__title", "course__code", "place"]
    date_hierarchy = "starts_on"
    inlines = [EnrollmentInline]
    actions = ["open_enrollment", "close_enrollment", "complete_by_attendance", "cancel_batches", "bulk_enroll"]
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.batch_counts(selectors.batch_list(actor=request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("批次"), ordering="year")
    def label_display(self, obj):
        return obj.label

    @admin.display(description=_("评教"))
    def evaluation_summary(self, obj):
        return batch_evaluation_summary(obj)

    @admin.display(description=_("面向行业"), ordering="sector")
    def sector_display(self, obj):
        return obj.get_sector_display() if obj.sector else _("综合")

    @admin.display(description=_("已报名"), ordering="enrolled_count")
    def enrolled_count(self, obj):
        return obj.enrolled_count

    @admin.display(description=_("候补"), ordering="waitlisted_count")
    def waitlisted_count(self, obj):
        return obj.waitlisted_count

    @admin.display(description=_("已结业"), ordering="completed_count")
    def completed_count(self, obj):
        return obj.completed_count

    @admin.display(description=_("缺席"), ordering="no_show_count")
    def no_show_count(self, obj):
        return obj.no_show_count

    @admin.display(description=_("已取消"), ordering="cancelled_count")
    def cancelled_count(self, obj):
        return obj.cancelled_count

    def save_model(self, request, obj, form, change):
        if change:
            data = {f: form.cleaned_data[f] for f in form.changed_data if form.cleaned_data[f] is not None}
            saved = self.call_service(request, services.batch_update, actor=request.user, batch=obj, data=data)
        else:
            data = {f: v for f, v in form.cleaned_data.items() if v is not None}
            saved = self.call_service(request, services.batch_create, actor=request.user, data=data)
        obj.pk, obj.year, obj.number, obj.status = saved.pk, saved.year, saved.number, saved.status

    def save_formset(self, request, form, formset, change):
        if formset.model is not Enrollment:
            return super().save_formset(request, form, formset, change)
        # All or nothing: a refused row sends the whole page back with the rows as typed
        # and the reason above the form (the admin's transaction undoes the others).
        done, refused = [], []
        for row in formset.save(commit=False):
            try:
                enrollment = services.enrollment_create(
                    batch=form.instance, inspector=row.inspector, actor=request.user
                )
            except DomainError as exc:
                refused.append(f"{row.inspector.name}：{describe(exc)}")
            else:
                done.append(_("%(n)s：%(s)s") % {"n": row.inspector.name, "s": enrollment.get_status_display()})
        if refused:
            raise Refused() from ValidationFailed(_("报名未保存：") + "；".join(refused))
        for message in done:
            messages.success(request, message)
        return None

    # --- workflow actions: each batch on its own; a refusal is reported, the rest go on.

    def _each(self, request, queryset, verb, ok_message):
        done = 0
        for batch in queryset:
            try:
                verb(batch)
            except DomainError as exc:
                messages.error(request, f"{batch}：{describe(exc)}")
            else:
                done += 1
        if done:
            messages.success(request, ok_message % {"n": done})

    def _set_status(self, request, queryset, status, ok_message):
        def verb(batch):
            services.batch_update(actor=request.user, batch=batch, data={"status": status})

        self._each(request, queryset, verb, ok_message)

    @admin.action(description=_("开放报名"))
    def open_enrollment(self, request, queryset):
        self._set_status(request, queryset, BatchStatus.OPEN, _("已开放报名：%(n)d 个批次。"))

    @admin.action(description=_("截止报名"))
    def close_enrollment(self, request, queryset):
        self._set_status(request, queryset, BatchStatus.CLOSED, _("已截止报名：%(n)d 个批次。"))

    @admin.action(description=_("取消批次"))
    def cancel_batches(self, request, queryset):
        self._set_status(request, queryset, BatchStatus.CANCELLED, _("已取消：%(n)d 个批次（其报名一并取消）。"))

    @admin.action(description=_("结业（按考勤，先预览）"))
    def complete_by_attendance(self, request, queryset):
        # Never in one click: completion is shown first (who completes, who is a no-show,
        # whose waitlist place goes) and applied only when confirmed on that page.
        batches = list(queryset[:21])
        if len(batches) == 1:
            return HttpResponseRedirect(reverse("admin:training_batch_complete", args=[batches[0].pk]))
        links = format_html_join(
            "、",
            '<a href="{}">{}</a>',
            ((reverse("admin:training_batch_complete", args=[b.pk]), str(b)) for b in batches[:20]),
        )
        messages.warning(
            request,
            format_html(
                "{}{}",
                _("结业需要逐个批次预览并确认，未结业任何批次。请打开各批次的结业预览："),
                links,
            ),
        )
        return None

    @admin.action(description=_("批量报名（按行业与地区）"))
    def bulk_enroll(self, request, queryset):
        form = BulkEnrollForm(request.POST if "apply" in request.POST else None, actor=request.user)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("批量报名"),
                "form": form,
                "batches": queryset,
                "action": "bulk_enroll",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/training/batch/bulk_enroll.html", context)
        sector = form.cleaned_data["sector"] or None
        code = form.cleaned_data["region"]

        def verb(batch):
            region = region_get_for_actor(actor=request.user, code=code) if code else None
            outcomes = services.batch_bulk_enroll(batch=batch, actor=request.user, sector=sector, region=region)
            tally = {"enrolled": 0, "waitlisted": 0, "refused": 0}
            reasons: dict[str, int] = {}
            for o in outcomes:
                tally[o.status] = tally.get(o.status, 0) + 1
                if o.status == "refused":
                    reasons[o.detail] = reasons.get(o.detail, 0) + 1
            messages.info(
                request,
                _("%(b)s：报名 %(e)d 人，候补 %(w)d 人，未报名 %(r)d 人。")
                % {"b": str(batch), "e": tally["enrolled"], "w": tally["waitlisted"], "r": tally["refused"]},
            )
            for detail, n in list(reasons.items())[:10]:
                messages.warning(request, f"{batch}：{detail}" + (f"（{n} 人）" if n > 1 else ""))

        self._each(request, queryset, verb, _("批量报名完成：%(n)d 个批次。"))
        return None


# --- hours policies -----------------------------------------------------------------------------


class HoursPolicyForm(forms.ModelForm):
    class Meta:
        model = HoursPolicy
        fields = ["region", "year", "required_hours"]


@admin.register(HoursPolicy)
class HoursPolicyAdmin(HistoryMixin, ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = HoursPolicyForm
    list_display = ["region", "year", "required_hours", "updated_at"]
    list_filter = ["year"]
    list_select_related = ["region"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("region")
        q = scope_filter(actor=request.user, region_field="region")
        return qs if q is None else qs.filter(q)

    def get_readonly_fields(self, request, obj=None):
        # A policy belongs to one region and year; another region or year is another policy.
        return [*super().get_readonly_fields(request, obj), *(["region", "year"] if obj is not None else [])]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        saved = self.call_service(
            request,
            services.hours_policy_set,
            actor=request.user,
            region=obj.region,
            year=obj.year,
            required_hours=form.cleaned_data["required_hours"],
        )
        obj.pk = saved.pk

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        # By region and year: the figures set before a deletion belong to the same history.
        events = HoursPolicyEvent.objects.filter(region_id=obj.region_id, year=obj.year).select_related("actor")
        return history_table(events.order_by("at", "id"), HoursPolicy)

    # Deleting (superusers) goes through the service too: the event row keeps the figure removed.
    def delete_model(self, request, obj):
        services.hours_policy_delete(actor=request.user, policy=obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            services.hours_policy_delete(actor=request.user, policy=policy)
