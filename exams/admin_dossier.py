"""一人一档 in the admin: the inspector's change page with their whole file below the roster
fields and history, and two printable A4 pages: 培训档案 (the whole file) and 学时证明 (a
year's hours, to sign and seal).

The file reads trainings and exams, which personnel may not import; so the exams app
replaces the inspector's admin by a subclass of ``personnel.admin.InspectorModelAdmin``
(everything it does stays) that adds the file. Imported at the end of ``exams/admin.py``.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from personnel import access
from personnel.admin import InspectorModelAdmin
from personnel.models import Inspector, Region

from .dossier import inspector_dossier

YEARS = range(2000, 2101)


class InspectorDossierAdmin(InspectorModelAdmin):
    change_form_template = "admin/personnel/inspector/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("<int:object_id>/dossier/", view(self.dossier_view), name="personnel_inspector_dossier"),
            path(
                "<int:object_id>/hours-certificate/",
                view(self.hours_certificate_view),
                name="personnel_inspector_hours_certificate",
            ),
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        if str(object_id).isdigit():
            try:
                dossier = inspector_dossier(actor=request.user, inspector_id=object_id)
            except NotFound:
                pass  # the admin's own answer for an object it cannot show
            else:
                context.update(_file_context(dossier, object_id))
        return super().change_view(request, object_id, form_url, context)

    # the printable pages

    def _dossier_for(self, request, object_id, **kwargs):
        if not access.scope_for(request.user).is_admin:
            raise PermissionDenied
        try:
            return inspector_dossier(actor=request.user, inspector_id=object_id, **kwargs)
        except NotFound:
            raise Http404 from None

    def dossier_view(self, request, object_id):
        dossier = self._dossier_for(request, object_id)
        context = {
            **_file_context(dossier, object_id),
            "title": _("%(name)s 培训档案") % {"name": dossier.inspector.name},
            "issuer": _issuing_region(request.user),
        }
        return TemplateResponse(request, "exams/print/dossier.html", context)

    def hours_certificate_view(self, request, object_id):
        raw = request.GET.get("year", "").strip()
        if raw:
            if not raw.isascii() or not raw.isdigit() or int(raw) not in YEARS:
                return HttpResponseBadRequest(
                    _("年度应为 %(low)d 至 %(high)d 之间的四位数字。") % {"low": YEARS[0], "high": YEARS[-1]},
                    content_type="text/plain; charset=utf-8",
                )
            year = int(raw)
        else:
            year = timezone.localdate().year
        dossier = self._dossier_for(request, object_id, years=[year])
        context = {
            "dossier": dossier,
            "inspector": dossier.inspector,
            "training_year": dossier.year(year),
            "year": year,
            "title": _("%(name)s %(year)d 年度学时证明") % {"name": dossier.inspector.name, "year": year},
            "issuer": _issuing_region(request.user),
        }
        return TemplateResponse(request, "exams/print/hours_certificate.html", context)


def _file_context(dossier, object_id) -> dict:
    return {
        "dossier": dossier,
        "inspector": dossier.inspector,
        "dossier_url": reverse("admin:personnel_inspector_dossier", args=[object_id]),
        "hours_certificate_url": reverse("admin:personnel_inspector_hours_certificate", args=[object_id]),
    }


def _issuing_region(user) -> Region | None:
    """Who issues a printed page: the admin's own region (the province for a superuser)."""
    scope = access.scope_for(user)
    if scope.region_id is not None:
        return Region.objects.filter(pk=scope.region_id).first()
    return Region.objects.filter(parent__isnull=True).order_by("path").first()


admin.site.unregister(Inspector)
admin.site.register(Inspector, InspectorDossierAdmin)
