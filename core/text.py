"""How numbers read in messages and pages."""

from __future__ import annotations

from decimal import Decimal


def plain_number(value: Decimal | int | float | str) -> str:
    """A number as people write it: its shortest text, never in exponent notation
    (Decimal("40").normalize() prints as 4E+1; this prints 40, 40.5, 0.5)."""
    return format(Decimal(str(value)).normalize(), "f")
