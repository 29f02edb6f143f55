"""试题分析 in the admin: the item analysis of an online sitting (linked from the sitting's
change page) or of an exam across its online sittings, as tables and as an xlsx download.

The figures come from exams.item_analysis. Only admins whose region holds the exam's region
see them (exams.selectors scopes the sitting and the exam: a region admin sees the exams
organised in their subtree); anyone else who is not staff goes to the admin's login page.
The URLs sit under /admin/exams/ in config/urls.py, before the admin's own.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.errors import NotFound
from personnel import access

from . import selectors
from .item_analysis import (
    ItemAnalysis,
    analysis_title,
    analysis_xlsx,
    distribution_headers,
    exam_item_analysis,
    p_value,
    sitting_item_analysis,
)
from .models import Exam, Sitting

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _admin_only(user) -> None:
    if not access.scope_for(user).is_admin:
        raise PermissionDenied


def _sitting(request, object_id) -> Sitting:
    _admin_only(request.user)
    try:
        return selectors.sitting_get_for_actor(actor=request.user, sitting_id=object_id)
    except NotFound:
        raise Http404 from None


def _exam(request, object_id) -> Exam:
    _admin_only(request.user)
    try:
        return selectors.exam_get_for_actor(actor=request.user, exam_id=object_id)
    except NotFound:
        raise Http404 from None


def percent(value: float | None) -> str:
    """A share as the page shows it: 66.7%; a dash when there is none."""
    return "—" if value is None else f"{value * 100:.1f}%"


def index_text(value: float | None) -> str:
    """区分度 D to two places (as in the workbook); a dash when there is none."""
    return "—" if value is None else f"{value:.2f}"


def _item_rows(analysis: ItemAnalysis) -> list[dict]:
    return [
        {
            "item": item,
            "p": percent(item.p),
            "p_upper": percent(p_value(item.upper_right, item.upper_asked)),
            "p_lower": percent(p_value(item.lower_right, item.lower_asked)),
            "d": index_text(item.d),
            "options": [{"option": o, "share": percent(o.share)} for o in item.options],
        }
        for item in analysis.items
    ]


def _page(request, analysis: ItemAnalysis, *, xlsx_url: str, other_url: str, other_label: str):
    opts = (Sitting if analysis.sitting is not None else Exam)._meta
    original = analysis.sitting or analysis.exam
    context = {
        **admin.site.each_context(request),
        "opts": opts,
        "original": original,
        "change_url": reverse(f"admin:exams_{opts.model_name}_change", args=[original.pk]),
        "title": analysis_title(analysis),
        "analysis": analysis,
        "rows": _item_rows(analysis),
        "distributions": [{"dist": d, "pass_rate": percent(d.pass_rate)} for d in [*analysis.parts, analysis.total]],
        "distribution_headers": distribution_headers(),
        "xlsx_url": xlsx_url,
        "other_url": other_url,
        "other_label": other_label,
    }
    return TemplateResponse(request, "admin/exams/item_analysis.html", context)


def _xlsx(analysis: ItemAnalysis, name: str) -> HttpResponse:
    response = HttpResponse(analysis_xlsx(analysis), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@never_cache
@require_safe
def sitting_analysis(request, object_id):
    """试题分析 of one sitting."""
    sitting = _sitting(request, object_id)
    return _page(
        request,
        sitting_item_analysis(sitting=sitting),
        xlsx_url=reverse("exams-sitting-analysis-xlsx", args=[sitting.pk]),
        other_url=reverse("exams-exam-analysis", args=[sitting.exam_id]),
        other_label=_("本考试全部在线场次"),
    )


@never_cache
@require_safe
def sitting_analysis_xlsx(request, object_id):
    sitting = _sitting(request, object_id)
    return _xlsx(sitting_item_analysis(sitting=sitting), f"item-analysis-sitting-{sitting.pk}.xlsx")


@never_cache
@require_safe
def exam_analysis(request, object_id):
    """试题分析 of an exam across its online sittings."""
    exam = _exam(request, object_id)
    return _page(
        request,
        exam_item_analysis(exam=exam),
        xlsx_url=reverse("exams-exam-analysis-xlsx", args=[exam.pk]),
        other_url="",
        other_label="",
    )


@never_cache
@require_safe
def exam_analysis_xlsx(request, object_id):
    exam = _exam(request, object_id)
    return _xlsx(exam_item_analysis(exam=exam), f"item-analysis-exam-{exam.pk}.xlsx")


# admin_view: the admin's own login redirect for anyone not staff, and its headers.
sitting_analysis_view = admin.site.admin_view(sitting_analysis)
sitting_analysis_xlsx_view = admin.site.admin_view(sitting_analysis_xlsx)
exam_analysis_view = admin.site.admin_view(exam_analysis)
exam_analysis_xlsx_view = admin.site.admin_view(exam_analysis_xlsx)
