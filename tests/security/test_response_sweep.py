"""Every GET operation of the schema, for every role, answers as the schema documents it.

For each role of the world (tests/security/conftest.py), every GET path of ``/api/schema/``
is called with real rows in its path parameters (some inside the caller's scope, some not):
the status must be documented for that operation, and a JSON body must validate against the
documented schema (OpenAPI 3.1 is JSON Schema 2020-12), errors against the ErrorEnvelope.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from tests.security.conftest import ROLES

# /api/v1/<resource>/{...}: the world's kind whose rows fill the path parameter
KINDS = {
    "inspectors": "inspector",
    "courses": "course",
    "batches": "batch",
    "enrollments": "enrollment",
    "hours-policies": "policy",
    "exams": "exam",
    "sittings": "sitting",
    "results": "result",
    "certificates": "certificate",
    "exports": "export_job",
    "regions": "region",
    "applications": "application",
    "attempts": "attempt",
    "questions": "question",
    "checkin": "batch",  # /api/v1/checkin/batches/{batch_id}/
}
ROWS_PER_KIND = 4


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _paths(world, schema):
    """(template, concrete path) for every GET operation, path parameters filled with rows."""
    for template, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        if "{" not in template:
            yield template, template
            continue
        resource = template.split("/")[3]
        rows = list(world.objects[KINDS[resource]].values())[:ROWS_PER_KIND]
        for row in rows:
            if "{number}" in template:
                yield template, template.replace("{number}", row.number)
            elif "{code}" in template:
                yield template, template.replace("{code}", row.code)
            else:
                yield template, re.sub(r"\{\w*id\}", str(row.pk), template)


@pytest.mark.parametrize("role", ROLES)
def test_every_get_answer_matches_the_schema(world, role, db):
    # given
    client = APIClient()
    client.raise_request_exception = False
    if world.users[role] is not None:
        client.force_login(world.users[role], backend="django.contrib.auth.backends.ModelBackend")
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)

    # when
    problems = []
    checked = 0
    for template, path in _paths(world, schema):
        cache.clear()  # the public verify is rate-limited per client
        response = client.get(path)
        responses = schema["paths"][template]["get"]["responses"]
        documented = responses.get(str(response.status_code))
        if documented is None:
            problems.append(f"{path}: {response.status_code} not documented ({sorted(responses)})")
            continue
        if not response["Content-Type"].startswith("application/json"):
            continue
        body_schema = {**documented["content"]["application/json"]["schema"], "components": schema["components"]}
        for error in Draft202012Validator(body_schema).iter_errors(response.json()):
            problems.append(f"{path} [{response.status_code}]: {error.message} at {list(error.absolute_path)}")
        checked += 1

    # then
    assert problems == []
    assert checked > 40
