"""Reads that run on every request, their SQL built once per process and connection.

Building a queryset's SQL (the joins of ``select_related``, every model's columns, the
converters) costs far more CPU than the database spends answering a one-row read by a unique
key, and the API token's read and the batch read of an enrollment run on every call.
``CompiledRead`` builds its queryset once with stand-in values, finds them among the
statement's parameters and runs the same SQL with the real values in their places. It gives the
model instances iterating the queryset would (``select_related`` objects and annotations
included, converters applied), through Django's own row-to-object machinery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators


class CompiledRead:
    """``build(**stand_ins)`` is a queryset of model instances whose SQL does not depend on the
    values given (filters by equality, no ``__in`` lists or LIKE patterns made of them); each
    stand-in must reach the statement as a parameter of its own, unchanged. ``rows(**values)``
    runs it with ``values`` in their places."""

    def __init__(self, build: Callable[..., QuerySet], **stand_ins: Any):
        if not stand_ins:
            raise ValueError("a compiled read needs at least one stand-in value")
        self.build = build
        self.stand_ins = stand_ins
        # Plans per thread and database alias (a connection belongs to one thread, and its
        # backend decides the SQL and the converters); they go with the thread.
        self._local = threading.local()

    def _compile(self, connection) -> tuple:
        qs = self.build(**self.stand_ins)
        if qs._iterable_class is not ModelIterable or qs._prefetch_related_lookups or qs._known_related_objects:
            raise TypeError("a compiled read yields plain model instances (no values(), prefetch or related manager)")
        compiler = qs.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = []
        for name, stand_in in self.stand_ins.items():
            found = [i for i, p in enumerate(params) if type(p) is type(stand_in) and p == stand_in]
            if not found:
                raise RuntimeError(f"the stand-in for {name!r} is not a parameter of the statement")
            slots += [(i, name) for i in found]
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return (
            connection,
            sql,
            tuple(params),
            slots,
            list(compiler.get_converters([column[0] for column in select[: compiler.col_count]]).items()),
            klass_info["model"],
            (start, end, [column[0].target.attname for column in select[start:end]]),
            get_related_populators(klass_info, select, connection.alias),
            dict(compiler.annotation_col_map or {}),
        )

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[Model]:
        """The instances the queryset built with ``values`` would give, in its order."""
        connection = connections[using]
        plans = self._local.__dict__.setdefault("plans", {})
        plan = plans.get(using)
        if plan is None or plan[0] is not connection:
            plan = plans[using] = self._compile(connection)
        _connection, sql, params, slots, converters, model, (start, end, attnames), populators, annotations = plan
        params = list(params)
        for i, name in slots:
            params[i] = values[name]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        if converters:
            fetched = list(map(list, fetched))
            for row in fetched:  # as SQLCompiler.apply_converters
                for position, (functions, expression) in converters:
                    for convert in functions:
                        row[position] = convert(row[position], expression, connection)
        out = []
        for row in fetched:
            obj = model.from_db(connection.alias, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for attr, position in annotations.items():
                setattr(obj, attr, row[position])
            out.append(obj)
        return out

    def first(self, using: str = DEFAULT_DB_ALIAS, **values: Any) -> Model | None:
        found = self.rows(using, **values)
        return found[0] if found else None
