"""HEAD wherever GET is allowed: every GET endpoint the permission matrix visits (the API from
the schema, the pages and admin views from the URL configuration, each filled with every
object of its kind and a missing one), as an anonymous visitor, an inspector and a provincial
admin, answers HEAD with the status GET gets and no body (HTTP: HEAD is GET without the body;
a 405 there breaks link checkers, monitors and proxies that probe with HEAD).

Views written as functions take ``require_safe`` (GET and HEAD), not ``require_GET``.
The same is checked over the wire, under gunicorn, in tests/e2e/test_production_static.py.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from tests.security.conftest import ROLES
from tests.security.test_permission_matrix import _client, concrete, discovered, expectations

ANON, INSP, _COUNTY, _OTHER, _CITY, PROV = ROLES


@pytest.fixture
def _no_throttling(settings):
    settings.VERIFY_RATE = None
    cache.clear()
    yield
    cache.clear()


def _status_and_body(response) -> tuple[int, bytes]:
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return response.status_code, body


@pytest.mark.parametrize("role", [ANON, INSP, PROV])
def test_head_answers_as_get_without_a_body(world, db, role, _no_throttling):
    table = expectations()
    client = _client(world, role)
    problems: list[str] = []
    visited = 0
    for method, template in sorted(discovered()):
        if method != "GET" or template.endswith("/logout/"):
            continue
        expect = table[(method, template)]
        query = expect.query(world) if callable(expect.query) else expect.query
        for _key, path in concrete(world, template, expect):
            with transaction.atomic():
                get_status, _ = _status_and_body(client.get(path, query or {}))
                transaction.set_rollback(True)
            with transaction.atomic():
                head_status, head_body = _status_and_body(client.head(path, query or {}))
                transaction.set_rollback(True)
            visited += 1
            if head_status != get_status:
                problems.append(f"HEAD {path}: {head_status}, GET answers {get_status}")
            if head_body:
                problems.append(f"HEAD {path}: a body of {len(head_body)} bytes")
    assert visited > 50
    assert not problems, f"{len(problems)} problem(s) as {role}:\n" + "\n".join(problems)
