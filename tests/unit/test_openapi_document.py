"""What the OpenAPI document must say, checked on the assembled application (no database needed)."""

from __future__ import annotations

import re
from datetime import date

import jsonschema_rs
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from crm.app.config import Settings
from crm.app.main import create_app
from crm.domain.versioning import PatchBody

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(_env_file=None, database_url="postgresql://unused/unused"))


@pytest.fixture(scope="module")
def document(app):
    return app.openapi()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def _parameters(operation):
    return {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}


def test_every_error_answer_is_a_problem_with_its_schema(document):
    assert document["components"]["schemas"]["Problem"]["properties"]["code"]["type"] == "string"
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                assert response["content"] == PROBLEM, (method, path, status)


def test_every_keyed_post_documents_the_400_of_a_malformed_key(document):
    for path, method, operation in _operations(document):
        if ("header", "idempotency-key") in _parameters(operation):
            assert "invalid_header" in operation["responses"]["400"]["description"], (method, path)


def test_no_header_names_the_caller(document):
    for path, method, operation in _operations(document):
        assert not {name for where, name in _parameters(operation) if name.startswith("x-user")}, (method, path)


def test_the_bearer_token_and_its_cookie_are_declared_security_schemes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["cookieAuth"] == {
        **schemes["cookieAuth"],
        "type": "apiKey",
        "in": "cookie",
        "name": "crm_access_token",
    }


def test_every_api_route_and_the_stream_need_a_token_and_document_its_401(document):
    secured = 0
    for path, method, operation in _operations(document):
        if path.startswith("/api/") or path.startswith("/streams"):
            secured += 1
            assert operation["security"] == [{"bearerAuth": []}, {"cookieAuth": []}], (method, path)
            unauthorized = operation["responses"]["401"]
            assert unauthorized["content"] == PROBLEM
            assert "invalid_token" in unauthorized["description"]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
    assert secured > 60
    assert "/streams/deals" in document["paths"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_readiness_and_metrics_need_no_token(document, path):
    operation = document["paths"][path]["get"]
    assert "security" not in operation and "401" not in operation["responses"]
    assert "security" not in document


def test_every_keyed_post_documents_a_key_in_use_and_a_key_reused(document):
    posts = 0
    for path, method, operation in _operations(document):
        if method == "post" and ("header", "idempotency-key") in _parameters(operation):
            posts += 1
            assert "idempotency_key_in_use" in operation["responses"]["409"]["description"], path
            assert "idempotency_key_reused" in operation["responses"]["422"]["description"], path
    assert posts > 20


def test_if_match_means_412_and_if_none_match_means_304_with_an_etag(document):
    for path, method, operation in _operations(document):
        parameters = _parameters(operation)
        if ("header", "if-match") in parameters:
            assert "412" in operation["responses"], (method, path)
        if ("header", "if-none-match") in parameters:
            assert "ETag" in operation["responses"]["304"]["headers"], (method, path)


def test_every_list_documents_the_400_of_a_cursor_it_did_not_issue(document):
    for path, method, operation in _operations(document):
        if ("query", "cursor") in _parameters(operation):
            assert "invalid_cursor" in operation["responses"]["400"]["description"], (method, path)


# A user id names a person of Auth, not a record here: setting their contacts (PUT) creates the record.
CREATED_BY_PUT = {("put", "/api/v1/users/{user_id}/contacts")}


def test_every_route_naming_a_record_in_its_path_documents_404(document):
    for path, method, operation in _operations(document):
        if path.startswith("/api/") and "{" in path and (method, path) not in CREATED_BY_PUT:
            assert "404" in operation["responses"], (method, path)


def test_every_route_with_input_documents_422(document):
    for path, method, operation in _operations(document):
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in operation["responses"], (method, path)


def test_every_api_route_and_the_stream_documents_429_with_retry_after(document):
    counted = 0
    for path, method, operation in _operations(document):
        if path.startswith(("/api/v1/", "/streams")):
            counted += 1
            refused = operation["responses"]["429"]
            assert refused["content"] == PROBLEM, (method, path)
            assert "rate_limited" in refused["description"], (method, path)
            assert refused["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}, (method, path)
            for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
                assert header in refused["headers"], (method, path, header)
    assert counted > 60
    assert document["components"]["headers"]["Retry-After"]["required"] is True
    assert document["components"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_health_checks_and_metrics_are_not_rate_limited(document):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "429" not in document["paths"][path]["get"]["responses"]


def test_every_route_that_takes_a_body_documents_413(document):
    bodies = 0
    for path, method, operation in _operations(document):
        if "requestBody" in operation:
            bodies += 1
            too_large = operation["responses"]["413"]
            assert too_large["content"] == PROBLEM, (method, path)
            assert "payload_too_large" in too_large["description"], (method, path)
            # The import of a file has a limit of its own (CRM_IMPORT_MAX_BYTES).
            limit = 16_777_216 if path == "/api/v1/clients/import" else 1_048_576
            assert f"{limit} bytes" in too_large["description"], (method, path)
        else:
            assert "413" not in operation["responses"], (method, path)
    assert bodies > 20


def test_without_a_rate_limit_no_route_documents_429():
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/unused", rate_limit_requests=0))
    document = app.openapi()
    assert not [(path, method) for path, method, operation in _operations(document) if "429" in operation["responses"]]
    assert "headers" not in document["components"]


def test_record_answers_carry_etag_and_creations_carry_location(document):
    records = 0
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").rpartition("/")[2]
            if name and "version" in document["components"]["schemas"][name].get("properties", {}):
                records += 1
                assert response["headers"]["ETag"]["required"] is True, (method, path, status)
                # A PUT creates at the URL it was sent to: no Location to tell.
                if status == "201" and method == "post":
                    assert response["headers"]["Location"]["required"] is True, (method, path)
    assert records > 30


def test_every_create_links_to_reading_what_it_created(document):
    for path, _method, operation in _operations(document):
        created = operation["responses"].get("201", {})
        if "Location" in created.get("headers", {}):
            targets = {link["operationId"] for link in created.get("links", {}).values()}
            reads = {
                o["operationId"]
                for p, m, o in _operations(document)
                if m == "get" and re.fullmatch(re.escape(path) + r"/\{[^}/]+\}", p)
            }
            assert reads and reads <= targets, (path, targets)


def test_parameters_are_never_null(document):
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (method, path, parameter["name"])


def _body_models(app) -> dict[str, type[BaseModel]]:
    models = {}
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, APIRoute) and original.body_field is not None:
            model = original.body_field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                models[model.__name__] = model
    return models


def test_patch_fields_that_refuse_null_are_not_nullable(app, document):
    patches = [m for m in _body_models(app).values() if issubclass(m, PatchBody)]
    assert len(patches) >= 7
    for model in patches:
        properties = document["components"]["schemas"][model.__name__]["properties"]
        for name, schema in properties.items():
            nullable = {"type": "null"} in schema.get("anyOf", []) or schema.get("type") == "null"
            assert nullable == (name not in model.NOT_NULLABLE), (model.__name__, name)


def test_money_and_email_given_as_input_carry_their_patterns(app, document):
    money = 0
    bodies = _body_models(app)
    properties = [
        (name, field, prop)
        for name, schema in document["components"]["schemas"].items()
        if name in bodies
        for field, prop in schema.get("properties", {}).items()
    ]
    for name, field, prop in properties:
        choices = [c for c in prop.get("anyOf", [prop]) if c != {"type": "null"}]
        kinds = {c.get("type") for c in choices}
        if {"string", "number"} <= kinds:  # an amount, as input
            money += 1
            string = next(c for c in choices if c.get("type") == "string")
            number = next(c for c in choices if c.get("type") == "number")
            assert string["pattern"] and number["multipleOf"] == 0.01, (name, field)
            assert number["exclusiveMaximum"] == 10**12, (name, field)
        if field == "email":
            assert all(c.get("pattern") and "@" in c["pattern"] for c in choices), name
    assert money >= 8


def test_every_example_is_valid_for_its_schema_and_model(app, document):
    models = _body_models(app)
    validated = 0
    for name, schema in document["components"]["schemas"].items():
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": document["components"]}, validate_formats=True
        )
        for example in schema.get("examples", []):
            assert validator.is_valid(example), (name, example)
            if name in models:
                models[name].model_validate(example)
                validated += 1
    assert validated >= 15


# Fields whose rule is relative to today: an example must hold on any day, so a past value for the first and a
# value centuries ahead for the second.
NOT_AFTER_TODAY = {"posted_at", "actual_date"}
IN_THE_FUTURE = {"scheduled_for", "remind_at"}
WRITTEN = date(2026, 12, 1)


def test_examples_hold_on_any_day(document):
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            for field, value in example.items():
                if field in NOT_AFTER_TODAY:
                    assert date.fromisoformat(value[:10]) < WRITTEN, (name, field, value)
                if field in IN_THE_FUTURE:
                    assert date.fromisoformat(value[:10]).year >= 2900, (name, field, value)


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))


