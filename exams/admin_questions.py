"""The question bank (题库) in the admin, and an exam's paper rules (组卷规则).

- 题库: the list with filters (分类, 题型, 难度, 启用, 地区) and search, 启用/停用 for many at once,
  the add and change form (options as 选项A-F) through exams.questions, the question's
  versions and history read-only on its page, the import page and the template;
- 组卷规则: a PaperRule belongs to an exam's part, not to the exam, so Django's inline cannot
  hold it; the exam's page shows its rules with what the bank cannot satisfy, and links to a
  page of the rules as one table (a formset) saved through ``questions.paper_rules_set``.
  The exam's admin is replaced by a subclass of ``exams.admin.ExamModelAdmin`` (everything it
  does stays), as exams.admin_dossier does for the inspector's.

Imported at the end of exams/admin.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms import modelformset_factory
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ServiceFormMixin, describe
from core.errors import DomainError, NotFound
from core.text import plain_number
from personnel import access
from personnel.admin import RegionLevelFilter, ScopedAdminMixin, history_table
from personnel.selectors import region_list

from . import questions, selectors
from .admin import ExamModelAdmin, PlainNumberInput, _parts_text
from .models import Exam, ExamPart, PaperRule, Question, QuestionKind
from .question_imports import COLUMNS, question_template, questions_import

OPTION_FIELDS = [f"option_{letter.lower()}" for letter in questions.LETTERS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _options_text(value) -> str:
    """Options as the history shows them: A. 甲；B. 乙."""
    if not isinstance(value, list):
        return str(value)
    return "；".join(f"{questions.LETTERS[i]}. {text}" for i, text in enumerate(value[: questions.MAX_OPTIONS]))


# --- the question form ---------------------------------------------------------------------------


def _option_field(index: int) -> forms.CharField:
    return forms.CharField(
        label=_("选项%(l)s") % {"l": questions.LETTERS[index]},
        required=False,
        max_length=questions.OPTION_MAX,
        help_text=_("判断题可不填（即“正确”“错误”）") if index == 0 else "",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class QuestionAdminForm(forms.ModelForm):
    """The question with its options as six text fields (选项A-F); the bank's one content check
    (``questions.question_content_problems``) puts each problem on its field before saving."""

    option_a = _option_field(0)
    option_b = _option_field(1)
    option_c = _option_field(2)
    option_d = _option_field(3)
    option_e = _option_field(4)
    option_f = _option_field(5)

    class Meta:
        model = Question
        fields = ["region", "kind", "stem", "answer", "explanation", "category", "difficulty", "active"]
        widgets = {
            "stem": forms.Textarea(attrs={"rows": 3, "cols": 80}),
            "explanation": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        }
        help_texts = {"answer": _("单选填一个字母，如 B；多选填两个以上，如 ACD；判断填 A（正确）或 B（错误）")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        options = list(self.instance.options or []) if self.instance.pk else []
        for index, name in enumerate(OPTION_FIELDS):
            self.fields[name].initial = options[index] if index < len(options) else ""

    def clean(self):
        cleaned = super().clean()
        content, problems = questions.question_content_problems(
            kind=cleaned.get("kind"),
            stem=cleaned.get("stem"),
            options=[cleaned.get(name, "") for name in OPTION_FIELDS],
            answer=cleaned.get("answer"),
            explanation=cleaned.get("explanation", ""),
            category=cleaned.get("category"),
            difficulty=cleaned.get("difficulty"),
        )
        for problem in problems:
            name = problem.field
            if name == "options":
                name = OPTION_FIELDS[min(problem.option or 0, len(OPTION_FIELDS) - 1)]
            if name in self.fields and name not in self.errors:
                self.add_error(name, problem.message)
            elif name in self.fields:
                self.errors[name].append(problem.message)
        if not problems:
            cleaned["content"] = content
        return cleaned

    def _post_clean(self):
        # The service decides on the content and on duplicates (question_unique_in_region names
        # no question; the service's Conflict names the one already in the bank).
        pass


class CategoryFilter(admin.SimpleListFilter):
    title = _("分类")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        categories = questions.question_list(actor=request.user).order_by("category").values_list("category", flat=True)
        return [(c, c) for c in categories.distinct()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(category=value.replace("\x00", "")) if value else queryset


class QuestionUploadForm(forms.Form):
    file = forms.FileField(label=_("题库文件（.xlsx、.xls 或 .csv）"))
    region = forms.ModelChoiceField(
        queryset=None, label=_("导入到哪个地区的题库"), required=False, help_text=_("留空为本人管辖地区")
    )
    dry_run = forms.BooleanField(label=_("仅校验，不写入"), required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = region_list(actor=actor).order_by("path")


@admin.register(Question)
class QuestionModelAdmin(ServiceFormMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = QuestionAdminForm
    list_display = ["id", "stem_display", "kind", "category", "difficulty", "answer", "active", "version", "region"]
    list_display_links = ["id", "stem_display"]
    list_filter = [CategoryFilter, "kind", "difficulty", "active", RegionLevelFilter]
    search_fields = ["stem", "explanation", "category"]
    list_select_related = ["region"]
    actions = ["activate", "deactivate"]
    list_per_page = 50
    change_list_template = "admin/exams/question/change_list.html"

    def get_queryset(self, request):
        return questions.question_list(actor=request.user)

    @admin.display(description=_("题干"), ordering="stem")
    def stem_display(self, obj):
        stem = obj.stem if len(obj.stem) <= 40 else obj.stem[:39] + "…"
        return format_html('<span title="{}">{}</span>', obj.stem, stem)

    def get_fields(self, request, obj=None):
        fields = ["region", "kind", "stem", *OPTION_FIELDS, "answer", "explanation", "category", "difficulty", "active"]
        return [*fields, "version", "versions", "history"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        # A question stays in the bank it was written in (papers and duplicates are by bank).
        return ["region", "version", "versions", "history"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["queryset"] = region_list(actor=request.user).order_by("path")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("历次版本"))
    def versions(self, obj):
        rows = format_html_join(
            "",
            '<tr><td class="nowrap">v{}</td><td class="nowrap">{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td class="nowrap">{}</td><td class="nowrap">{} · {}</td></tr>',
            (
                (
                    v.version,
                    localtime(v.at).strftime("%Y-%m-%d %H:%M"),
                    v.stem,
                    _options_text(v.options),
                    v.answer,
                    v.get_kind_display(),
                    v.category,
                    v.get_difficulty_display(),
                )
                for v in obj.versions.order_by("version")
            ),
        )
        return format_html(
            '<table class="history"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("版本"),
            _("时间"),
            _("题干"),
            _("选项"),
            _("答案"),
            _("题型"),
            _("分类 · 难度"),
            rows,
        )

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        events = obj.events.select_related("actor").order_by("at", "id")
        return history_table(events, Question, formats={"options": _options_text})

    def save_model(self, request, obj, form, change):
        content = form.cleaned_data["content"]
        if change:
            values = {**content.values(), "active": form.cleaned_data["active"]}
            saved = self.call_service(request, questions.question_update, question=obj, actor=request.user, **values)
        else:
            saved = self.call_service(
                request,
                questions.question_create,
                actor=request.user,
                region=form.cleaned_data["region"],
                active=form.cleaned_data["active"],
                **content.values(),
            )
        obj.pk = saved.pk
        obj._state.adding = False

    def _set_active(self, request, queryset, active: bool):
        try:
            changed = questions.question_set_active(questions=list(queryset), actor=request.user, active=active)
        except DomainError as exc:
            messages.error(request, describe(exc))
            return
        word = gettext("启用") if active else gettext("停用")
        messages.success(request, gettext("已%(w)s %(n)d 道试题。") % {"w": word, "n": changed})

    @admin.action(description=_("启用所选试题"))
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description=_("停用所选试题（已抽到的试卷不受影响）"))
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "import_url": reverse("admin:exams_question_import"),
            "template_url": reverse("admin:exams_question_template"),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("import/", view(self.import_view), name="exams_question_import"),
            path("template.xlsx", view(self.template_view), name="exams_question_template"),
        ]
        return urls + super().get_urls()

    def template_view(self, request):
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        response = HttpResponse(question_template(), content_type=XLSX)
        response["Content-Disposition"] = 'attachment; filename="question-bank-template.xlsx"'
        return response

    def import_view(self, request):
        """导入题库: every bad cell listed by row and column, nothing written if any."""
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        result = None
        form = QuestionUploadForm(request.POST or None, request.FILES or None, actor=request.user)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            result = questions_import(
                actor=request.user,
                data=upload.read(),
                filename=upload.name,
                region=form.cleaned_data.get("region"),
                dry_run=form.cleaned_data["dry_run"],
            )
            if result.ok and not result.dry_run:
                messages.success(
                    request,
                    gettext("导入完成：%(r)s题库新增 %(n)d 道试题。") % {"r": result.region.name, "n": result.created},
                )
                return redirect("admin:exams_question_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("导入题库"),
            "form": form,
            "result": result,
            "columns": COLUMNS,
            "template_url": reverse("admin:exams_question_template"),
        }
        return TemplateResponse(request, "admin/exams/question/import.html", context)


# --- paper rules on the exam --------------------------------------------------------------------


class PaperRuleForm(forms.ModelForm):
    class Meta:
        model = PaperRule
        fields = ["part", "category", "difficulty", "kind", "count", "question", "points"]

    def __init__(self, *args, exam: Exam, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["part"].queryset = ExamPart.objects.filter(exam=exam)
        # A fixed question: one the exam's papers may draw, in a bank the admin manages.
        self.fields["question"].queryset = questions.drawable_questions(exam.region).filter(
            pk__in=questions.question_list(actor=actor).values("pk")
        )
        self.fields["points"].widget = PlainNumberInput(attrs={"step": "0.5"})
        self.fields["kind"].choices = [("", _("不限")), *QuestionKind.choices]
        self.fields["difficulty"].choices = [("", _("不限")), *self.fields["difficulty"].choices[1:]]


def paper_rules_formset(exam: Exam, actor, data=None):
    formset_class = modelformset_factory(PaperRule, form=PaperRuleForm, extra=3, can_delete=True)
    return formset_class(
        data,
        queryset=PaperRule.objects.filter(part__exam=exam).select_related("part", "question"),
        form_kwargs={"exam": exam, "actor": actor},
        prefix="rules",
    )


def _rules_summary(exam: Exam) -> str:
    rules = list(PaperRule.objects.filter(part__exam=exam).select_related("part", "question"))
    # The link a paragraph of its own: underlined there (core/static/core/admin.css), not told
    # apart from the text around it by its colour alone (axe's link-in-text-block).
    link = format_html(
        '<p><a href="{}">{}</a></p>', reverse("admin:exams_exam_paper_rules", args=[exam.pk]), _("编辑组卷规则")
    )
    if not rules:
        return format_html("<p>{}</p>{}", _("暂无组卷规则（在线考试须有组卷规则）"), link)
    lines = format_html_join(
        "",
        "<li>{}</li>",
        (
            (
                _("%(rule)s，每题 %(points)s 分")
                % {"rule": questions.rule_label(rule), "points": plain_number(rule.points)},
            )
            for rule in rules
        ),
    )
    shortfalls = questions.paper_rule_shortfalls(exam=exam, rules=rules)
    if shortfalls:
        verdict = format_html(
            '<ul class="errorlist">{}</ul>', format_html_join("", "<li>{}</li>", ((m,) for m in shortfalls))
        )
    else:
        verdict = format_html('<p class="paper-rules-ok">{}</p>', _("题库可满足全部组卷规则。"))
    return format_html("<ul>{}</ul>{}{}", lines, verdict, link)


def _paper_rules_text(value) -> str:
    """An exam event's paper rules, [[part, category, difficulty, kind, count, question, points]]."""
    try:
        return "；".join(
            f"{part} {category or gettext('指定试题 %(q)s') % {'q': question}} × {count} × {points}"
            for part, category, _difficulty, _kind, count, question, points in value
        )
    except (TypeError, ValueError):
        return str(value)


