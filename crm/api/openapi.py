"""The OpenAPI document, made to say what the routes really do.

FastAPI writes the operations from the route declarations; this module adds what only the composition of a
route tells (each addition is derived from the route itself, so it cannot drift from behaviour):

* the access token every route under ``/api`` and ``/streams`` needs (``crm.api.auth.requires_token``): the bearer
  and cookie security schemes, and the ``401 invalid_token`` answer with its ``WWW-Authenticate`` header;
* the answers every route gives by the dependencies it uses: ``400 invalid_header``, ``409 idempotency_key_in_use``
  and ``422 idempotency_key_reused`` on keyed POSTs, ``412`` with ``If-Match``,
  ``400 invalid_cursor`` on lists, ``304`` with ``If-None-Match``, ``422 validation_error`` wherever there is
  input; routes declare their domain answers (404, 409, ...) themselves;
* one ``Problem`` schema under ``application/problem+json`` for every error answer;
* ``413 payload_too_large`` on every route that takes a body, ``429 rate_limited`` (with ``Retry-After`` and the
  RateLimit-* headers) on every route the rate limit counts;
* ``ETag`` on every answer carrying a record (and on 304 and 412), ``Location`` on every record created;
* links from each create to the operations on what it created, for clients and for stateful testing;
* query, path and header parameters without the ``null`` alternative (a parameter is absent, never null).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from crm.api.auth import ACCESS_COOKIE, BEARER_SCHEME, COOKIE_SCHEME, requires_token
from crm.api.deps import get_caller, post_answer
from crm.api.params import expected_version, page_request
from crm.api.problems import PROBLEM_CONTENT_TYPE, Problem
from crm.api.rate_limits import rate_limit
from crm.domain.rate_limits import Quota
from crm.domain.records import Record

PROBLEM_REF = "#/components/schemas/Problem"
_METHODS = ("get", "put", "post", "patch", "delete")
_PARAMETER = re.compile(r"\{([^}]+)\}")

STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthorized: no access token, or one that does not verify (expired, wrongly signed, not yet valid, "
    "for another issuer or audience)",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed: `If-Match` names a version other than the current one (its `ETag` is sent)",
    413: "Content too large",
    415: "Unsupported media type: the body is not of a type the route takes",
    422: "Unprocessable: the input is invalid (`validation_error` names each field) or breaks a rule",
    429: "Too many requests",
    503: "Service unavailable",
}

ETAG_HEADER = {
    "description": 'The record\'s version as an entity tag, e.g. `"3"` (a payment adds its status: `"3-overdue"`).',
    "schema": {"type": "string"},
}
LOCATION_HEADER = {"description": "The path of the record just created.", "schema": {"type": "string"}}
WWW_AUTHENTICATE_HEADER = {
    "description": 'The challenge: `Bearer error="invalid_token"`, with an `error_description` when a token was sent.',
    "schema": {"type": "string"},
    "required": True,
}

SECURITY_SCHEMES = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from the Auth service: HS256 or RS256, with `exp`, `sub` (the user's id, "
        "a UUID) and `roles` (`admin`, `manager`, `seller`, `executor`, `user`, or `ROLE_ADMIN` …).",
    },
    COOKIE_SCHEME: {
        "type": "apiKey",
        "in": "cookie",
        "name": ACCESS_COOKIE,
        "description": "The same access token in a cookie; used when no `Authorization` header is sent.",
    },
}
# Either scheme will do: two requirement objects, not two schemes in one.
SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {COOKIE_SCHEME: []}]

COUNT = {"type": "integer", "minimum": 0}
# Under components/headers, referred to from every answer of a counted route.
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "Requests the caller may make per window.", "schema": COUNT},
    "RateLimit-Remaining": {"description": "Requests the caller has left now.", "schema": COUNT},
    "RateLimit-Reset": {"description": "Seconds until the whole quota is available again.", "schema": COUNT},
}
RETRY_AFTER = "Retry-After"
RETRY_AFTER_HEADER = {
    "description": "Seconds after which one more request will be allowed.",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the service was started with, named in the document's descriptions."""

    max_body_bytes: int
    rate_limit: Quota | None = None
    body_limits: Mapping[str, int] = field(default_factory=dict)

    def body_bytes(self, path: str | None) -> int:
        return self.body_limits.get(path or "", self.max_body_bytes)


def install_openapi(
    app: FastAPI, *, max_body_bytes: int, body_limits: Mapping[str, int] | None = None, rate_limit: Quota | None = None
) -> None:
    """Serve the refined document at ``/openapi.json`` (built once, on first use)."""
    build = app.openapi
    limits = Limits(max_body_bytes, rate_limit, dict(body_limits or {}))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            refine(document, app, limits)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(document: dict[str, Any], app: FastAPI, limits: Limits) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    if limits.rate_limit is not None:
        document["components"]["headers"] = {**RATE_LIMIT_HEADERS, RETRY_AFTER: RETRY_AFTER_HEADER}
    paths = document.get("paths", {})
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or not original.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                # The route as included: with the dependencies its router was included with (the rate limit).
                _refine_operation(operation, route, method, limits)
    for item in paths.values():
        for method in _METHODS:
            if method in item:
                _drop_null_parameters(item[method])
    _add_links(paths, schemas)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _dependants(child)


