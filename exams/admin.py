"""The exams admin: exams with their parts, sittings with a score grid page and a score
import page, read-only results with their history, and certificates whose actions
(暂扣/恢复/吊销/收回/换发/年审) go through the one state machine in exams.services.

Every list is scoped by exams.selectors for the signed-in admin; every write goes to a
service, and a refusal is shown as a message, never as a server error.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core.admin import ServiceFormMixin, describe
from core.errors import DomainError, NotFound, ValidationFailed
from core.text import enumeration, name_with_points, plain_number
from personnel import access, idcard
from personnel.admin import RegionLevelFilter, ScopedAdminMixin, history_table
from personnel.selectors import can_see_full_national_id, region_list
from training.selectors import batch_list

from . import card, card_admin, online, rules, selectors, services
from .imports import (
    Entry,
    candidate_pool,
    expected_headers,
    grid_read,
    require_open_sitting,
    score_template,
    scores_import,
    scores_save,
)
from .models import (
    AttemptState,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Exam,
    ExamPart,
    Result,
    ResultChange,
    Sitting,
    SittingMode,
    SittingStatus,
)
from .online import ONLINE_FIELDS

try:  # the QR code of the public verify page, when that part of the app is installed
    from .qr import qr_svg, verify_url
except ImportError:  # pragma: no cover
    qr_svg = verify_url = None


class ReadOnlyInlineMixin:
    """Inlines of history: shown to the admins who see the parent, never edited."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- exams ----------------------------------------------------------------------------------


def _has_results(exam: Exam | None) -> bool:
    return exam is not None and exam.pk is not None and exam.results.exists()


class ExamPartFormSet(BaseInlineFormSet):
    """The paper rule (``exams.rules.exam_paper_refusal``, which the services apply too) shown
    next to the parts before saving."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if self.forms and "max_score" not in self.forms[0].fields:  # parts shown read-only: as saved
            parts = [(p.name, p.max_score) for p in ExamPart.objects.filter(exam=self.instance)]
        else:
            parts = [
                (f.cleaned_data["name"], f.cleaned_data["max_score"])
                for f in self.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("name")
            ]
        refusal = rules.exam_paper_refusal(parts=parts, pass_mark=getattr(self.instance, "pass_mark", None))
        if refusal is not None:
            raise ValidationError(refusal.message)


def _parts_text(value) -> str:
    """An exam event's paper, [[name, full marks], ...], as 通用法律知识 40、专门法律知识 60."""
    try:
        return "、".join(f"{name} {plain_number(m)}" for name, m in value)
    except (TypeError, ValueError, ArithmeticError):
        return str(value)


def _history(events, model) -> str:
    """The audit rows of an exam or a sitting, oldest first, by the shared history table."""
    return history_table(events.select_related("actor").order_by("at", "id"), model, formats={"parts": _parts_text})


def _holder_link(inspector) -> str:
    """An inspector's name linking to their page (the dossier) in the admin."""
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:personnel_inspector_change", args=[inspector.pk]), inspector.name
    )


class PlainNumberInput(forms.NumberInput):
    """A score or mark typed in a form, shown as people write it (60, not 60.0)."""

    def format_value(self, value):
        if value in (None, ""):
            return None
        try:
            return plain_number(value)
        except (ArithmeticError, ValueError, TypeError):
            return super().format_value(value)


PLAIN_DECIMALS = {models.DecimalField: {"widget": PlainNumberInput(attrs={"step": "0.1"})}}


class ExamPartInline(admin.TabularInline):
    model = ExamPart
    formset = ExamPartFormSet
    fields = ["name", "max_score", "order"]
    formfield_overrides = PLAIN_DECIMALS
    extra = 0
    min_num = 1

    def get_fields(self, request, obj=None):
        # shown read-only once scores exist: full marks as people write them
        return ["name", "max_score_plain", "order"] if _has_results(obj) else list(self.fields)

    def get_readonly_fields(self, request, obj=None):
        return ["max_score_plain"]

    @admin.display(description=_("满分"))
    def max_score_plain(self, obj):
        return plain_number(obj.max_score) if obj.max_score is not None else "-"

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def has_view_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    # Once scores are recorded the paper is fixed: its parts are shown, not edited.
    def has_add_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin and not _has_results(obj)

    def has_change_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin and not _has_results(obj)

    def has_delete_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin and not _has_results(obj)


