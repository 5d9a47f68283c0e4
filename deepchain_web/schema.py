"""OpenAPI post-processing: every operation documents the error answers it can give.

All errors share one body, ``Error`` (``{"message", "code", "errors"?}``, see
``deepchain_web.api_errors``): 400 a request outside the schema, 401 not signed in, 403 not
allowed, 404 no such object, 409 a well-formed request a protocol or business rule refuses,
413 body too large, 429 throttled. An operation may give its own description of an error
answer (e.g. which rules answer 409); the body is the same.
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["message"],
}
DESCRIPTIONS = {
    "400": "A request outside this schema (message says which field and why)",
    "401": "Not signed in (token or session)",
    "403": "Not allowed",
    "404": "No such object",
    "405": "Method not allowed",
    "409": "A protocol or business rule refuses this request now (message says why)",
    "413": "Request body too large for this endpoint",
    "429": "Too many requests (throttled)",
}
BODY_METHODS = {"post", "put", "patch"}


def document_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular hook: add the shared ``Error`` component and the error answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, op in path_item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            codes = ["400", "401", "403", "404", "405", "429"]
            if method in BODY_METHODS:
                codes += ["409", "413"]
            for code in codes:
                answer = op["responses"].setdefault(code, {"description": DESCRIPTIONS[code]})
                answer.setdefault("content", {"application/json": {"schema": ref}})
    return result