EXPORTS = ("/api/v1/clients/export", "/api/v1/deals/export", "/api/v1/payments/export")


@pytest.mark.parametrize("path", EXPORTS)
def test_an_export_answers_csv_or_xlsx_as_an_attachment(document, path):
    operation = document["paths"][path]["get"]
    answer = operation["responses"]["200"]
    assert set(answer["content"]) == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert answer["headers"]["Content-Disposition"]["required"] is True
    assert {"422", "503"} <= set(operation["responses"])
    formats = next(p for p in operation["parameters"] if p["name"] == "format")
    assert document["components"]["schemas"]["ExportFormat"]["enum"] == ["csv", "xlsx"]
    assert formats["schema"]["default"] == "csv"


def test_the_clients_export_and_import_take_the_clients_list_filters_and_a_csv_body(document):
    listed = {p["name"] for p in document["paths"]["/api/v1/clients"]["get"]["parameters"]}
    exported = {p["name"] for p in document["paths"]["/api/v1/clients/export"]["get"]["parameters"]}
    assert exported == listed - {"limit", "cursor", "with_total"} | {"format"}
    deals = {p["name"] for p in document["paths"]["/api/v1/deals"]["get"]["parameters"]}
    assert {p["name"] for p in document["paths"]["/api/v1/deals/export"]["get"]["parameters"]} == deals - {
        "limit",
        "cursor",
        "with_total",
    } | {"format"}
    imported = document["paths"]["/api/v1/clients/import"]["post"]
    assert set(imported["requestBody"]["content"]) == {"text/csv"}
    assert {"200", "201", "403", "413", "415", "422"} <= set(imported["responses"])


def test_metrics_are_documented_as_the_prometheus_text_they_are(document):
    operation = document["paths"]["/metrics"]["get"]
    assert set(operation["responses"]) == {"200"}
    assert operation["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert "crm_metrics_database_up" in operation["description"]
