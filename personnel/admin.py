from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from core.admin import ServiceFormMixin
from core.branding import PRODUCT_NAME
from core.text import plain_number
from core.uploads.base import mb

from . import access, photos, services
from .imports import COLUMNS, roster_import
from .models import Inspector, Region, RegionAdmin
from .selectors import inspector_list, region_list

# One product name for the header and the window titles (core/branding.py).
admin.site.site_header = admin.site.site_title = PRODUCT_NAME
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


def history_table(events, model=None, *, formats=None) -> str:
    """An object's event rows as a read-only table (time, event, changes old -> new, who):
    shown on its change page, written only by the services. With the ``model`` the
    changes are shown by the fields' labels, their choices' labels, numbers as people write
    them, and a foreign key by its object's name (one query per related model, whether the
    event kept its id or its ``code``). ``formats`` maps a field to a function of one value
    for what the model cannot say (e.g. a list of exam parts)."""
    events = list(events)
    if not events:
        return _("暂无记录")
    formats = formats or {}

    def model_field(name: str):
        try:
            return model._meta.get_field(name) if model is not None else None
        except FieldDoesNotExist:
            return None

    names = _related_names(events, model_field)

    def shown(name: str, value):
        if value is None or value == "":
            return "-"
        if name in formats:
            return formats[name](value)
        field = model_field(name)
        if field is None:
            return value
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        if field.many_to_one or field.one_to_one:
            return names.get((name, value), value)
        if isinstance(field, models.DecimalField):
            try:
                return plain_number(value)
            except (ArithmeticError, ValueError):
                return value
        if isinstance(field, models.BooleanField):
            return _("是") if value else _("否")
        return value

    def label(name: str) -> str:
        field = model_field(name)
        if field is None:
            return name
        verbose = getattr(field, "verbose_name", None) or field.related_model._meta.verbose_name_plural
        return str(verbose)

    def changes(event) -> str:
        parts = [
            f"{label(name)}: {shown(name, old)} → {shown(name, new)}"
            for name, (old, new) in (event.changes or {}).items()
            if old not in (None, "") or new not in (None, "")  # "- → -" (created empty) says nothing
        ]
        if getattr(event, "reason", ""):
            parts.append(event.reason)
        return "；".join(parts)

    rows = format_html_join(
        "",
        # time, event and who never wrap (a narrow column once showed one character a line)
        '<tr><td class="nowrap">{}</td><td class="nowrap">{}</td><td>{}</td><td class="nowrap">{}</td></tr>',
        (
            (localtime(e.at).strftime("%Y-%m-%d %H:%M"), e.get_kind_display(), changes(e), e.actor or "-")
            for e in events
        ),
    )
    return format_html(
        '<table class="history"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        _("时间"),
        _("事件"),
        _("变更（原值 → 新值）"),
        _("操作人"),
        rows,
    )


def _related_names(events, model_field) -> dict:
    """{(field, value kept by the event): the object's name} for the foreign keys the events
    changed: an int is a primary key, text a ``code`` where the related model has one."""
    wanted: dict[str, set] = {}
    for event in events:
        for name, pair in (event.changes or {}).items():
            field = model_field(name)
            if field is not None and (field.many_to_one or field.one_to_one) and isinstance(pair, list | tuple):
                wanted.setdefault(name, set()).update(v for v in pair if isinstance(v, int | str) and v != "")
    names: dict = {}
    for name, values in wanted.items():
        related = model_field(name).related_model
        ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
        codes = {v for v in values if isinstance(v, str)}
        has_code = any(f.name == "code" for f in related._meta.concrete_fields)
        if ids:
            names.update({(name, o.pk): str(o) for o in related._default_manager.filter(pk__in=ids)})
        if codes and has_code:
            names.update({(name, o.code): str(o) for o in related._default_manager.filter(code__in=codes)})
    return names


class HistoryMixin:
    """A read-only "history" field on the change page (not on the add page)."""

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "history"]
        return [*fields, "history"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "history"]

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        return history_table(obj.events.select_related("actor").order_by("at", "id"), self.model)


