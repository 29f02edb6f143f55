"""How numbers and lists read in messages and pages."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.utils.translation import gettext


def plain_number(value: Decimal | int | float | str) -> str:
    """A number as people write it: its shortest text, never in exponent notation
    (Decimal("40").normalize() prints as 4E+1; this prints 40, 40.5, 0.5)."""
    return format(Decimal(str(value)).normalize(), "f")


def name_with_points(name: str, points: Decimal | int | float | str) -> str:
    """A part and its full marks, in the brackets of the active language: 通用法律知识（40）,
    General law (40)."""
    return gettext("%(name)s（%(points)s）") % {"name": name, "points": plain_number(points)}


def enumeration(items: Iterable[str]) -> str:
    """Items listed with the active language's list comma: 甲、乙 or A, B."""
    return gettext("、").join(items)