@admin.register(Exam)
class ExamModelAdmin(ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "region", "course", "parts_display", "pass_mark_display", "max_attempts"]
    list_filter = ["kind"]
    search_fields = ["title"]
    fields = ["title", "kind", "course", "region", "pass_mark", "max_attempts"]
    formfield_overrides = PLAIN_DECIMALS
    inlines = [ExamPartInline]
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.exam_list(actor=request.user)

    @admin.display(description=_("科目（满分）"))
    def parts_display(self, obj):
        return enumeration(name_with_points(p.name, p.max_score) for p in obj.parts.all())

    @admin.display(description=_("及格分"), ordering="pass_mark")
    def pass_mark_display(self, obj):
        return plain_number(obj.pass_mark)

    def get_fields(self, request, obj=None):
        return [*self.fields, "history"] if obj is not None else list(self.fields)

    def get_readonly_fields(self, request, obj=None):
        if _has_results(obj):
            return ["kind", "course", "region", "history"]
        return ["history"]

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        return _history(obj.events.filter(sitting=None), Exam)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        pass  # the exam is written with its parts in save_related, through the services

    def save_related(self, request, form, formsets, change):
        parts_formset = next((f for f in formsets if f.model is ExamPart), None)
        parts = None
        if parts_formset is not None and parts_formset.forms and "max_score" in parts_formset.forms[0].fields:
            parts = [
                (f.cleaned_data["name"], f.cleaned_data["max_score"])
                for f in sorted(parts_formset.forms, key=lambda f: f.cleaned_data.get("order") or 0)
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("name")
            ]
        data = form.cleaned_data
        if change:
            values = {name: data[name] for name in services.EXAM_FIELDS if name in data}
            exam = self.call_service(
                request, services.exam_update, exam=form.instance, actor=request.user, parts=parts, **values
            )
        else:
            exam = self.call_service(
                request,
                services.exam_create,
                actor=request.user,
                title=data["title"],
                kind=data["kind"],
                region=data["region"],
                parts=parts or [],
                course=data.get("course"),
                pass_mark=data["pass_mark"],
                max_attempts=data["max_attempts"],
            )
        form.instance.pk = exam.pk
        form.instance._state.adding = False
        for formset in formsets:  # saved by the service, nothing left for the change message
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


# --- sittings, the score grid and the score import ------------------------------------------


class ScoreUploadForm(forms.Form):
    file = forms.FileField(label=_("成绩文件（.xlsx 或 .csv）"))
    dry_run = forms.BooleanField(label=_("仅校验，不写入"), required=False)


NEW_ROWS = 5  # blank rows on the grid of a sitting without a batch, for candidates not yet listed
ONLINE_HELP = {
    "mode": _(
        "在线考试：考生在开考时间与截止时间之间用手机答题，试卷按本考试的组卷规则从题库随机抽取，"
        "交卷或到时后自动评分，成绩与录入的成绩同样计入考试次数、及格判定和发证。"
    ),
    "opens_at": _("在线考试：此时刻起考生可以开始答题。"),
    "closes_at": _("在线考试：此时刻后不能再开始答题；正在答题的考生最迟在此时刻交卷。"),
    "duration_minutes": _(
        "在线考试：每位考生从开始答题起的答题时长；截止时间先到则以截止时间为准。考生开始答题后不能再修改。"
    ),
    "score_shown": _("在线考试：考生何时能看到自己的分数。"),
}
KEPT_IF_BLANK = ("mode", "score_shown")  # choices with a default: left out, left as they are
ONLINE_ATTEMPTS_SHOWN = 200  # attempts listed on an online sitting's page (the counts cover all)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%m-%d %H:%M")


