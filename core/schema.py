"""OpenAPI postprocessing: the served schema made fit for generated clients.

drf-spectacular describes what DRF could accept; a generated client needs what the API
means. One hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) makes these rules hold:

- request bodies are JSON only, unless a file is uploaded (multipart only there);
- downloads are binary (``type: string, format: binary``) in every media type they have,
  led by ``application/octet-stream`` so a generator reads them as bytes;
- ``id`` path parameters are integers;
- names a generator turns into identifiers are ASCII: a non-ASCII ``title`` becomes the
  ``description`` (Chinese stays readable there), and component names must be ASCII;
- every error status an operation can answer is documented with the one ``ErrorEnvelope``
  ``{code, detail, fields}`` (core.errors.exception_handler);
- nullable fields say ``null`` in their type (OpenAPI 3.1);
- the public operations (token login, certificate verify, the public register) say ``security: []``.
"""

from __future__ import annotations

import re

from drf_spectacular.views import SpectacularAPIView

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
OCTET = "application/octet-stream"

ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every API error: a machine code, a readable message, per-field messages.",
    "properties": {
        "code": {"type": "string", "description": "Machine-readable error code, e.g. not_found."},
        "detail": {"type": "string", "description": "Human-readable message (Chinese)."},
        "fields": {
            "type": "object",
            "description": "Messages per input field; empty when the error is not about a field.",
            "additionalProperties": {},
        },
    },
    "required": ["code", "detail", "fields"],
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input.",
    "401": "Not authenticated (missing, invalid, expired or revoked token).",
    "403": "Authenticated but not allowed.",
    "404": "Not found, or outside the caller's scope.",
    "409": "Refused by a domain rule (state conflict).",
    "429": "Too many requests.",
    "500": "Server error (a bug; the details are in the server's log, not in the answer).",
    "503": "A dependency (database, cache or broker) is unreachable; retry after Retry-After seconds.",
}
# Answers that carry a Retry-After header (seconds).
RETRY_AFTER = {"429", "503"}

# Operations that need no authentication (by operationId).
PUBLIC_OPERATIONS = {"v1_auth_token_create", "certificates_verify", "register_list", "register_changes"}
# Operations whose throttle can answer 429.
THROTTLED_OPERATIONS = {"v1_auth_token_create", "certificates_verify", "register_list", "register_changes"}

_BINARY = {"type": "string", "format": "binary"}


def _has_binary(schema, components, seen=None) -> bool:
    """Whether a request schema carries a file (``format: binary``), following $refs."""
    seen = seen if seen is not None else set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return False
            seen.add(name)
            return _has_binary(components.get(name, {}), components, seen)
        if schema.get("format") == "binary":
            return True
        return any(_has_binary(v, components, seen) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_binary(v, components, seen) for v in schema)
    return False


def _ascii_titles(node) -> None:
    """Move every non-ASCII ``title`` to ``description`` (generators name classes by title)."""
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and not title.isascii():
            del node["title"]
            node.setdefault("description", title)
        for value in node.values():
            _ascii_titles(value)
    elif isinstance(node, list):
        for value in node:
            _ascii_titles(value)


def _nullable_31(node) -> None:
    """OpenAPI 3.1 has no ``nullable``: state ``null`` in the type (DRF's paginator adds it)."""
    if isinstance(node, dict):
        one_of = node.get("oneOf")
        if isinstance(one_of, list) and {} in one_of:
            # "anything, or null" is "anything": a oneOf of both fails on null (two match)
            del node["oneOf"]
        if node.pop("nullable", None) is True:
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                kind.append("null")
        for value in node.values():
            _nullable_31(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_31(value)


def _ascii_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", name)
    return cleaned or "Component"


def _rename_components(result: dict) -> None:
    schemas = result.get("components", {}).get("schemas", {})
    renames = {}
    for name in list(schemas):
        if name.isascii():
            continue
        new = _ascii_name(name)
        suffix = 2
        while new in schemas or new in renames.values():
            new = f"{_ascii_name(name)}{suffix}"
            suffix += 1
        renames[name] = new
    if not renames:
        return
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)

    def fix(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[-1]
                if name in renames:
                    node["$ref"] = f"#/components/schemas/{renames[name]}"
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(result)


def _error_response(status: str) -> dict:
    response = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    if status in RETRY_AFTER:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return response


def postprocess_schema(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE

    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            op_id = operation.get("operationId", "")

            body = operation.get("requestBody")
            if body:
                content = body.get("content", {})
                multipart = content.get(MULTIPART)
                if multipart and _has_binary(multipart.get("schema"), components):
                    body["content"] = {MULTIPART: multipart}
                elif JSON in content:
                    body["content"] = {JSON: content[JSON]}

            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "id":
                    parameter["schema"] = {"type": "integer"}

            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {})
                if content and JSON not in content:
                    # A file. Generators read only media types they know as bytes (an
                    # unknown xlsx type is skipped, text/csv read as str): lead with
                    # application/octet-stream, the generic "these bytes", then the real ones.
                    medias = [OCTET, *(media for media in content if media != OCTET)]
                    response["content"] = {media: {"schema": dict(_BINARY)} for media in medias}

            public_op = op_id in PUBLIC_OPERATIONS
            if public_op:
                operation["security"] = []
            statuses = []
            query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if method in {"post", "put", "patch"} or query:
                statuses.append("400")
            if not public_op:
                statuses += ["401", "403"]
            # a page past the last, or a ?region= outside the caller's scope, is 404 too
            scoped = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
            if "{" in path or scoped & {"page", "region"}:
                statuses.append("404")
            if "{" in path and method != "get":  # a change the object's state refuses
                statuses.append("409")
            # and whatever error a view documents itself (a 404, a 409)
            statuses += [status for status in responses if status in ERROR_DESCRIPTIONS]
            if op_id in THROTTLED_OPERATIONS:
                statuses.append("429")
            # every operation: the JSON error body for a bug (500) and for an unreachable
            # dependency (503 with Retry-After), core.errors' middleware
            statuses += ["500", "503"]
            for status in statuses:
                existing = responses.get(status)
                if existing and JSON in existing.get("content", {}):
                    continue
                response = _error_response(status)
                if existing and existing.get("description"):
                    response["description"] = existing["description"]
                responses[status] = response

    if str(result.get("openapi", "")).startswith("3.1"):
        _nullable_31(result)
    _ascii_titles(result)
    _rename_components(result)
    return result


class SchemaView(SpectacularAPIView):
    """``/api/schema/`` with a plain ``Content-Disposition`` (``schema.yaml``/``schema.json``).

    drf-spectacular names the file after the schema title; a non-ASCII title was sent
    RFC 2047-encoded, which download tools save under a mangled name.
    """

    def _get_schema_response(self, request):
        response = super()._get_schema_response(request)
        suffix = self.perform_content_negotiation(request, force=True)[0].format
        response["Content-Disposition"] = f'attachment; filename="schema.{suffix}"'
        return response
