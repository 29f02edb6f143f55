"""The admin's "打印执法证" action on the certificate list: a page to choose the layout, then
the PDF from ``exams.card.certificate_cards_print`` (the one service that prints)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import describe
from core.errors import DomainError

from . import card


class PrintCardsForm(forms.Form):
    layout = forms.ChoiceField(label=gettext_lazy("版式"), widget=forms.RadioSelect, initial=card.LAYOUT_A4)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].choices = card.layout_choices()


def print_cards(model_admin, request, queryset):
    certificates = list(
        queryset.select_related("holder", "holder__region", "region").order_by("holder__region__path", "number")
    )
    if len(certificates) > card.MAX_CARDS:
        messages.error(request, _("一次最多打印 %(n)d 张执法证。") % {"n": card.MAX_CARDS})
        return None
    form = PrintCardsForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        try:
            pdf = card.certificate_cards_print(
                actor=request.user, certificates=certificates, layout=form.cleaned_data["layout"], request=request
            )
        except DomainError as exc:
            messages.error(request, describe(exc))
            return None
        return pdf_response(pdf, len(certificates))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("打印执法证"),
        "certificates": certificates,
        "not_printable": [c for c in certificates if not card.card_printable(c)],
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/exams/certificate/print_cards.html", context)


def pdf_response(pdf: bytes, count: int) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"cards-{timezone.localdate():%Y%m%d}-{count}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response
