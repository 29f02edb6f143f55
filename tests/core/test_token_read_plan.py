"""The API token's read (every API call makes it) finds the user's inspector row by its unique
index on PostgreSQL, whatever the size of the inspector table: with a LIMIT 1 the planner priced
the read as stopping at its first row and scanned every inspector on every call."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from core.tokens import _token_with_user, api_token_authenticate, api_token_issue, key_hash
from personnel import idcard
from personnel.models import Inspector
from tests.factories import InspectorFactory, RegionAdminFactory

pytestmark = [pytest.mark.django_db, pytest.mark.services("db")]


def test_the_token_read_joins_the_inspector_by_its_index(regions):
    province = regions["province"]
    # Many inspectors without a user account (most of them, as in service), then statistics.
    people = InspectorFactory.build_batch(3000, region=province)
    for person in people:  # what save() derives from the ID number; bulk_create does not
        parsed = idcard.parse(person.national_id)
        person.gender, person.birth_date = parsed.gender, parsed.birth_date
    Inspector.objects.bulk_create(people)
    admin = RegionAdminFactory(region=province).user
    key = api_token_issue(user=admin)[1]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_apitoken, auth_user, personnel_regionadmin, personnel_region, personnel_inspector")
        sql, params = _token_with_user(key_hash(key), tuple(settings.API_TOKEN_USER_RELATED)).query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on personnel_inspector" not in plan, plan
    assert api_token_authenticate(key=key).user == admin
