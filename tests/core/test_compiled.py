"""core.compiled.CompiledRead: built once per connection, it gives what iterating its
queryset gives (select_related objects, empty relations, annotations), with the values of
each call, and refuses a queryset it cannot run that way."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Value
from django.test.utils import CaptureQueriesContext

from core.compiled import CompiledRead
from personnel.models import Inspector
from tests.factories import InspectorFactory, RegionAdminFactory, UserFactory


def _by_pk(pk):
    return Inspector.objects.select_related("region", "region__parent", "user").filter(pk=pk).order_by()


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_it_gives_what_the_queryset_gives_with_each_calls_values(regions):
    # given
    linked = InspectorFactory(region=regions["changan"], user=UserFactory(username="linked"))
    alone = InspectorFactory(region=regions["province"])  # no user, a region without a parent
    read = CompiledRead(_by_pk, pk=-17)

    for inspector in (linked, alone, linked):
        # when
        found = read.rows(pk=inspector.pk)
        # then
        (expected,) = _by_pk(inspector.pk)
        (got,) = found
        assert _fields(got) == _fields(expected)
        assert _fields(got.region) == _fields(expected.region)
        with CaptureQueriesContext(connection) as queries:
            parent, user = got.region.parent, got.user
        assert len(queries) == 0  # loaded with the row, as select_related loads them
        assert (parent and parent.pk, user and user.pk) == (
            expected.region.parent_id,
            expected.user_id,
        )
        assert got._state.adding is False and got._state.db == "default"
    assert read.first(pk=10**12) is None


def test_it_is_built_once_per_connection_and_sends_one_statement(regions):
    built = []

    def build(pk):
        built.append(pk)
        return _by_pk(pk)

    read = CompiledRead(build, pk=-17)
    people = [InspectorFactory(region=regions["changan"]) for _ in range(3)]

    with CaptureQueriesContext(connection) as queries:
        found = [read.first(pk=p.pk) for p in people]

    assert [f.pk for f in found] == [p.pk for p in people]
    assert built == [-17]
    assert len(queries) == 3


def test_a_reverse_one_to_one_that_is_missing_is_loaded_as_none(regions):
    # given: one user administers a region, the other does not
    admin = RegionAdminFactory(user__username="admin", region=regions["sjz"]).user
    plain = UserFactory(username="plain")
    model = type(admin)
    read = CompiledRead(
        lambda pk: model.objects.select_related("region_admin__region", "inspector").filter(pk=pk), pk=-17
    )

    # when
    got_admin, got_plain = read.first(pk=admin.pk), read.first(pk=plain.pk)

    # then: nothing is read again to learn either
    with CaptureQueriesContext(connection) as queries:
        assert got_admin.region_admin.region.code == regions["sjz"].code
        assert not hasattr(got_plain, "region_admin")
        assert not hasattr(got_admin, "inspector")
    assert len(queries) == 0


def test_annotations_come_with_the_instances(regions):
    inspector = InspectorFactory(region=regions["changan"])
    read = CompiledRead(lambda pk: Inspector.objects.annotate(tag=Value("x")).filter(pk=pk), pk=-17)

    assert read.first(pk=inspector.pk).tag == "x"


def test_a_stand_in_missing_from_the_statement_is_refused(regions):
    read = CompiledRead(lambda pk: Inspector.objects.filter(pk__gt=0), pk=-17)

    with pytest.raises(RuntimeError, match="stand-in"):
        read.rows(pk=1)


def test_values_querysets_are_refused(regions):
    read = CompiledRead(lambda pk: Inspector.objects.filter(pk=pk).values("name"), pk=-17)

    with pytest.raises(TypeError):
        read.rows(pk=1)