class ExamWithPaperRulesAdmin(ExamModelAdmin):
    """The exam's admin with its paper rules: a summary on its page and the rules' own page."""

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [*fields, "paper_rules"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "paper_rules"]

    @admin.display(description=_("组卷规则"))
    def paper_rules(self, obj):
        return _rules_summary(obj)

    @admin.display(description=_("变更记录"))
    def history(self, obj):
        events = obj.events.filter(sitting=None).select_related("actor").order_by("at", "id")
        return history_table(events, Exam, formats={"parts": _parts_text, "paper_rules": _paper_rules_text})

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [path("<int:object_id>/paper-rules/", view(self.paper_rules_view), name="exams_exam_paper_rules")]
        return urls + super().get_urls()

    def paper_rules_view(self, request, object_id):
        """组卷规则: per part, N questions of a category (and difficulty, kind), points each, or
        a fixed question; saved through the service, then checked against the bank."""
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        try:
            exam = selectors.exam_get_for_actor(actor=request.user, exam_id=object_id)
        except NotFound:
            raise Http404 from None
        formset = paper_rules_formset(exam, request.user, request.POST if request.method == "POST" else None)
        if request.method == "POST" and formset.is_valid():
            kept = [
                f.cleaned_data
                for f in formset.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("part")
            ]
            kept.sort(key=lambda d: (d["part"].order, d["part"].pk))
            rules = [
                questions.RuleSpec(
                    part=d["part"],
                    points=d["points"],
                    category=d.get("category") or "",
                    difficulty=d.get("difficulty") or None,
                    kind=d.get("kind") or "",
                    count=d.get("count") or 1,
                    question=d.get("question"),
                )
                for d in kept
            ]
            try:
                questions.paper_rules_set(exam=exam, actor=request.user, rules=rules)
            except DomainError as exc:
                formset._non_form_errors = formset.error_class([describe(exc)])
            else:
                messages.success(request, gettext("组卷规则已保存。"))
                for message in questions.paper_rule_shortfalls(exam=exam):
                    messages.warning(request, message)
                return redirect("admin:exams_exam_paper_rules", exam.pk)
        shortfalls = questions.paper_rule_shortfalls(exam=exam) if request.method == "GET" else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": exam,
            "exam": exam,
            "title": gettext("组卷规则：%(e)s") % {"e": exam.title},
            "formset": formset,
            "shortfalls": shortfalls,
            "change_url": reverse("admin:exams_exam_change", args=[exam.pk]),
        }
        return TemplateResponse(request, "admin/exams/exam/paper_rules.html", context)


admin.site.unregister(Exam)
admin.site.register(Exam, ExamWithPaperRulesAdmin)