@admin.register(Region)
class RegionModelAdmin(HistoryMixin, ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
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
            data = {f: form.cleaned_data[f] for f in form.changed_data}
            saved = self.call_service(request, services.region_update, actor=request.user, region=obj, data=data)
        else:
            saved = self.call_service(
                request,
                services.region_create,
                code=obj.code,
                name=obj.name,
                level=obj.level,
                parent=obj.parent,
                actor=request.user,
            )
        obj.pk, obj.path, obj.depth = saved.pk, saved.path, saved.depth


class InspectorAdminForm(forms.ModelForm):
    photo_file = forms.FileField(
        label=_("上传照片"),
        required=False,
        help_text=_("JPEG 或 PNG，不超过 2 MB；自动裁成 3:4 证件照比例。"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )

    class Meta:
        model = Inspector
        fields = ["name", "national_id", "region", "sector", "position", "unit", "phone", "status", "hired_on", "user"]

    def validate_unique(self):
        # A taken ID number is the service's answer (services.national_id_held_refusal): the
        # form's own "already exists" would tell an admin of someone outside their scope.
        try:
            self.instance.validate_unique(exclude=self._get_validation_exclusions() | {"national_id"})
        except ValidationError as exc:
            self._update_errors(exc)

    def clean_photo_file(self):
        # The same check the service makes (personnel.photos), shown on the field; the
        # service still decides when saving.
        upload = self.cleaned_data.get("photo_file")
        if upload:
            if upload.size > photos.PHOTO_MAX_BYTES:
                raise ValidationError(_("照片文件过大（上限 %(n)s MB）") % {"n": mb(photos.PHOTO_MAX_BYTES)})
            data = upload.read()
            try:
                photos.photo_normalize(data)
            except photos.PhotoError as exc:
                raise ValidationError(exc.message) from None
            return data
        return None


class PhotoZipForm(forms.Form):
    file = forms.FileField(
        label=_("照片压缩包（.zip）"),
        help_text=_("压缩包内每张照片以身份证号命名，如 110101199003071234.jpg；JPEG 或 PNG，每张不超过 2 MB。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )


class RosterUploadForm(forms.Form):
    file = forms.FileField(label=_("名册文件（.xlsx、.xls 或 .csv）"))
    dry_run = forms.BooleanField(label=_("仅校验，不写入"), required=False)


@admin.register(Inspector)
class InspectorModelAdmin(HistoryMixin, ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = InspectorAdminForm
    list_display = ["name", "id_display", "region", "sector", "position", "status", "hired_on", "has_photo"]
    list_display_links = ["name"]  # the person's page: roster, history and their file (一人一档)
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
        # Masked in the list (a screen of 50 numbers is read over shoulders and printed); the
        # whole number is on the person's page, and searching by it still finds them.
        return obj.masked_national_id

    @admin.display(description=_("照片"), boolean=True, ordering="photo")
    def has_photo(self, obj):
        return bool(obj.photo)

    @admin.display(description=_("照片"))
    def photo_preview(self, obj):
        if obj is None or not obj.photo:
            return _("未上传")
        url = reverse("admin:personnel_inspector_photo", args=[obj.pk])
        return format_html(
            '<img src="{}?v={}" alt="{}" width="150" height="200">', url, obj.updated_at.timestamp(), obj.name
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "roster_import_url": reverse("admin:personnel_inspector_import"),
            "photos_import_url": reverse("admin:personnel_inspector_photos"),
        }
        return super().changelist_view(request, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # The ID number is the person: registered once, never edited here (the service refuses it).
        return [
            *super().get_readonly_fields(request, obj),
            *(["national_id", "photo_preview"] if obj is not None else []),
        ]

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f not in ("photo_file", "photo_preview")]
        at = fields.index("unit") + 1 if "unit" in fields else len(fields)
        photo = ["photo_preview", "photo_file"] if obj is not None else ["photo_file"]
        return [*fields[:at], *photo, *fields[at:]]

    def save_model(self, request, obj, form, change):
        # Both calls run in the admin's transaction: a refusal of the second undoes the first.
        if change:
            data = {f: form.cleaned_data[f] for f in form.changed_data if f not in ("user", "photo_file")}
            saved = self.call_service(request, services.inspector_update, actor=request.user, inspector=obj, data=data)
        else:
            data = {f: form.cleaned_data[f] for f in form.fields if f not in ("user", "photo_file")}
            saved = self.call_service(request, services.inspector_create, actor=request.user, **data)
        if form.cleaned_data.get("photo_file"):
            self.call_service(
                request,
                services.inspector_photo_set,
                actor=request.user,
                inspector=saved,
                data=form.cleaned_data["photo_file"],
            )
        if "user" in form.changed_data:
            self.call_service(
                request,
                services.inspector_link_user,
                inspector=saved,
                user=form.cleaned_data["user"],
                actor=request.user,
            )
        obj.pk = saved.pk

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="personnel_inspector_import",
            ),
            path("photos/", self.admin_site.admin_view(self.photos_view), name="personnel_inspector_photos"),
            path(
                "<int:object_id>/photo/",
                self.admin_site.admin_view(self.photo_file_view),
                name="personnel_inspector_photo",
            ),
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

    def photo_file_view(self, request, object_id):
        # Photos are personal data: served here to those who may see the inspector, never as
        # a public /media/ URL (docs/operations.md).
        inspector = self.get_queryset(request).filter(pk=object_id).first()
        if inspector is None or not inspector.photo:
            raise Http404
        try:
            handle = inspector.photo.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        response = FileResponse(handle, content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def photos_view(self, request):
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        result = None
        form = PhotoZipForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > photos.ZIP_MAX_BYTES:
                message = _("压缩包过大（上限 %(n)s MB）") % {"n": mb(photos.ZIP_MAX_BYTES)}
                result = services.PhotoImportResult(written=0, errors=[photos.ZipEntryError("", message)])
            else:
                result = services.inspector_photos_import(actor=request.user, data=upload.read())
            if result.ok:
                messages.success(request, _("已更新 %(n)d 人的照片。") % {"n": result.written})
                return redirect("admin:personnel_inspector_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("批量上传照片"),
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/personnel/inspector/photos.html", context)


@admin.register(RegionAdmin)
class RegionAdminModelAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = ["user", "region"]
    autocomplete_fields = ["region"]
    raw_id_fields = ["user"]

    def save_model(self, request, obj, form, change):
        # Through the service, which also lets the account into the admin (is_staff).
        binding = self.call_service(
            request, services.region_admin_assign, user=obj.user, region=obj.region, actor=request.user
        )
        obj.pk = binding.pk

    def delete_model(self, request, obj):
        services.region_admin_remove(binding=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for binding in queryset.select_related("user", "region"):
            services.region_admin_remove(binding=binding, actor=request.user)

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
