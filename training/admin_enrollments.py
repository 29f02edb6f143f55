"""The enrollment list of the training admin and the three things done to one enrollment:
cancel (取消报名), replace by another inspector (替换) and move to another batch of the same
course (转班). Each is a small form on its own admin URL; the service decides, and a
refusal comes back as an error on the form, which keeps what was typed."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import describe
from core.errors import DomainError, NotFound
from core.text import plain_number
from personnel import access
from personnel.admin import RegionLevelFilter, ScopedAdminMixin
from personnel.selectors import inspector_list, region_list

from . import selectors, services
from .models import ACTIVE_ENROLLMENT, Batch, BatchStatus, Enrollment, EnrollmentEvent, EnrollmentStatus
from .serializers import ID_MAX

S = EnrollmentStatus
# The list reads from those holding a seat down to those who left.
STATUS_ORDER = [S.ENROLLED, S.WAITLISTED, S.COMPLETED, S.NO_SHOW, S.CANCELLED]
# Replace and move act on a place held or waited for, in a batch still running (the services say so too).
RUNNING = (BatchStatus.OPEN, BatchStatus.CLOSED)


def enrollment_summary(batch: Batch) -> dict:
    """The counts ``selectors.batch_counts`` annotated on ``batch``, for the batch page."""
    counts = [
        (S.ENROLLED.label, batch.enrolled_count),
        (S.WAITLISTED.label, batch.waitlisted_count),
        (S.COMPLETED.label, batch.completed_count),
        (S.NO_SHOW.label, batch.no_show_count),
        (S.CANCELLED.label, batch.cancelled_count),
    ]
    return {
        "counts": [(label, plain_number(n)) for label, n in counts],
        "total": sum(n for _label, n in counts),
        "list_url": reverse("admin:training_enrollment_changelist") + f"?batch={batch.pk}",
    }


# --- the list ------------------------------------------------------------------------------------


class BatchFilter(admin.SimpleListFilter):
    """One batch's list (the batch page links here). Offers the batch chosen and the actor's
    batches still taking or holding people, not every batch of the years."""

    title = _("批次")
    parameter_name = "batch"

    def batch_id(self) -> int | None:
        """The chosen batch's id, or None for anything that cannot be one (a huge number
        overflowed the database's integer, a "²" passed str.isdigit but not int())."""
        value = self.value() or ""
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= ID_MAX:
            return None
        return int(value)

    def lookups(self, request, model_admin):
        mine = selectors.batch_list(actor=request.user)
        chosen = mine.filter(pk=self.batch_id()).first() if self.batch_id() else None
        running = list(mine.filter(status__in=RUNNING).order_by("starts_on", "region__path", "number")[:30])
        if chosen is not None and chosen not in running:
            running.insert(0, chosen)
        return [(str(b.pk), str(b)) for b in running]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        batch_id = self.batch_id()
        return queryset.none() if batch_id is None else queryset.filter(batch_id=batch_id)


class InspectorRegionFilter(RegionLevelFilter):
    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        region = region_list(actor=request.user).filter(code=code).first()
        if region is None:
            return queryset.none()
        return queryset.filter(inspector__region__path__startswith=region.path)


