"""Template helpers for accessible admin markup."""

from django import template

register = template.Library()


@register.filter
def named_by_column(bound_field):
    """A tabular inline's input, named by its column heading (``aria-label``): a table's
    heading does not label the input under it, and an input without a name fails WCAG 2.0
    1.3.1 and 4.1.2 (axe's ``label``). Hidden inputs and inputs named already are left as they are."""
    widget = bound_field.field.widget
    if widget.is_hidden or "aria-label" in widget.attrs:
        return bound_field
    return bound_field.as_widget(attrs={"aria-label": str(bound_field.label)})
