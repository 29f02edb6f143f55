"""Serializer helpers shared by the apps."""

from __future__ import annotations

import copy

# Ids are bounded by what the columns hold: past that, a lookup is a 500 on SQLite
# (OverflowError) and PostgreSQL (out of range), not a 400.
ID_MAX = 2**63 - 1  # BigAutoField


# For a model serializer: its fields are built from the model once per class, then each
# instance gets a copy, as a plain ``Serializer`` copies its declared fields (DRF's
# ``get_fields`` hook). Building a model serializer's fields (and its nested ones') cost more
# than the write on the enroll endpoint, which every enrollment of a batch goes through. Only
# for serializers whose fields do not depend on the instance or the context. (No docstring:
# the schema would take it as the description of every serializer using this.)
class FieldsBuiltOnce:
    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built")  # this class's own, not a parent's
        if built is None:
            fields = super().get_fields()
            cls._fields_built = copy.deepcopy(fields)
            return fields
        return copy.deepcopy(built)
