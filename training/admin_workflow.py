"""The training office's pages on a batch, beside its change form: the attendance grid,
the printable sign-in sheet (签到表), completion with a preview, and undoing a completion.

Every page is for the admins who manage the batch's organising region: a batch the admin
cannot see answers 404 (as one that does not exist), one they see but do not manage 403.
Writes go through ``training.services``; a refusal is shown on the page, the form kept as typed.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import describe
from core.errors import DomainError, NotFound
from personnel import access
from personnel.selectors import actor_manages_region

from . import rules, selectors, services
from .models import Attendance, AttendanceEvent, AttendanceSource, Batch, BatchStatus, EnrollmentStatus

# How many of a batch's attendance events its attendance page lists (the newest).
HISTORY_SHOWN = 200


def _day_key(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


class CompletionForm(forms.Form):
    """The preview's inputs: an excuse (reason) per no-show, and the reason for completing a
    batch whose attendance was never recorded. The excuse fields are added per person."""

    no_attendance_reason = forms.CharField(
        label=_("未登记考勤的理由"),
        required=False,
        max_length=150,
        help_text=_(
            "本批次没有任何考勤记录时必填：例如“已按线下签到表核实，全员出勤”。填写后全部已报名人员按花名册结业。"
        ),
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        for inspector_id, name in people:
            self.fields[f"excuse-{inspector_id}"] = forms.CharField(
                label=name, required=False, max_length=150, widget=forms.TextInput(attrs={"size": 24})
            )

    def overrides(self) -> dict[int, str]:
        return {
            int(name.split("-", 1)[1]): value.strip()
            for name, value in self.cleaned_data.items()
            if name.startswith("excuse-") and value and value.strip()
        }


class UndoCompletionForm(forms.Form):
    reason = forms.CharField(
        label=_("撤销理由"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("例如“误操作：考勤尚未登记完整”。将写入批次和每条报名的记录。"),
    )


class BatchWorkflowMixin:
    """The pages of a batch's day: attendance, sign-in sheet, completion, undo."""

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("<int:object_id>/attendance/", view(self.attendance_view), name="training_batch_attendance"),
            path("<int:object_id>/sign-in-sheet/", view(self.sign_in_sheet_view), name="training_batch_signin_sheet"),
            path("<int:object_id>/complete/", view(self.complete_view), name="training_batch_complete"),
            path("<int:object_id>/undo-completion/", view(self.uncomplete_view), name="training_batch_uncomplete"),
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if str(object_id).isdigit():  # else no batch: the admin's "does not exist" redirect, not a 500
            extra_context |= self._links(object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _links(object_id) -> dict:
        return {
            "attendance_url": reverse("admin:training_batch_attendance", args=[object_id]),
            "signin_sheet_url": reverse("admin:training_batch_signin_sheet", args=[object_id]),
            "complete_url": reverse("admin:training_batch_complete", args=[object_id]),
            "uncomplete_url": reverse("admin:training_batch_uncomplete", args=[object_id]),
            "change_url": reverse("admin:training_batch_change", args=[object_id]),
            "checkin_url": reverse("checkin-trainer", args=[object_id]),
        }

    def _managed_batch(self, request, object_id) -> Batch:
        """The batch, if the admin manages its region: 404 when they cannot see it, 403 when
        they see it (their people are in it) but another region organises it."""
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        try:
            batch = selectors.batch_get_for_actor(actor=request.user, batch_id=object_id)
        except NotFound:
            raise Http404 from None
        if not actor_manages_region(actor=request.user, region=batch.region):
            raise PermissionDenied
        return batch

    def _context(self, request, batch: Batch, title, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": batch,
            "batch": batch,
            "title": title,
            **self._links(batch.pk),
            **extra,
        }

    @staticmethod
    def _seated(batch: Batch):
        """The people holding (or who held) a seat, as the sign-in list orders them."""
        return list(
            batch.enrollments.filter(rules.seated())
            .select_related("inspector__region")
            .order_by("inspector__region__path", "inspector__name", "id")
        )

    # --- 考勤登记 ---------------------------------------------------------------------------

    def attendance_view(self, request, object_id):
        """One row per seated inspector, one column per training day. A day is saved when its
        "登记" box is ticked (any change in its column ticks it): ticked cells present, the
        others absent. All days in one transaction: a refusal records nothing."""
        batch = self._managed_batch(request, object_id)
        days = [batch.starts_on + dt.timedelta(days=n) for n in range(batch.days)]
        enrollments = self._seated(batch)
        marks, scanned = {}, set()
        for enrollment_id, day, present, source in Attendance.objects.filter(enrollment__batch=batch).values_list(
            "enrollment_id", "day", "present", "source"
        ):
            marks[(enrollment_id, day)] = present
            if source == AttendanceSource.CHECKIN:
                scanned.add((enrollment_id, day))
        recorded_days = {day for _e, day in marks}
        editable = batch.status in (BatchStatus.OPEN, BatchStatus.CLOSED)
        today = timezone.localdate()
        columns = [
            {
                "day": d,
                "key": _day_key(d),
                "recorded": d in recorded_days,
                "record": d in recorded_days,
                "checkin": editable and d == today,  # the QR sign-in page serves today only
            }
            for d in days
        ]
        rows = [
            {
                "enrollment": e,
                "inspector": e.inspector,
                "editable": e.status == EnrollmentStatus.ENROLLED,
                "cells": [
                    {
                        "name": f"a-{e.inspector_id}-{c['key']}",
                        "day": c["key"],
                        "checked": marks.get((e.pk, c["day"])) is True,
                        "recorded": (e.pk, c["day"]) in marks,
                        "scanned": (e.pk, c["day"]) in scanned,
                    }
                    for c in columns
                ],
            }
            for e in enrollments
        ]
        if request.method == "POST":
            # Posted whatever the page offered: the service decides (and refuses a draft,
            # completed or cancelled batch), and the refusal is shown with the grid as typed.
            all_present = request.POST.get("all_present", "")
            for column in columns:
                column["record"] = bool(request.POST.get(f"d-{column['key']}")) or all_present == column["key"]
            for row in rows:
                for cell, column in zip(row["cells"], columns, strict=True):
                    if row["editable"] and column["record"]:
                        cell["checked"] = all_present == column["key"] or bool(request.POST.get(cell["name"]))
            grid = {
                column["day"]: {row["inspector"].pk: row["cells"][n]["checked"] for row in rows if row["editable"]}
                for n, column in enumerate(columns)
                if column["record"]
            }
            if not grid:
                messages.warning(request, gettext("没有勾选要登记的日期，未保存。"))
            else:
                try:
                    marked = services.attendance_mark_days(batch=batch, actor=request.user, days=grid)
                except DomainError as exc:
                    messages.error(request, gettext("考勤未保存：%(e)s") % {"e": describe(exc)})
                else:
                    messages.success(
                        request,
                        gettext("考勤已保存：%(d)d 天，共 %(n)d 人次。") % {"d": len(grid), "n": marked},
                    )
                    return HttpResponseRedirect(request.path)
        context = self._context(
            request,
            batch,
            gettext("考勤登记：%(b)s") % {"b": batch},
            columns=columns,
            rows=rows,
            editable=editable,
            history=self._attendance_history(batch),
            history_shown=HISTORY_SHOWN,
        )
        return TemplateResponse(request, "admin/training/batch/attendance.html", context)

    @staticmethod
    def _attendance_history(batch: Batch) -> list[dict]:
        """Who recorded or changed which day of whom, when (the newest first, at most
        HISTORY_SHOWN): the batch's ``AttendanceEvent`` rows, read-only."""
        events = (
            AttendanceEvent.objects.filter(attendance__enrollment__batch=batch)
            .select_related("actor", "attendance__enrollment__inspector")
            .order_by("-at", "-id")[:HISTORY_SHOWN]
        )
        shown = {None: "-", True: gettext("出勤"), False: gettext("缺勤")}
        return [
            {
                "at": e.at,
                "name": e.attendance.enrollment.inspector.name,
                "day": e.attendance.day,
                "kind": e.get_kind_display(),
                "change": f"{shown[e.old_present]} → {shown[e.new_present]}",
                "source": e.get_source_display(),
                "actor": e.actor or "-",
            }
            for e in events
        ]

    # --- 签到表 -------------------------------------------------------------------------------

    def sign_in_sheet_view(self, request, object_id):
        """A4 sign-in sheet to print: one row per seated inspector (ID masked), one signature
        column per day; landscape past three days."""
        batch = self._managed_batch(request, object_id)
        days = [batch.starts_on + dt.timedelta(days=n) for n in range(batch.days)]
        rows = [
            {"inspector": e.inspector, "unit": e.inspector.region.name, "masked_id": e.inspector.masked_national_id}
            for e in self._seated(batch)
        ]
        context = {
            "batch": batch,
            "title": gettext("%(b)s 签到表") % {"b": batch},
            "days": days,
            "rows": rows,
            "landscape": len(days) > 3,
            "change_url": reverse("admin:training_batch_change", args=[batch.pk]),
        }
        return TemplateResponse(request, "admin/training/batch/sign_in_sheet.html", context)

    # --- 结业预览与确认 ------------------------------------------------------------------------

    def complete_view(self, request, object_id):
        """GET: the completion plan (who completes, who is a no-show and which days, whose
        waitlist place is cancelled). POST "preview" recomputes it with the excuses typed;
        POST "confirm" applies exactly that plan through ``batch_complete``."""
        batch = self._managed_batch(request, object_id)
        people = [
            (e.inspector_id, e.inspector.name)
            for e in batch.enrollments.filter(status=EnrollmentStatus.ENROLLED).select_related("inspector")
        ]
        form = CompletionForm(request.POST or None, people=people)
        overrides, reason = {}, ""
        if request.method == "POST" and form.is_valid():
            overrides, reason = form.overrides(), form.cleaned_data["no_attendance_reason"]
            if "confirm" in request.POST:
                try:
                    counts = services.batch_complete(
                        batch=batch, actor=request.user, overrides=overrides, no_attendance_reason=reason
                    )
                except DomainError as exc:
                    form.add_error(None, describe(exc))
                else:
                    messages.success(
                        request,
                        gettext("%(b)s 已结业：结业 %(c)d 人（其中特批 %(e)d 人），缺席 %(x)d 人，取消候补 %(w)d 人。")
                        % {
                            "b": batch,
                            "c": counts["completed"],
                            "e": counts["excused"],
                            "x": counts["no_show"],
                            "w": counts["waitlist_cancelled"],
                        },
                    )
                    return HttpResponseRedirect(reverse("admin:training_batch_change", args=[batch.pk]))
        plan, plan_error = None, ""
        try:
            plan = services.batch_completion_plan(
                batch=batch, actor=request.user, overrides=overrides, no_attendance_reason=reason
            )
        except DomainError as exc:
            plan_error = describe(exc)
        excuse_fields = {name: form[name] for name in form.fields if name.startswith("excuse-")}
        context = self._context(
            request,
            batch,
            gettext("结业预览：%(b)s") % {"b": batch},
            form=form,
            plan=plan,
            plan_error=plan_error,
            no_show_rows=[(r, excuse_fields.get(f"excuse-{r.inspector_id}")) for r in (plan.no_show if plan else ())],
            excused_rows=[(r, excuse_fields.get(f"excuse-{r.inspector_id}")) for r in (plan.excused if plan else ())],
        )
        return TemplateResponse(request, "admin/training/batch/complete.html", context)

    # --- 撤销结业 ------------------------------------------------------------------------------

    def uncomplete_view(self, request, object_id):
        """A reason, then ``batch_completion_undo``; a refusal (not completed, exam results
        exist) is shown as the form's error."""
        batch = self._managed_batch(request, object_id)
        form = UndoCompletionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.batch_completion_undo(batch=batch, actor=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                for name, errors in (exc.fields or {}).items():
                    if name in form.fields:
                        form.add_error(name, errors)
                form.add_error(None, describe(exc))
            else:
                messages.success(request, gettext("已撤销 %(b)s 的结业，批次恢复为“报名截止”。") % {"b": batch})
                return HttpResponseRedirect(reverse("admin:training_batch_change", args=[batch.pk]))
        counts = {
            status: batch.enrollments.filter(status=status).count()
            for status in (EnrollmentStatus.COMPLETED, EnrollmentStatus.NO_SHOW)
        }
        context = self._context(
            request,
            batch,
            gettext("撤销结业：%(b)s") % {"b": batch},
            form=form,
            completed=counts[EnrollmentStatus.COMPLETED],
            no_show=counts[EnrollmentStatus.NO_SHOW],
        )
        return TemplateResponse(request, "admin/training/batch/uncomplete.html", context)
