"""The reports admin: the export page (a form that queues an export job through
reports.services) and the read-only list of past jobs with download links.

Downloads go through the API's download endpoint (session auth), so the one access
rule in reports.selectors decides who gets the file: by the role held now.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.errors import AccessDenied, DomainError, ValidationFailed
from personnel import access
from personnel.admin import ScopedAdminMixin
from personnel.selectors import region_list

from . import services
from .models import ExportJob, ExportKind, ExportStatus
from .selectors import export_job_list

# The admin index gets a box linking to the export page and the overview page.
admin.site.index_template = "admin/reports/index.html"


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("类型"), choices=ExportKind.choices, initial=ExportKind.YEARLY_TOTALS)
    year = forms.IntegerField(label=_("年度"))
    region = forms.ChoiceField(label=_("地区"))
    include_detail = forms.BooleanField(
        label=_("含报名明细"),
        required=False,
        initial=True,
        help_text=_(
            "仅对年度统计汇总有效。范围很大（如全省）时建议不含明细，另选“报名明细（CSV）”导出明细："
            "CSV 没有行数上限，生成快得多，Excel 可直接打开。"
        ),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        regions = list(region_list(actor=actor).order_by("path"))
        top = min((r.depth for r in regions), default=0)
        self.fields["region"].choices = [(r.code, "　" * (r.depth - top) + f"{r.name}（{r.code}）") for r in regions]
        self.fields["year"].initial = timezone.localdate().year - 1  # the last closed year
        if regions:
            self.fields["region"].initial = services.default_region_for(actor=actor).code


# How often a job's page reloads while a job is queued or running.
REFRESH_SECONDS = 3
WORKING = (ExportStatus.QUEUED, ExportStatus.RUNNING)


def export_params_text(job: ExportJob) -> str:
    """A job's parameters in words: 年度 2025，范围 石家庄市（130100），类型 年度统计汇总，含报名明细."""
    params = job.params or {}
    parts = [
        _("年度 %(year)s") % {"year": params.get("year", "—")},
        _("范围 %(region)s（%(code)s）") % {"region": job.region.name, "code": job.region.code},
        _("类型 %(kind)s") % {"kind": job.get_kind_display()},
    ]
    if job.kind == ExportKind.YEARLY_TOTALS:
        parts.append(_("含报名明细") if params.get("include_detail", True) else _("不含报名明细"))
    return str(_("，")).join(str(part) for part in parts)


@admin.register(ExportJob)
class ExportJobAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "region",
        "year",
        "status",
        "progress_display",
        "requested_by",
        "created_at",
        "finished_at",
        "download_link",
    ]
    list_display_links = ["id"]
    list_filter = ["kind", "status"]
    list_select_related = ["region", "requested_by"]
    fields = [
        "kind",
        "params_display",
        "region",
        "requested_by",
        "status",
        "progress",
        "stage",
        "attempts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "download_link",
    ]
    readonly_fields = fields
    change_list_template = "admin/reports/exportjob/change_list.html"

    def get_queryset(self, request):
        return export_job_list(actor=request.user)

    # Jobs are made by the export page and run by the worker; the list is history.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("年度"))
    def year(self, obj):
        return obj.params.get("year", "")

    @admin.display(description=_("参数"))
    def params_display(self, obj):
        return export_params_text(obj)

    @admin.display(description=_("进度"), ordering="progress")
    def progress_display(self, obj):
        return f"{obj.progress}%"

    @admin.display(description=_("文件"))
    def download_link(self, obj):
        if obj.status == ExportStatus.DONE and obj.file:
            url = reverse("export-job-download", kwargs={"pk": obj.pk})
            return format_html('<a href="{}" class="export-download">{}</a>', url, _("下载"))
        if obj.status == ExportStatus.DONE:
            return _("已过保留期限，文件已清理")
        if obj.status == ExportStatus.FAILED:
            return _("生成失败")
        return "-"

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "export_url": reverse("admin:reports_exportjob_new")}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The job's page reloads every few seconds while the job is queued or running, and
        # stops once it is done (the download link is then on the page) or failed.
        job = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        working = job is not None and job.status in WORKING
        extra_context = {**(extra_context or {}), "refresh_seconds": REFRESH_SECONDS if working else None}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        urls = [path("new/", self.admin_site.admin_view(self.export_view), name="reports_exportjob_new")]
        return urls + super().get_urls()

    @staticmethod
    def _initial_from_query(request) -> tuple[dict, list[str]]:
        """The form's initial year, region and kind from ``?year=&region=&kind=`` (the
        overview's export link), validated and scoped by the service as a submission would
        be; a value that does not pass is left at its default, with a note saying why."""
        initial, notes = {}, []
        year, region = request.GET.get("year"), request.GET.get("region")
        kind = request.GET.get("kind")
        if kind in ExportKind.values:
            initial["kind"] = kind
        if year:
            try:
                initial["year"] = services.export_scope(actor=request.user, year=year).year
            except ValidationFailed as exc:
                notes.append(exc.detail)
        if region:
            try:
                scope = services.export_scope(actor=request.user, year=timezone.localdate().year, region_code=region)
            except ValidationFailed as exc:
                notes.append(exc.detail)
            else:
                initial["region"] = scope.region.code
        return initial, notes

    def export_view(self, request):
        """The export page: choose what, which year and which region; the job is queued and
        the admin is sent to its page, which follows the progress and then links the file."""
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        initial, notes = ({}, []) if request.method == "POST" else self._initial_from_query(request)
        form = ExportForm(request.POST or None, actor=request.user, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = services.export_job_create(
                    actor=request.user,
                    kind=data["kind"],
                    year=data["year"],
                    region_code=data["region"],
                    include_detail=data["include_detail"],
                )
            except AccessDenied as exc:
                raise PermissionDenied(exc.detail) from exc
            except DomainError as exc:
                placed = False
                for field, errors in exc.fields.items():
                    if field in form.fields:
                        form.add_error(field, errors)
                        placed = True
                if not placed:
                    form.add_error(None, exc.detail)
            else:
                job.refresh_from_db()
                messages.success(
                    request,
                    _("已提交导出任务 #%(id)d（%(name)s），生成完毕后可在本页下载。")
                    % {"id": job.pk, "name": job.filename},
                )
                # To the job's own page: it follows the progress and then offers the file.
                return redirect("admin:reports_exportjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("导出统计报表"),
            "form": form,
            "notes": notes,
        }
        return TemplateResponse(request, "admin/reports/exportjob/export.html", context)