@admin.register(Sitting)
class SittingModelAdmin(ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
    # One line a sitting at 1366 px: exam and date in one column, the place cut short.
    list_display = ["sitting_display", "place_display", "batch", "status", "result_count", "score_links"]
    list_display_links = ["sitting_display"]
    list_select_related = ["exam", "batch__course", "batch__region"]  # the batch reads with both
    list_filter = ["status", "exam__kind"]
    search_fields = ["exam__title", "place"]
    date_hierarchy = "held_on"
    fields = ["exam", "held_on", "place", "batch", "status", *ONLINE_FIELDS]
    actions = ["start_grading", "confirm_scores", "reopen_grading", "cancel_sittings", "submit_overdue_attempts"]
    change_form_template = "admin/exams/sitting/change_form.html"
    change_list_template = "admin/exams/sitting/change_list.html"
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.sitting_list(actor=request.user).annotate(result_count=Count("results"))

    @admin.display(description=_("考试 · 日期"), ordering="held_on")
    def sitting_display(self, obj):
        return format_html('{}<br><span class="sitting-date">{}</span>', obj.exam.title, obj.held_on.isoformat())

    @admin.display(description=_("考点"), ordering="place")
    def place_display(self, obj):
        place = obj.place or "-"
        short = place if len(place) <= 14 else place[:13] + "…"
        return format_html('<span title="{}">{}</span>', place, short)

    @admin.display(description=_("成绩数"), ordering="result_count")
    def result_count(self, obj):
        return obj.result_count

    @admin.display(description=_("成绩"))
    def score_links(self, obj):
        return format_html(
            '<a href="{}">{}</a> | <a href="{}">{}</a>',
            reverse("admin:exams_sitting_grid", args=[obj.pk]),
            _("成绩录入"),
            reverse("admin:exams_sitting_import", args=[obj.pk]),
            _("导入成绩"),
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(self.fields)
        extra = ["online_attempts"] if obj.mode == SittingMode.ONLINE else []
        return [*self.fields, *extra, "history"]

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        return _history(obj.events.all(), Sitting)

    @admin.display(description=_("在线答卷"))
    def online_attempts(self, obj):
        """The sitting's attempts (read-only): state, start, hand-in and score, the first
        ONLINE_ATTEMPTS_SHOWN by name, with the counts of all."""
        attempts = online.sitting_attempts(sitting=obj)
        counts = dict(attempts.order_by().values_list("state").annotate(n=Count("id")))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    a.inspector.name,
                    a.get_state_display(),
                    _local(a.started_at),
                    _local(a.submitted_at) if a.submitted_at else "-",
                    a.get_submitted_by_display() or "-",
                    plain_number(a.score) if a.score is not None else "-",
                )
                for a in attempts[:ONLINE_ATTEMPTS_SHOWN]
            ),
        )
        summary = gettext("答题中 %(a)d 人，已交卷 %(s)d 人") % {
            "a": counts.get(AttemptState.ACTIVE, 0),
            "s": counts.get(AttemptState.SUBMITTED, 0),
        }
        head = format_html_join(
            "",
            "<th>{}</th>",
            (
                (h,)
                for h in (
                    gettext("考生"),
                    gettext("状态"),
                    gettext("开始"),
                    gettext("交卷"),
                    gettext("方式"),
                    gettext("得分"),
                )
            ),
        )
        return format_html("<p>{}</p><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", summary, head, rows)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["status"]
        readonly = ["exam", "batch", "history", "online_attempts"]
        if not self._next_statuses(obj):
            readonly.append("status")  # cancelled: nowhere to go
        if obj.results.exists():
            readonly.append("held_on")  # attempts are numbered in date order
        if obj.attempts.exists():
            readonly += ["mode", "duration_minutes"]  # the candidates' deadlines are fixed
        return readonly

    def _next_statuses(self, obj) -> list[str]:
        """The statuses the sitting may move to (``rules.sitting_status_moves``), cached per object."""
        if not hasattr(obj, "_next_statuses"):
            obj._next_statuses = rules.sitting_status_moves(status=obj.status, has_results=obj.results.exists())
        return obj._next_statuses

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs.setdefault("help_texts", ONLINE_HELP)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is None or "status" not in form_class.base_fields:
            return form_class
        # The status offers only the moves the rule allows from where the sitting is now.
        legal = {obj.status, *self._next_statuses(obj)}
        choices = [(value, label) for value, label in SittingStatus.choices if value in legal]

        class SittingStatusForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                self.fields["status"].choices = choices
                self.fields["status"].required = False  # left out: stays where it is

        SittingStatusForm.__name__ = form_class.__name__
        return SittingStatusForm

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in KEPT_IF_BLANK and field is not None:
            field.required = False  # left out of a form: the paper sitting it was stays so
        if field is not None and isinstance(field.widget, AdminSplitDateTime):
            # The field's label names the date box only: each box named by the field and its part
            # (axe's ``label`` on the time box otherwise).
            date_box, time_box = field.widget.widgets
            date_box.attrs["aria-label"] = format_lazy("{} {}", db_field.verbose_name, _("日期"))
            time_box.attrs["aria-label"] = format_lazy("{} {}", db_field.verbose_name, _("时间"))
        return field

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "exam":
            kwargs["queryset"] = selectors.exam_list(actor=request.user)
        if db_field.name == "batch":
            kwargs["queryset"] = batch_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            values = {
                name: data[name]
                for name in services.SITTING_FIELDS
                if name in data and not (name in KEPT_IF_BLANK and not data[name])
            }
            self.call_service(request, services.sitting_update, sitting=obj, actor=request.user, **values)
            if "status" in form.changed_data and data.get("status"):
                self.call_service(
                    request, services.sitting_set_status, sitting=obj, actor=request.user, status=data["status"]
                )
            return
        sitting = self.call_service(
            request,
            services.sitting_create,
            actor=request.user,
            exam=data["exam"],
            held_on=data["held_on"],
            place=data.get("place") or "",
            batch=data.get("batch"),
            **{name: data[name] for name in ONLINE_FIELDS if data.get(name) not in (None, "")},
        )
        obj.pk = sitting.pk
        obj._state.adding = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if str(object_id).isdigit():  # else no sitting: the admin's "does not exist" redirect, not a 500
            extra_context |= {
                "grid_url": reverse("admin:exams_sitting_grid", args=[object_id]),
                "import_url": reverse("admin:exams_sitting_import", args=[object_id]),
                "template_url": reverse("admin:exams_sitting_template", args=[object_id]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    # actions: the sitting's status through the service

    def _set_status(self, request, queryset, status):
        done = 0
        for sitting in queryset:
            try:
                services.sitting_set_status(actor=request.user, sitting=sitting, status=status)
                done += 1
            except DomainError as exc:
                messages.error(request, f"{sitting}：{describe(exc)}")
        if done:
            messages.success(request, gettext("已更新 %(n)d 个场次。") % {"n": done})

    @admin.action(description=_("开始录入成绩"))
    def start_grading(self, request, queryset):
        self._set_status(request, queryset, SittingStatus.GRADING)

    @admin.action(description=_("确认成绩（不再修改）"))
    def confirm_scores(self, request, queryset):
        self._set_status(request, queryset, SittingStatus.CLOSED)

    @admin.action(description=_("重新开放录入"))
    def reopen_grading(self, request, queryset):
        self._set_status(request, queryset, SittingStatus.GRADING)

    @admin.action(description=_("取消场次"))
    def cancel_sittings(self, request, queryset):
        self._set_status(request, queryset, SittingStatus.CANCELLED)

    @admin.action(description=_("提交已超时的在线答卷"))
    def submit_overdue_attempts(self, request, queryset):
        """What the minute's beat task does, now, for these sittings (exams.online.attempts_sweep)."""
        done = online.attempts_sweep(sitting_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, gettext("已提交 %(n)d 份超时答卷。") % {"n": done})

    # the two score pages

    def get_urls(self):
        urls = [
            path("<int:object_id>/grid/", self.admin_site.admin_view(self.grid_view), name="exams_sitting_grid"),
            path("<int:object_id>/import/", self.admin_site.admin_view(self.import_view), name="exams_sitting_import"),
            path(
                "<int:object_id>/template.xlsx",
                self.admin_site.admin_view(self.template_view),
                name="exams_sitting_template",
            ),
        ]
        return urls + super().get_urls()

    def _sitting(self, request, object_id) -> Sitting:
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        try:
            return selectors.sitting_get_for_actor(actor=request.user, sitting_id=object_id)
        except NotFound:
            raise Http404 from None

    def _page(self, request, sitting, title, **context):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": sitting,
            "sitting": sitting,
            "title": title,
            "grid_url": reverse("admin:exams_sitting_grid", args=[sitting.pk]),
            "import_url": reverse("admin:exams_sitting_import", args=[sitting.pk]),
            "template_url": reverse("admin:exams_sitting_template", args=[sitting.pk]),
            "change_url": reverse("admin:exams_sitting_change", args=[sitting.pk]),
            **context,
        }

    def grid_view(self, request, object_id):
        """成绩录入: one row per candidate, an input per part and a 缺考 box. On POST every
        row is checked; any error is shown next to its row and nothing is written."""
        sitting = self._sitting(request, object_id)
        parts, candidates = grid_read(sitting=sitting, actor=request.user)
        try:
            require_open_sitting(sitting=sitting, actor=request.user)
            editable, closed_reason = True, ""
        except DomainError as exc:
            editable, closed_reason = False, exc.detail
        new_rows = NEW_ROWS if editable and not sitting.batch_id else 0
        rows = [_grid_row_from_result(request.user, parts, c.inspector, c.result) for c in candidates]
        rows += [_blank_new_row(parts, k) for k in range(new_rows)]
        refused = ""

        if request.method == "POST" and editable:
            for row in rows:
                _read_posted(row, parts, request.POST)
            entries, entry_rows = _entries(request.user, sitting, parts, rows)
            outcome = None
            try:
                outcome = scores_save(sitting=sitting, actor=request.user, entries=entries, source="grid")
            except DomainError as exc:
                messages.error(request, describe(exc))
            if outcome is not None and outcome.ok:
                messages.success(
                    request,
                    gettext("成绩已保存：新增 %(c)d 条，修改 %(u)d 条，未变 %(n)d 条，发证 %(k)d 本。")
                    % {"c": outcome.created, "u": outcome.updated, "n": outcome.unchanged, "k": outcome.certificates},
                )
                return redirect("admin:exams_sitting_grid", sitting.pk)
            if outcome is not None:
                by_part = {str(p.pk): p.name for p in parts}
                for error in outcome.errors:
                    _show_error(entry_rows[error.index], error, by_part)
                refused = gettext("有 %(n)d 处错误，未写入任何成绩；请按行修改后重新保存。") % {
                    "n": len(outcome.errors)
                }
                messages.error(request, refused)
        context = self._page(
            request,
            sitting,
            gettext("成绩录入：%(s)s") % {"s": sitting},
            parts=parts,
            rows=rows,
            editable=editable,
            closed_reason=closed_reason,
            # the error summary above the grid: each message with a link to its input
            grid_errors=[{**e, "row": row["label"]} for row in rows for e in row["errors"]],
            grid_errors_title=refused,
        )
        return TemplateResponse(request, "admin/exams/sitting/grid.html", context)

    def template_view(self, request, object_id):
        """成绩导入模板: the import file of this sitting with its candidates filled in."""
        sitting = self._sitting(request, object_id)
        response = HttpResponse(
            score_template(sitting=sitting, actor=request.user),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        name = f"scores-{sitting.held_on.isoformat()}-{sitting.pk}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def import_view(self, request, object_id):
        """导入成绩: upload a score file; every bad cell is listed, nothing written if any."""
        sitting = self._sitting(request, object_id)
        result = None
        form = ScoreUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            result = scores_import(
                sitting=sitting,
                actor=request.user,
                data=upload.read(),
                filename=upload.name,
                dry_run=form.cleaned_data["dry_run"],
            )
            if result.ok and not result.dry_run:
                messages.success(
                    request,
                    gettext("导入完成：新增 %(c)d 条，修改 %(u)d 条，未变 %(n)d 条，缺考 %(a)d 人，发证 %(k)d 本。")
                    % {
                        "c": result.created,
                        "u": result.updated,
                        "n": result.unchanged,
                        "a": result.absent,
                        "k": result.certificates,
                    },
                )
                return redirect("admin:exams_sitting_grid", sitting.pk)
        context = self._page(
            request,
            sitting,
            gettext("导入成绩：%(s)s") % {"s": sitting},
            form=form,
            result=result,
            headers=expected_headers(sitting),
        )
        return TemplateResponse(request, "admin/exams/sitting/import.html", context)


# A grid row: its inputs have ids ("id_" + name) for the error summary's links; the template
# names each input by its row header (the candidate) and its column header (aria-labelledby);
# an input an error is about is marked ("error": aria-invalid, described by the row's errors).
# "errors" holds {"text", "target"}: the message shown by the row and the id of its input.


def _cell(part, name: str, value: str = "") -> dict:
    return {"part": part, "name": name, "id": f"id_{name}", "value": value, "error": False}


def _grid_row_from_result(actor, parts, inspector, result) -> dict:
    scores = result.part_scores if result else {}
    cells = [_cell(p, f"s-{inspector.pk}-{p.pk}", _plain_cell(scores.get(str(p.pk)))) for p in parts]
    shown_id = inspector.national_id if can_see_full_national_id(actor=actor, inspector=inspector) else None
    return {
        "key": str(inspector.pk),
        "label": inspector.name,
        "inspector": inspector,
        "national_id": shown_id or inspector.masked_national_id,
        "result": result,
        "had_result": result is not None,
        "new": False,
        "id_name": "",
        "id_value": "",
        "id_problem": "",
        "id_error": False,
        "absent_name": f"a-{inspector.pk}",
        "absent": bool(result and result.absent),
        "absent_error": False,
        "cells": cells,
        "cells_by_part": {str(c["part"].pk): c for c in cells},
        "errors": [],
    }


def _plain_cell(value) -> str:
    """A recorded part score in its input as people write it (30, not 30.0)."""
    if value in (None, ""):
        return ""
    try:
        return plain_number(value)
    except (ArithmeticError, ValueError):
        return str(value)


def _blank_new_row(parts, k: int) -> dict:
    cells = [_cell(p, f"n{k}-{p.pk}") for p in parts]
    return {
        "key": f"n{k}",
        "label": gettext("新增第%(k)d行") % {"k": k + 1},
        "inspector": None,
        "national_id": "",
        "result": None,
        "had_result": False,
        "new": True,
        "id_name": f"n{k}-id",
        "id_value": "",
        "id_problem": "",
        "id_error": False,
        "absent_name": f"n{k}-a",
        "absent": False,
        "absent_error": False,
        "cells": cells,
        "cells_by_part": {str(c["part"].pk): c for c in cells},
        "errors": [],
    }


def _show_error(row: dict, error, part_names: dict) -> None:
    """An error of the score check on its row: the input it is about marked (every score
    input of the row when it names none: "scores cannot be cleared"), the message listed by
    the row, prefixed with the part's name, with the id of the first marked input."""
    if error.field == "scores" and error.part_id in row["cells_by_part"]:
        cell = row["cells_by_part"][error.part_id]
        cell["error"] = True
        target = cell["id"]
    elif error.field == "inspector" and row["new"]:
        row["id_error"] = True
        target = f"id_{row['id_name']}"
    elif error.field == "absent":
        row["absent_error"] = True
        target = f"id_{row['absent_name']}"
    else:
        for cell in row["cells"]:
            cell["error"] = True
        target = row["cells"][0]["id"] if row["cells"] else f"id_{row['absent_name']}"
        if not row["cells"]:
            row["absent_error"] = True
    prefix = part_names.get(error.part_id, "") if error.field == "scores" else ""
    row["errors"].append({"text": f"{prefix}：{error.message}" if prefix else error.message, "target": target})


def _read_posted(row: dict, parts, post) -> None:
    for cell in row["cells"]:
        cell["value"] = post.get(cell["name"], "").strip()
    row["absent"] = bool(post.get(row["absent_name"]))
    if row["new"]:
        row["id_value"] = post.get(row["id_name"], "").strip()


def _entries(actor, sitting, parts, rows) -> tuple[list[Entry], list[dict]]:
    """The posted grid as entries for the one score check; blank rows of candidates not yet
    scored are skipped, and new rows are found by their ID number among whom the admin may name."""
    entries: list[Entry] = []
    entry_rows: list[dict] = []
    wanted: dict[str, str] = {}
    for row in rows:
        if row["new"] and row["id_value"]:
            try:
                wanted[row["key"]] = idcard.parse(row["id_value"]).value
            except idcard.IdNumberError as exc:
                row["id_problem"] = str(exc)
    found = {
        p.national_id: p for p in candidate_pool(sitting=sitting, actor=actor).filter(national_id__in=wanted.values())
    }
    for row in rows:
        typed = any(c["value"] for c in row["cells"]) or row["absent"]
        problems = []
        if row["new"]:
            if not typed and not row["id_value"]:
                continue
            inspector = found.get(wanted.get(row["key"], ""))
            if row["id_problem"]:
                problems.append(("inspector", None, row["id_problem"]))
            elif not row["id_value"]:
                problems.append(("inspector", None, gettext("请填写身份证号")))
            elif inspector is None:
                problems.append(("inspector", None, gettext("未找到该身份证号的执法人员（或不在您的管辖范围内）")))
        else:
            if not typed:
                if row["had_result"]:
                    problems.append(("scores", None, gettext("已录入的成绩不能清空；缺考请勾选“缺考”")))
                else:
                    continue  # not entered yet
            inspector = row["inspector"]
        scores = {key: cell["value"] for key, cell in row["cells_by_part"].items()}
        entries.append(
            Entry(inspector=inspector, scores=scores, absent=row["absent"], label=row["label"], problems=problems)
        )
        entry_rows.append(row)
    return entries, entry_rows


# --- results ---------------------------------------------------------------------------------


# where a score was written (ResultChange.source)
SOURCES = {
    "grid": _("成绩录入页"),
    "import": _("文件导入"),
    "api": _("接口"),
    "entry": _("录入"),
    "demo": _("演示数据"),
}


class ResultChangeInline(ReadOnlyInlineMixin, admin.TabularInline):
    """A result's history in words: who, from where, the total and each part old -> new."""

    model = ResultChange
    fields = ["at", "actor_name", "source_label", "score_change", "parts_change"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "result__exam")

    @admin.display(description=_("操作人"))
    def actor_name(self, obj):
        return _user_name(obj.actor)

    @admin.display(description=_("来源"))
    def source_label(self, obj):
        return SOURCES.get(obj.source, obj.source)

    @admin.display(description=_("总分（原 → 新）"))
    def score_change(self, obj):
        return f"{_score_text(obj.old_score, obj.old_absent)} → {_score_text(obj.new_score, obj.new_absent)}"

    @admin.display(description=_("各科（原 → 新）"))
    def parts_change(self, obj):
        names = {str(p.pk): p.name for p in obj.result.exam.parts.all()}

        def text(parts):
            if not parts:
                return "-"
            return "、".join(f"{names.get(k, k)} {plain_number(v)}" for k, v in parts.items() if v not in (None, ""))

        return f"{text(obj.old_parts)} → {text(obj.new_parts)}"


def _score_text(score, absent) -> str:
    if absent:
        return gettext("缺考")
    return "-" if score is None else plain_number(score)


@admin.register(Result)
class ResultModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Read-only: scores are written on the sitting's grid or by import, with history."""

    list_display = ["inspector_link", "exam", "held_on", "score_display", "absent", "passed", "attempt"]
    list_display_links = ["exam"]
    list_select_related = ["inspector", "exam", "sitting"]
    list_filter = ["passed", "absent", "exam__kind"]
    search_fields = ["inspector__name", "=inspector__national_id", "exam__title"]
    fields = [
        "sitting",
        "exam",
        "inspector_link",
        "parts_display",
        "score_display",
        "absent",
        "passed",
        "attempt",
        "pass_mark_display",
    ]
    readonly_fields = fields
    inlines = [ResultChangeInline]
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.result_list(actor=request.user)

    @admin.display(description=_("考试日期"), ordering="sitting__held_on")
    def held_on(self, obj):
        return obj.sitting.held_on

    @admin.display(description=_("执法人员"), ordering="inspector__name")
    def inspector_link(self, obj):
        return _holder_link(obj.inspector)

    @admin.display(description=_("总分"), ordering="score")
    def score_display(self, obj):
        return "-" if obj.score is None else plain_number(obj.score)

    @admin.display(description=_("及格分"))
    def pass_mark_display(self, obj):
        return "-" if obj.pass_mark is None else plain_number(obj.pass_mark)

    @admin.display(description=_("各科成绩"))
    def parts_display(self, obj):
        scores = obj.part_scores or {}
        return (
            "、".join(
                f"{p.name} {plain_number(scores[str(p.pk)])}" for p in obj.exam.parts.all() if scores.get(str(p.pk))
            )
            or "-"
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- certificates ----------------------------------------------------------------------------


class HolderRegionFilter(RegionLevelFilter):
    title = _("持证人地区")

    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        region = region_list(actor=request.user).filter(code=code).first()
        if region is None:
            return queryset.none()
        return queryset.filter(holder__region__path__startswith=region.path)


_STATUS_LABELS = dict(CertificateStatus.choices)


class CertificateEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = CertificateEvent
    fields = ["at", "kind", "from_label", "to_label", "reason", "actor_name"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description=_("原状态"))
    def from_label(self, obj):
        return _STATUS_LABELS.get(obj.from_status, obj.from_status) or "-"

    @admin.display(description=_("新状态"))
    def to_label(self, obj):
        return _STATUS_LABELS.get(obj.to_status, obj.to_status) or "-"

    @admin.display(description=_("操作人"))
    def actor_name(self, obj):
        return _user_name(obj.actor)


def _user_name(user) -> str:
    """Who acted, as people know them: the full name (family name first, as written in
    Chinese), else the login; "-" for the system."""
    if user is None:
        return "-"
    return f"{user.last_name}{user.first_name}".strip() or user.get_username()


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("理由"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ReviewForm(forms.Form):
    year = forms.IntegerField(label=_("年审年度"), min_value=2000, max_value=2100)


# verb: (label, the form that asks for what the service needs; None: a confirmation only)
VERBS = {
    "suspend": (pgettext_lazy("certificate action", "暂扣"), TransitionForm),
    "reinstate": (pgettext_lazy("certificate action", "恢复"), TransitionForm),
    "revoke": (pgettext_lazy("certificate action", "吊销"), TransitionForm),
    "return": (pgettext_lazy("certificate action", "收回"), TransitionForm),
    "renew": (pgettext_lazy("certificate action", "换发"), None),
    "review": (pgettext_lazy("certificate action", "年审"), ReviewForm),
}


def _apply(verb: str, certificate: Certificate, actor, data: dict):
    if verb == "suspend":
        return services.certificate_suspend(certificate=certificate, reason=data["reason"], actor=actor)
    if verb == "reinstate":
        return services.certificate_reinstate(certificate=certificate, reason=data["reason"], actor=actor)
    if verb == "revoke":
        return services.certificate_revoke(certificate=certificate, reason=data["reason"], actor=actor)
    if verb == "return":
        return services.certificate_return(certificate=certificate, reason=data["reason"], actor=actor)
    if verb == "renew":
        return services.certificate_renew(certificate=certificate, actor=actor)
    if verb == "review":
        return services.certificate_review(certificate=certificate, year=data["year"], actor=actor)
    raise Http404


@admin.register(Certificate)
class CertificateModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """行政执法证: read-only records; their status moves only through the actions."""

    list_display = ["number", "holder_link", "holder_region", "region", "issued_on", "valid_until", "status"]
    list_select_related = ["holder__region", "region"]
    list_filter = ["status", HolderRegionFilter]
    search_fields = ["number", "holder__name"]  # and the holder's whole ID number: get_search_results
    fields = [
        "number",
        "holder_link",
        "holder_region",
        "region",
        "issued_on",
        "valid_until",
        "status",
        "renewal_count",
    ]
    readonly_fields = fields
    inlines = [CertificateEventInline]
    actions = ["suspend", "reinstate", "revoke", "return_", "renew", "review", "print_cards"]
    change_form_template = "admin/exams/certificate/change_form.html"
    list_per_page = 50

    def get_queryset(self, request):
        return selectors.certificate_list(actor=request.user)

    def get_search_results(self, request, queryset, search_term):
        """By certificate number (typed as printed: 冀应急执字第…号, full-width digits), by
        the holder's name, or by the holder's whole ID number (a lower-case x is the X)."""
        from .numbers import normalize

        term = search_term.strip()
        if not term:
            return queryset, False
        digits = normalize(term)
        if digits and digits != term and digits[:2].isdigit():
            term = digits
        found, may_have_duplicates = super().get_search_results(request, queryset, term)
        national_id = idcard.normalize(search_term)
        if len(national_id) == 18:
            found = found | queryset.filter(holder__national_id=national_id)
        return found, may_have_duplicates

    @admin.display(description=_("持证人"), ordering="holder__name")
    def holder_link(self, obj):
        return _holder_link(obj.holder)

    @admin.display(description=_("持证人地区"), ordering="holder__region__path")
    def holder_region(self, obj):
        return obj.holder.region.name

    def has_add_permission(self, request):
        return False  # issued by passing the qualification exam

    def has_change_permission(self, request, obj=None):
        return False  # see the actions

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not access.scope_for(request.user).is_admin:
            return {}
        return actions

    def get_urls(self):
        urls = [
            path(
                "<int:object_id>/do/<str:verb>/",
                self.admin_site.admin_view(self.transition_view),
                name="exams_certificate_transition",
            )
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**(extra_context or {}), "transitions": [], "qr_svg": "", "verify_link": ""}
        certificate = None
        if str(object_id).isdigit():
            certificate = selectors.certificate_list(actor=request.user).filter(pk=object_id).first()
        if certificate is not None:
            # Only the actions the state machine allows from the current status.
            context["transitions"] = [
                (VERBS[verb][0], reverse("admin:exams_certificate_transition", args=[object_id, verb]))
                for verb in rules.certificate_actions(status=certificate.status)
            ]
            context.update(_qr(request, certificate))
            if card.card_printable(certificate) and access.scope_for(request.user).is_admin:
                # The API's card (a session login works there too), at card size; A4 from the list action.
                url = reverse("certificate-card", args=[certificate.pk])
                context["card_links"] = [(gettext("打印执法证（证卡尺寸）"), f"{url}?layout=card")]
        return super().change_view(request, object_id, form_url, context)

    # one certificate, from its page

    def transition_view(self, request, object_id, verb):
        if verb not in VERBS or not access.scope_for(request.user).is_admin:
            raise Http404
        try:
            certificate = selectors.certificate_get_for_actor(actor=request.user, certificate_id=object_id)
        except NotFound:
            raise Http404 from None
        label, form_class = VERBS[verb]
        if not rules.certificate_action_allowed(action=verb, status=certificate.status):
            # Not offered from this status (a typed or stale link): say why, ask nothing.
            status = certificate.get_status_display()
            refusal = gettext("证件状态为“%(s)s”，不能%(a)s。") % {"s": status, "a": label}
            return self._transition_page(request, verb, [certificate], None, refusal=refusal)
        form = _form(form_class, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                _apply(verb, certificate, request.user, form.cleaned_data)
            except DomainError as exc:
                self._refusal_to_form(request, form, exc, certificate)
            else:
                messages.success(request, gettext("证件 %(n)s 已%(v)s。") % {"n": certificate.number, "v": label})
                return redirect("admin:exams_certificate_change", certificate.pk)
        return self._transition_page(request, verb, [certificate], form)

    def _transition_page(self, request, verb, certificates, form, action_name="", skipped=(), refusal=""):
        label, _form_class = VERBS[verb]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("%(v)s行政执法证") % {"v": label},
            "verb": verb,
            "verb_label": label,
            "certificates": certificates,
            "skipped": skipped,
            "refusal": refusal,
            "change_url": reverse("admin:exams_certificate_change", args=[certificates[0].pk]) if refusal else "",
            "form": form,
            "action_name": action_name,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/exams/certificate/transition.html", context)

    def _refusal_to_form(self, request, form, exc: DomainError, certificate):
        if isinstance(exc, ValidationFailed) and exc.fields:
            for name, msgs in exc.fields.items():
                target = name if name in form.fields else None
                for message in msgs if isinstance(msgs, list) else [msgs]:
                    form.add_error(target, str(message))
        else:
            messages.error(request, f"{certificate.number}：{describe(exc)}")

    # the changelist actions: each asks on an intermediate page, then runs per certificate

    def _run_action(self, request, queryset, verb, action_name):
        label, form_class = VERBS[verb]
        # The action applies to the certificates whose status allows it (the one rule); the
        # others are named and left alone.
        certificates, skipped = [], []
        for certificate in queryset.select_related("holder"):
            allowed = rules.certificate_action_allowed(action=verb, status=certificate.status)
            (certificates if allowed else skipped).append(certificate)
        asking = "apply" not in request.POST and certificates
        if not asking:
            for certificate in skipped:
                status = certificate.get_status_display()
                refusal = gettext("证件状态为“%(s)s”，不能%(a)s。") % {"s": status, "a": label}
                messages.error(request, f"{certificate.number}：{refusal}")
        if not certificates:
            return None
        form = _form(form_class, request.POST if "apply" in request.POST else None)
        if "apply" not in request.POST or not form.is_valid():
            return self._transition_page(request, verb, certificates, form, action_name, skipped)
        done = 0
        for certificate in certificates:
            try:
                _apply(verb, certificate, request.user, form.cleaned_data)
                done += 1
            except DomainError as exc:
                if isinstance(exc, ValidationFailed) and done == 0 and "reason" in exc.fields:
                    # the same for every certificate: ask again instead of repeating it
                    self._refusal_to_form(request, form, exc, certificate)
                    return self._transition_page(request, verb, certificates, form, action_name, skipped)
                messages.error(request, f"{certificate.number}：{describe(exc)}")
        if done:
            messages.success(request, gettext("已%(v)s %(n)d 本证件。") % {"v": label, "n": done})
        return None

    @admin.action(description=_("暂扣所选证件"))
    def suspend(self, request, queryset):
        return self._run_action(request, queryset, "suspend", "suspend")

    @admin.action(description=_("恢复所选证件"))
    def reinstate(self, request, queryset):
        return self._run_action(request, queryset, "reinstate", "reinstate")

    @admin.action(description=_("吊销所选证件"))
    def revoke(self, request, queryset):
        return self._run_action(request, queryset, "revoke", "revoke")

    @admin.action(description=_("收回所选证件（持证人已退休或调离）"))
    def return_(self, request, queryset):
        return self._run_action(request, queryset, "return", "return_")

    @admin.action(description=_("换发所选证件"))
    def renew(self, request, queryset):
        return self._run_action(request, queryset, "renew", "renew")

    @admin.action(description=_("年审所选证件"))
    def review(self, request, queryset):
        return self._run_action(request, queryset, "review", "review")

    @admin.action(description=_("打印执法证"))
    def print_cards(self, request, queryset):
        """Asks for the layout, then answers the PDF (exams.card: one card_printed event each)."""
        return card_admin.print_cards(self, request, queryset)


def _form(form_class, data):
    if form_class is None:
        return forms.Form(data)
    initial = {"year": timezone.localdate().year - 1} if form_class is ReviewForm else None
    return form_class(data, initial=initial)


def _qr(request, certificate: Certificate) -> dict:
    if qr_svg is None:
        return {}
    try:
        url = verify_url(request, certificate.number)
    except NoReverseMatch:
        return {}
    return {"qr_svg": mark_safe(qr_svg(url)), "verify_link": url}  # noqa: S308 - segno's own SVG markup


from . import admin_dossier  # noqa: E402, F401 - 一人一档: replaces the inspector's admin (exams/admin_dossier.py)

# 申请: the applications, their actions and apply page; after admin_dossier, whose inspector admin it extends.
from . import admin_applications  # noqa: E402, F401  # isort: skip

# 题库 and an exam's 组卷规则: the bank's admin, and the exam's admin with its paper rules.
from . import admin_questions  # noqa: E402, F401  # isort: skip
