"""Admin helpers every app's admin shares: a refused service call becomes a form error."""

from __future__ import annotations

from django import forms

from .errors import DomainError


def describe(exc: DomainError) -> str:
    """The message of a domain error; when it only says "invalid", the field messages say why."""
    if not exc.fields or exc.detail != str(type(exc).default_detail):
        return exc.detail
    details = [str(m) for msgs in exc.fields.values() for m in (msgs if isinstance(msgs, list) else [msgs])]
    return "；".join([exc.detail, *details])


class Refused(Exception):
    """A service said no while an admin form was saved; ``__cause__`` is the domain error."""


def _messages(value) -> list[str]:
    return [str(m) for m in (value if isinstance(value, list | tuple) else [value])]


class ServiceFormMixin:
    """Admin forms whose save calls a service (``call_service``). When the service refuses,
    the whole save is rolled back (the admin's transaction) and the same form is shown
    again, filled in as the user left it, with the refusal as its errors: on the fields the
    service named, otherwise above the form."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as refused:
            # The second pass validates the same POST; the form's clean() adds the refusal,
            # so the admin re-renders instead of saving.
            request._service_refusal = refused.__cause__
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form_class
        return refused_form(form_class, refusal)

    def call_service(self, request, service, **kwargs):
        try:
            return service(**kwargs)
        except DomainError as exc:
            raise Refused(describe(exc)) from exc


def refused_form(form_class: type[forms.BaseForm], refusal: DomainError) -> type[forms.BaseForm]:
    """``form_class`` whose validation also carries ``refusal``: its field messages on the
    fields of the form, the rest (or the whole message) as a non-field error."""

    class RefusedForm(form_class):
        def clean(self):
            cleaned = super().clean()
            placed = False
            for name, value in (refusal.fields or {}).items():
                if name in self.fields:
                    for message in _messages(value):
                        self.add_error(name, message)
                    placed = True
            if not placed or refusal.detail != str(type(refusal).default_detail):
                self.add_error(None, describe(refusal) if not placed else refusal.detail)
            return cleaned

    RefusedForm.__name__ = form_class.__name__
    return RefusedForm
