"""The served OpenAPI schema follows the rules a generated client needs (core.schema)."""

from __future__ import annotations

import json

import pytest

JSON = "application/json"
MULTIPART = "multipart/form-data"
WRITE = {"post", "put", "patch"}


@pytest.fixture
def served(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response, json.loads(response.content)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _non_ascii_titles(node, where="#"):
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and not title.isascii():
            yield where
        for key, value in node.items():
            yield from _non_ascii_titles(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _non_ascii_titles(value, f"{where}/{i}")


def test_the_schema_is_openapi_31_with_an_ascii_title_and_a_plain_file_name(served):
    # given
    response, schema = served

    # when
    disposition = response["Content-Disposition"]

    # then
    assert schema["openapi"].startswith("3.1")
    assert schema["info"]["title"].isascii()
    assert "执法人员培训与持证管理" in schema["info"]["description"]
    assert disposition == 'attachment; filename="schema.json"'
    assert "nullable" not in json.dumps(schema)


def test_request_bodies_are_json_unless_a_file_is_uploaded(served):
    # given
    _, schema = served

    # when
    media = {
        (method, path): list(operation["requestBody"]["content"])
        for path, method, operation in _operations(schema)
        if "requestBody" in operation
    }

    # then
    uploads = {
        ("post", "/api/v1/inspectors/import/"),
        ("post", "/api/v1/sittings/{id}/results/import/"),
        ("post", "/api/v1/questions/import/"),
    }
    for key, types in media.items():
        assert types == ([MULTIPART] if key in uploads else [JSON]), key
    assert ("post", "/api/v1/auth/token/") in media


def test_the_export_download_is_binary_in_each_media_type(served):
    # given
    _, schema = served

    # when
    content = schema["paths"]["/api/v1/exports/{id}/download/"]["get"]["responses"]["200"]["content"]

    # then
    assert list(content) == [
        "application/octet-stream",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
    ]
    for media in content.values():
        assert media["schema"] == {"type": "string", "format": "binary"}


def test_id_path_parameters_are_integers_and_names_are_ascii(served):
    # given
    _, schema = served

    # when
    ids = [
        parameter["schema"]
        for _, _, operation in _operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"] == "id"
    ]

    # then
    assert ids and all(s == {"type": "integer"} for s in ids)
    assert all(name.isascii() for name in schema["components"]["schemas"])
    assert list(_non_ascii_titles(schema)) == []


def test_nullable_references_validate_null(served):
    # given
    _, schema = served

    # when
    batch = schema["components"]["schemas"]["SittingOutput"]["properties"]["batch"]

    # then
    assert {"type": "null"} in batch["oneOf"]


def test_errors_are_documented_with_the_envelope_and_public_operations_need_no_auth(served):
    # given
    _, schema = served
    public = {
        ("post", "/api/v1/auth/token/"),
        ("get", "/api/v1/certificates/verify/{number}/"),
        ("get", "/api/v1/register/"),
        ("get", "/api/v1/register/changes/"),
    }

    # when
    operations = list(_operations(schema))

    # then
    assert schema["components"]["schemas"]["ErrorEnvelope"]["required"] == ["code", "detail", "fields"]
    for path, method, operation in operations:
        responses = operation["responses"]
        errors = {status for status in responses if status[0] in "45"}
        for status in errors:
            ref = responses[status]["content"][JSON]["schema"]["$ref"].rsplit("/", 1)[-1]
            # the envelope itself, or one that extends it (an upload's refusal adds its rows)
            required = set(schema["components"]["schemas"][ref]["required"])
            assert {"code", "detail", "fields"} <= required, (method, path, status)
        if (method, path) in public:
            assert operation["security"] == []
            assert "429" in errors
        else:
            assert {"401", "403"} <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        if method in WRITE:
            assert "400" in errors, (method, path)
        # every operation may answer 500 (a bug) and 503 (a dependency down, with Retry-After)
        assert {"500", "503"} <= errors, (method, path)
        assert "Retry-After" in responses["503"]["headers"], (method, path)
    assert "409" in schema["paths"]["/api/v1/batches/{id}/enroll/"]["post"]["responses"]


def test_an_api_path_no_route_matches_answers_with_the_envelope(client, db):
    # given
    path = "/api/v1/batches/abc/"

    # when
    response = client.get(path)

    # then
    assert response.status_code == 404
    assert response["Content-Type"] == JSON
    assert response.json() == {"code": "not_found", "detail": "未找到。", "fields": {}}


def test_other_paths_no_route_matches_keep_the_page(client, db):
    # when
    response = client.get("/no-such-page/")

    # then
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
