"""Resident identity card numbers (GB 11643-1999): parse, validate, mask."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Full-width digits and X come in from spreadsheets typed with a Chinese IME.
_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘX", "0123456789XXX")


class IdNumberError(ValueError):
    """The text is not a valid 18-character ID number; the message says why."""


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: dt.date
    gender: str  # "male" / "female"

    @property
    def region_code(self) -> str:
        return self.value[:6]


def check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw) -> str:
    text = "" if raw is None else str(raw)
    return text.translate(_FULLWIDTH).strip().replace(" ", "").upper()


def parse(raw) -> IdNumber:
    """Normalise and validate; raise IdNumberError with a reason a person can act on."""
    value = normalize(raw)
    if not value:
        raise IdNumberError(_("身份证号为空"))
    if len(value) != 18:
        raise IdNumberError(_("身份证号应为18位，实际为%(n)d位") % {"n": len(value)})
    if not value[:17].isdigit() or not value[:17].isascii():
        raise IdNumberError(_("身份证号前17位必须是数字"))
    if not (value[17].isdigit() and value[17].isascii()) and value[17] != "X":
        raise IdNumberError(_("身份证号第18位必须是数字或X"))
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError(_("身份证号中的出生日期无效")) from None
    if birth.year < 1900 or birth > dt.date.today():
        raise IdNumberError(_("身份证号中的出生日期无效"))
    expected = check_char(value[:17])
    if value[17] != expected:
        raise IdNumberError(_("身份证号校验位错误（应为 %(c)s）") % {"c": expected})
    gender = "male" if int(value[16]) % 2 else "female"
    return IdNumber(value=value, birth_date=birth, gender=gender)


def is_valid(raw) -> bool:
    try:
        parse(raw)
    except IdNumberError:
        return False
    return True


def mask(value: str) -> str:
    """``130102199001011234`` -> ``1301**********234X``-style: keep 4 head and 4 tail."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def make(first17: str) -> str:
    """Complete 17 digits with their check character (demo data and tests)."""
    return first17 + check_char(first17)
