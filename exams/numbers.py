"""Certificate numbers: ``PP`` (province code) + ``YYYY`` (year of issue) + 6-digit serial
+ a check character (ISO 7064 MOD 11-2, the scheme of the ID card: 0-9 or X).

``13 2025 000123 3`` is printed 冀应急执字第1320250001233号. A mistyped digit or two
swapped neighbours changes the check character, so a verifier rejects it before lookup.
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^\d{12}[\dX]$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘx", "0123456789XXX")


def check_char(body: str) -> str:
    """ISO 7064 MOD 11-2 over any number of digits."""
    total = 0
    for digit in body:
        total = (total + int(digit)) * 2 % 11
    value = (12 - total) % 11
    return "X" if value == 10 else str(value)


def make(*, province_prefix: str, year: int, serial: int) -> str:
    body = f"{province_prefix[:2]}{year:04d}{serial:06d}"
    return body + check_char(body)


def normalize(raw) -> str:
    text = "" if raw is None else str(raw)
    text = text.translate(_FULLWIDTH).upper()
    return re.sub(r"[\s\-第号冀应急执字]", "", text)


def is_valid(raw) -> bool:
    number = normalize(raw)
    return bool(_SHAPE.match(number)) and check_char(number[:-1]) == number[-1]


def serial_of(number: str) -> int:
    return int(number[6:12])


# The words around the number on the card, the register and every printed paper.
PRINTED_PREFIX = "冀应急执字第"
PRINTED_SUFFIX = "号"


def printed(number: str) -> str:
    """``1320250001233`` -> ``冀应急执字第1320250001233号`` (``normalize`` reads it back)."""
    return f"{PRINTED_PREFIX}{number}{PRINTED_SUFFIX}"
