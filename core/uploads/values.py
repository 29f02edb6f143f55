"""Cell values as the imports keep them: text without control characters, numbers without
exponents, NaN or infinities, full-width digits made ASCII. Each helper raises
``CellValueError`` (a ValueError) with a message for the cell, never anything else."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

# C0 and C1 controls (tab, line feed and carriage return pass: a cell may hold line breaks),
# lone surrogates and the two non-characters: PostgreSQL refuses NUL in text, and none of
# them is anything a person typed on purpose.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．＋－", "0123456789.+-")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_MAX_NUMBER_CHARS = 30


class CellValueError(ValueError):
    """What is wrong with one cell, in words for the person who typed it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as U+XXXX, or None."""
    match = _CONTROL.search(text)
    return f"U+{ord(match[0]):04X}" if match else None


def text_value(value, *, max_length: int | None = None) -> str:
    """A text cell: ``cell_text(value)``, refused when it holds a control character (NUL,
    _x0000_ once decoded, ...) or is longer than ``max_length``."""
    text = cell_text(value)
    bad = control_character(text)
    if bad:
        raise CellValueError(_("含有不可见的控制字符（%(c)s），请删除后重新填写") % {"c": bad})
    if max_length is not None and len(text) > max_length:
        raise CellValueError(_("内容过长（最多%(n)d个字符）") % {"n": max_length})
    return text


def ascii_digits(text: str) -> str:
    """Full-width digits, point and signs as ASCII (what an input method often types)."""
    return text.translate(_FULL_WIDTH)


def decimal_value(value, *, places: int | None = None) -> Decimal | None:
    """A number cell: None when blank; a finite Decimal otherwise. Text must be plain digits
    (full-width ones are taken as ASCII) with at most one point and a sign: no exponent
    (4E+1), no NaN/Infinity, no other scripts' digits, no thousands separators. ``places``
    refuses more decimals than that."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellValueError(_("不是数字"))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CellValueError(_("“%(t)s”不是数字") % {"t": str(value)})
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise CellValueError(_("“%(t)s”不是数字") % {"t": str(value)[:40]})
        number = value
    else:
        text = cell_text(value)
        if text == "":
            return None
        bad = control_character(text)
        if bad:
            raise CellValueError(_("含有不可见的控制字符（%(c)s），请删除后重新填写") % {"c": bad})
        plain = ascii_digits(text).replace(" ", "")
        if _EXPONENT.fullmatch(plain):
            raise CellValueError(_("“%(t)s”是科学计数法，请直接填写数字") % {"t": text[:40]})
        if not _PLAIN_NUMBER.fullmatch(plain) or len(plain) > _MAX_NUMBER_CHARS:
            raise CellValueError(_("“%(t)s”不是数字") % {"t": text[:40]})
        number = Decimal(plain)
    if places is not None:
        try:
            exact = number == number.quantize(Decimal(1).scaleb(-places))
        except InvalidOperation:  # more digits than the context holds
            raise CellValueError(_("数值过大")) from None
        if not exact:
            raise CellValueError(_("最多保留%(n)d位小数") % {"n": places})
    return number
