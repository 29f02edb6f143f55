"""The changes an event row records: ``{field: [old, new]}``, values as plain JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.db import models

from .text import plain_number


def plain(value):
    """A field value as JSON: a model by its natural key (``code``) or primary key,
    dates as ISO text, decimals as their shortest text (4 and 4.0 are the same 4)."""
    if isinstance(value, models.Model):
        return getattr(value, "code", None) or value.pk
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_number(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict:
    """The plain values of ``fields`` of ``obj`` (a foreign key by its object)."""
    return {f: plain(getattr(obj, f)) for f in fields}


def diff(before: dict, after: dict, *, mask: dict[str, Callable[[str], str]] | None = None) -> dict[str, list]:
    """``{field: [old, new]}`` for every field whose value differs. A field in ``mask``
    (personal data) is recorded as changed with both values masked."""
    mask = mask or {}
    changes = {}
    for field, new in after.items():
        old = before.get(field)
        if old == new:
            continue
        if field in mask:
            old, new = (mask[field](v) if v else v for v in (old, new))
        changes[field] = [old, new]
    return changes