class EnrollmentEventInline(admin.TabularInline):
    model = EnrollmentEvent
    fields = ["at", "kind", "reason", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("报名记录（谁在何时做了什么）")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_view_permission(self, request, obj=None):
        return access.scope_for(request.user).is_admin

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Who is in which batch, 50 a page; one enrollment's page has its history and the
    buttons to cancel, replace or move it. Adding happens on the batch page."""

    list_display = [
        "inspector_link",
        "inspector_region",
        "masked_id",
        "batch_display",
        "status",
        "waitlist_position",
        "hours_display",
    ]
    # The name links to the person's page; the status opens the enrollment (cancel, replace,
    # move). As the first column's row link, the enrollment's link held the name's link
    # nested inside and was left empty: nobody could open an enrollment from the list.
    list_display_links = ["status"]
    list_filter = [BatchFilter, "status", "batch__year", "inspector__sector", InspectorRegionFilter]
    search_fields = ["inspector__name"]
    fields = [
        "batch",
        "inspector",
        "status",
        "waitlist_position",
        "hours_credited",
        "completed_on",
        "override_reason",
        "reminder_sent_at",
    ]
    inlines = [EnrollmentEventInline]
    list_per_page = 50
    change_form_template = "admin/training/enrollment/change_form.html"

    def get_queryset(self, request):
        rank = Case(
            *(When(status=s, then=Value(i)) for i, s in enumerate(STATUS_ORDER)),
            default=Value(len(STATUS_ORDER)),
            output_field=IntegerField(),
        )
        return selectors.enrollment_list(actor=request.user).annotate(status_rank=rank)

    def get_ordering(self, request):
        return ["status_rank", "waitlist_position", "inspector__region__path", "inspector__name", "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Not even for superusers: a deleted row would free its seat without promoting the
        # waitlist and take its event rows with it. Cancelling is the way out.
        return False

    @admin.display(description=_("执法人员"), ordering="inspector__name")
    def inspector_link(self, obj):
        url = reverse("admin:personnel_inspector_change", args=[obj.inspector_id])
        return format_html('<a href="{}">{}</a>', url, obj.inspector.name)

    @admin.display(description=_("单位"), ordering="inspector__region__path")
    def inspector_region(self, obj):
        return obj.inspector.region.name

    @admin.display(description=_("身份证号"))
    def masked_id(self, obj):
        return obj.inspector.masked_national_id

    @admin.display(description=_("批次"), ordering="batch__starts_on")
    def batch_display(self, obj):
        return str(obj.batch)

    @admin.display(description=_("认定学时"), ordering="hours_credited")
    def hours_display(self, obj):
        # Hours are credited on completion only: "-" before, 16 or 12.5 after (never 0.0).
        return plain_number(obj.hours_credited) if obj.status == EnrollmentStatus.COMPLETED else "-"

    # --- the three actions --------------------------------------------------------------------------

    def get_urls(self):
        def view(verb):
            return self.admin_site.admin_view(lambda request, object_id: self.act(request, object_id, verb))

        return [
            path("<path:object_id>/cancel/", view("cancel"), name="training_enrollment_cancel"),
            path("<path:object_id>/replace/", view("replace"), name="training_enrollment_replace"),
            path("<path:object_id>/move/", view("move"), name="training_enrollment_move"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["enrollment_actions"] = available_actions(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def act(self, request, object_id, verb):
        if not str(object_id).isdigit():
            raise Http404
        try:
            enrollment = selectors.enrollment_get_for_actor(actor=request.user, enrollment_id=int(object_id))
        except NotFound:
            raise Http404 from None
        if not access.scope_for(request.user).is_admin:
            raise Http404
        spec = ACTIONS[verb]
        form = spec.form(request.POST or None, enrollment=enrollment, actor=request.user, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            try:
                done = spec.run(enrollment=enrollment, actor=request.user, data=form.cleaned_data)
            except DomainError as exc:
                refuse(form, exc)
            else:
                messages.success(request, spec.message(enrollment, done))
                return HttpResponseRedirect(reverse("admin:training_enrollment_change", args=[done.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": enrollment,
            "title": f"{spec.title}：{enrollment.inspector.name}",
            "action_title": spec.title,
            "form": form,
            "enrollment": enrollment,
            "note": spec.note,
            # the raw-id lookup (magnifier and its popup) needs the admin's scripts
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/training/enrollment/action.html", context)


def refuse(form: forms.Form, exc: DomainError) -> None:
    """A service's refusal as the form's errors: on the fields it names, else above the form."""
    placed = False
    for name, value in (exc.fields or {}).items():
        if name in form.fields and name not in form.errors:
            for message in value if isinstance(value, list | tuple) else [value]:
                form.add_error(name, str(message))
            placed = True
    if not placed:
        form.add_error(None, describe(exc))


def available_actions(enrollment: Enrollment) -> list[tuple[str, str]]:
    """(label, URL) of what may still be done to the enrollment (the services decide in the end)."""
    if enrollment.status not in ACTIVE_ENROLLMENT or enrollment.batch.status not in RUNNING:
        return []
    return [
        (spec.title, reverse(f"admin:training_enrollment_{verb}", args=[enrollment.pk]))
        for verb, spec in ACTIONS.items()
    ]


# --- the forms -----------------------------------------------------------------------------------------


class _ActionForm(forms.Form):
    reason = forms.CharField(label=_("原因"), max_length=200, widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args, enrollment, actor, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.enrollment, self.actor, self.admin_site = enrollment, actor, admin_site


class CancelForm(_ActionForm):
    pass


class ReplaceForm(_ActionForm):
    field_order = ["inspector", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        relation = Enrollment._meta.get_field("inspector").remote_field
        self.fields["inspector"] = forms.ModelChoiceField(
            label=_("替换为（执法人员）"),
            queryset=inspector_list(actor=self.actor),
            widget=ForeignKeyRawIdWidget(relation, self.admin_site),
            help_text=_("点放大镜按姓名查找；新人员接替原席位（或原候补序号），须与新报名一样符合批次要求。"),
        )
        self.order_fields(self.field_order)


class BatchChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, batch):
        return gettext("%(b)s（%(f)s 至 %(t)s，已报名 %(n)s/%(c)s，候补 %(w)s）") % {
            "b": batch,
            "f": batch.starts_on.isoformat(),
            "t": batch.ends_on.isoformat(),
            "n": plain_number(batch.enrolled_count),
            "c": plain_number(batch.capacity),
            "w": plain_number(batch.waitlisted_count),
        }


class MoveForm(_ActionForm):
    field_order = ["batch", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        here = self.enrollment.batch
        others = (
            # Only batches that take enrollments today (open, deadline not passed): the service
            # (training.services._batch_refusal) would refuse the others.
            selectors.batch_counts(selectors.batch_list(actor=self.actor))
            .filter(
                course_id=here.course_id,
                status=BatchStatus.OPEN,
                enrollment_deadline__gte=timezone.localdate(),
            )
            .exclude(pk=here.pk)
            .order_by("starts_on", "region__path", "number")
        )
        self.fields["batch"] = BatchChoiceField(
            label=_("转到批次（同一课程）"),
            queryset=others,
            empty_label=_("请选择批次"),
            help_text=_("有空余名额即报名，名额已满则排在候补末位；原批次的名额由候补第一位递补。"),
        )
        self.order_fields(self.field_order)


class _Action:
    def __init__(self, title, form, run, message, note=""):
        self.title, self.form, self.run, self.message, self.note = title, form, run, message, note


def _cancelled(enrollment, done):
    return gettext("已取消 %(n)s 在 %(b)s 的报名。") % {"n": enrollment.inspector.name, "b": enrollment.batch}


def _replaced(enrollment, done):
    where = (
        gettext("候补第 %(p)s 位") % {"p": plain_number(done.waitlist_position)}
        if done.status == S.WAITLISTED
        else gettext("原席位")
    )
    return gettext("已由 %(new)s 替换 %(old)s（%(where)s）。") % {
        "new": done.inspector.name,
        "old": enrollment.inspector.name,
        "where": where,
    }


def _moved(enrollment, done):
    if done.status == S.WAITLISTED:
        return gettext("已转至 %(b)s：名额已满，进入候补第 %(p)s 位。") % {
            "b": done.batch,
            "p": plain_number(done.waitlist_position),
        }
    return gettext("已转至 %(b)s：已报名。") % {"b": done.batch}


def _run_cancel(*, enrollment, actor, data):
    return services.enrollment_cancel(enrollment=enrollment, actor=actor, reason=data["reason"])


def _run_replace(*, enrollment, actor, data):
    return services.enrollment_replace(
        enrollment=enrollment, inspector=data["inspector"], actor=actor, reason=data["reason"]
    )


def _run_move(*, enrollment, actor, data):
    return services.enrollment_move(enrollment=enrollment, to_batch=data["batch"], actor=actor, reason=data["reason"])


ACTIONS = {
    "cancel": _Action(
        _("取消报名"), CancelForm, _run_cancel, _cancelled, _("取消后名额由候补第一位递补；请写明原因，记入报名记录。")
    ),
    "replace": _Action(_("替换"), ReplaceForm, _run_replace, _replaced),
    "move": _Action(_("转班"), MoveForm, _run_move, _moved),
}
