from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from . import access, services
from .imports import COLUMNS, roster_import
from .models import Inspector, Region, RegionAdmin
from .selectors import inspector_list, region_list

admin.site.site_header = _("执法人员培训与持证管理")
admin.site.site_title = _("执法培训管理")
admin.site.index_title = _("管理首页")


class ScopedAdminMixin:
    """Admin access follows the role: admins of a region see its subtree, nobody else enters."""

    def has_module_permission(self, request):
        return access.scope_for(request.user).is_admin

    def has_view_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    def has_add_permission(self, request):
        return access.scope_for(request.user).is_admin

    def has_change_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class RegionLevelFilter(admin.SimpleListFilter):
    title = _("所属地区")
    parameter_name = "region_code"

    def value(self):
        # The code as typed reaches the database; PostgreSQL refuses a NUL in it (a 500).
        code = super().value()
        return code.replace("\x00", "") if code else code

    def lookups(self, request, model_admin):
        regions = region_list(actor=request.user).filter(level__in=["province", "city"]).order_by("path")
        return [(r.code, ("　" * r.depth) + r.name) for r in regions]

    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        region = region_list(actor=request.user).filter(code=code).first()
        if region is None:
            return queryset.none()
        return queryset.filter(region__path__startswith=region.path)


@admin.register(Region)
class RegionModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["indented_name", "code", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    ordering = ["path"]
    fields = ["code", "name", "level", "parent", "path"]
    readonly_fields = ["path"]
    list_per_page = 100

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return ("　" * obj.depth) + obj.name

    def get_queryset(self, request):
        return region_list(actor=request.user)

    def has_add_permission(self, request):
        return access.scope_for(request.user).kind == access.ALL

    def has_change_permission(self, request, obj=None):
        return access.scope_for(request.user).kind == access.ALL

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        try:
            created = services.region_create(
                code=obj.code, name=obj.name, level=obj.level, parent=obj.parent, actor=request.user
            )
        except DomainError as exc:
            raise PermissionDenied(exc.detail) from exc
        obj.pk = created.pk


class InspectorAdminForm(forms.ModelForm):
    class Meta:
        model = Inspector
        fields = ["name", "national_id", "region", "sector", "position", "phone", "status", "hired_on", "user"]


class RosterUploadForm(forms.Form):
    file = forms.FileField(label=_("名册文件（.xlsx、.xls 或 .csv）"))
    dry_run = forms.BooleanField(label=_("仅校验，不写入"), required=False)


@admin.register(Inspector)
class InspectorModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = InspectorAdminForm
    list_display = ["name", "id_display", "region", "sector", "position", "status", "hired_on"]
    list_filter = ["sector", "status", RegionLevelFilter]
    search_fields = ["name", "=national_id"]
    list_select_related = ["region"]
    autocomplete_fields = ["region"]
    raw_id_fields = ["user"]
    list_per_page = 50
    change_list_template = "admin/personnel/inspector/change_list.html"

    def get_queryset(self, request):
        return inspector_list(actor=request.user)

    def get_search_results(self, request, queryset, search_term):
        # An ID number is searched whole (case-insensitive X), a name by part.
        return super().get_search_results(request, queryset, search_term.strip().upper() or search_term)

    @admin.display(description=_("身份证号"), ordering="national_id")
    def id_display(self, obj):
        # The list is already limited to the admin's own subtree, and admins of an
        # inspector's region see the whole number; nobody else gets into the admin.
        return obj.national_id

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "roster_import_url": reverse("admin:personnel_inspector_import")}
        return super().changelist_view(request, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {f: form.cleaned_data[f] for f in form.changed_data if f not in ("national_id", "user")}
                saved = services.inspector_update(actor=request.user, inspector=obj, data=data)
                if "user" in form.changed_data:
                    services.inspector_link_user(inspector=saved, user=form.cleaned_data["user"])
            else:
                data = {f: form.cleaned_data[f] for f in form.fields if f != "user"}
                saved = services.inspector_create(actor=request.user, **data)
                if form.cleaned_data.get("user"):
                    services.inspector_link_user(inspector=saved, user=form.cleaned_data["user"])
        except DomainError as exc:
            raise PermissionDenied(exc.detail) from exc
        obj.pk = saved.pk

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="personnel_inspector_import",
            )
        ]
        return urls + super().get_urls()

    def import_view(self, request):
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        result = None
        form = RosterUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            result = roster_import(
                actor=request.user, data=upload.read(), filename=upload.name, dry_run=form.cleaned_data["dry_run"]
            )
            if result.ok and not result.dry_run:
                messages.success(
                    request,
                    _("导入完成：新增 %(c)d 人，更新 %(u)d 人，未变 %(n)d 人。")
                    % {"c": result.created, "u": result.updated, "n": result.unchanged},
                )
                return redirect("admin:personnel_inspector_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("导入执法人员名册"),
            "form": form,
            "result": result,
            "columns": COLUMNS,
        }
        return TemplateResponse(request, "admin/personnel/inspector/import.html", context)


@admin.register(RegionAdmin)
class RegionAdminModelAdmin(admin.ModelAdmin):
    list_display = ["user", "region"]
    autocomplete_fields = ["region"]
    raw_id_fields = ["user"]

    def save_model(self, request, obj, form, change):
        # Through the service, which also lets the account into the admin (is_staff).
        binding = services.region_admin_assign(user=obj.user, region=obj.region)
        obj.pk = binding.pk

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