def _refine_operation(operation: dict[str, Any], route: RouteContext, method: str, limits: Limits) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    dependants = list(_dependants(route.dependant))
    calls = {d.call for d in dependants}
    headers = {p.alias.lower() for d in dependants for p in d.header_params}
    # A route that reads its body itself (POST /api/notifications/events) declares it in ``openapi_extra``.
    extra = getattr(route.original_route, "openapi_extra", None) or {}
    takes_body = route.body_field is not None or "requestBody" in extra
    has_input = takes_body or any(d.path_params or d.query_params or d.header_params for d in dependants)
    codes: dict[int, list[str]] = {}
    if route.path_format is not None and requires_token(route.path_format):
        operation["security"] = SECURITY
        codes.setdefault(401, []).append("`invalid_token`")
    if get_caller in calls and method != "GET":
        codes.setdefault(403, []).append("`forbidden` (the caller sees the record but may not do this to it)")
    if post_answer in calls:
        codes.setdefault(400, []).append("`invalid_header` (`Idempotency-Key`)")
        codes.setdefault(409, []).append("`idempotency_key_in_use` (a request with this key is still running)")
        codes.setdefault(422, []).append("`idempotency_key_reused` (the key came with another body)")
    if expected_version in calls:
        codes.setdefault(412, []).append("`precondition_failed`")
    if page_request in calls:
        codes.setdefault(400, []).append("`invalid_cursor` (not a `next_cursor` this service issued)")
    if route.body_field is not None:  # parsed by FastAPI; a route reading its own body answers for it itself
        codes.setdefault(400, []).append("`bad_request` (a body that is not UTF-8 text)")
    if takes_body:
        max_bytes = limits.body_bytes(route.path_format)
        codes.setdefault(413, []).append(f"`payload_too_large` (a body of more than {max_bytes} bytes)")
    quota = limits.rate_limit if rate_limit in calls else None
    if quota is not None:
        codes.setdefault(429, []).append(
            f"`rate_limited` (more than {quota.requests} in {quota.window:g} s from one caller)"
        )
    if has_input:
        codes.setdefault(422, []).append("`validation_error`")
    for status in codes:
        responses.setdefault(str(status), {})
    for key, response in responses.items():
        status = int(key)
        declared = set(response.get("content", {})) - {PROBLEM_CONTENT_TYPE}
        if status >= 400 and not declared:  # readyz's 503 declares its own JSON body
            response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
            text = STATUS_TEXT.get(status, "Problem details")
            known = "; ".join(codes.get(status, []))
            response["description"] = f"{text}. Codes include {known}." if known else f"{text}."
    if "401" in responses:
        responses["401"].setdefault("headers", {})["WWW-Authenticate"] = WWW_AUTHENTICATE_HEADER
    if "if-none-match" in headers:
        responses.setdefault("304", {})["description"] = "Not modified: `If-None-Match` names the current version."
    _document_headers(responses, route)
    if quota is not None:
        _document_rate_limit_headers(responses)


def _document_headers(responses: dict[str, Any], route: RouteContext) -> None:
    model = route.response_model
    # A record, or anything else served with its version (a user's contacts).
    if not (isinstance(model, type) and issubclass(model, BaseModel) and "version" in model.model_fields):
        return
    for key in ("200", "201", "304"):
        if key in responses:
            responses[key].setdefault("headers", {})["ETag"] = {**ETAG_HEADER, "required": True}
    if "201" in responses and issubclass(model, Record):
        responses["201"]["headers"]["Location"] = {**LOCATION_HEADER, "required": True}
    if "412" in responses:
        # Sent when the record exists (the answer names its current version).
        responses["412"].setdefault("headers", {})["ETag"] = ETAG_HEADER


def _document_rate_limit_headers(responses: dict[str, Any]) -> None:
    """A refused request is told when to come back; every answer of a counted request says what is left (but a
    body too large is refused before it is counted)."""
    for key, response in responses.items():
        if key == "413":
            continue
        headers = response.setdefault("headers", {})
        for name in (*RATE_LIMIT_HEADERS, *([RETRY_AFTER] if key == "429" else [])):
            headers[name] = {"$ref": f"#/components/headers/{name}"}


def _drop_null_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        choices = schema.get("anyOf")
        if choices and {"type": "null"} in choices:
            rest = [c for c in choices if c != {"type": "null"}]
            del schema["anyOf"]
            if len(rest) == 1:
                schema.update(rest[0])
            else:
                schema["anyOf"] = rest


def _add_links(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    """From each POST answering a record to every operation below the path it posted to that the answer
    (and the request's own path) can fill in: ``POST /clients`` → ``GET /clients/{client_id}``, …"""
    for path, item in paths.items():
        create = item.get("post")
        if create is None:
            continue
        answer = _answer_fields(create, schemas)
        if answer is None:
            continue
        status, fields = answer
        own = set(_PARAMETER.findall(path))
        links: dict[str, Any] = {}
        for target_path, target_item in paths.items():
            rest = target_path.removeprefix(path)
            if rest == target_path or not rest.startswith("/{"):
                continue
            new = _PARAMETER.match(rest[1:])
            assert new is not None
            parameters: dict[str, str] = {}
            for name in _PARAMETER.findall(target_path):
                if name in own:
                    parameters[name] = f"$request.path.{name}"
                elif name in fields:
                    parameters[name] = f"$response.body#/{name}"
                elif name == new.group(1) and "id" in fields:
                    parameters[name] = "$response.body#/id"
                else:
                    break
            else:
                for method in _METHODS:
                    target = target_item.get(method)
                    if target is not None and "operationId" in target:
                        links[target["operationId"]] = {"operationId": target["operationId"], "parameters": parameters}
        if links:
            create["responses"][status]["links"] = links


def _answer_fields(operation: dict[str, Any], schemas: dict[str, Any]) -> tuple[str, set[str]] | None:
    """The 2xx status of a POST and the fields of the object it answers with."""
    for key, response in operation.get("responses", {}).items():
        if key.startswith("2"):
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").rpartition("/")[2]
            if name in schemas:
                return key, set(schemas[name].get("properties", {}))
    return None
