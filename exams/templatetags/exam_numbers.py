"""``{{ value|plain }}``: a score or mark as people write it (100, 60.5; never 1E+2), by
``core.text.plain_number``; blank for None."""

from django import template

from core.text import plain_number

register = template.Library()


@register.filter
def plain(value) -> str:
    if value is None or value == "":
        return ""
    try:
        return plain_number(value)
    except (ArithmeticError, ValueError, TypeError):
        return str(value)
