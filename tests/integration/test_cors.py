"""CORS: browsers on the configured origins may call the API (with credentials) and read its headers; none
configured, the API sends no CORS header at all."""

from __future__ import annotations

import pytest

from tests.apps import running_app
from tests.factories import assert_problem, make_client

APP_ORIGIN = "https://crm.example"
OTHER_ORIGIN = "https://evil.example"


def preflight(origin: str, method: str = "PATCH", headers: str = "Authorization, If-Match, Content-Type"):
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


@pytest.fixture
async def cors_api(settings, db):
    async with running_app(settings.model_copy(update={"cors_origins": (APP_ORIGIN, "http://localhost:5173")})) as (
        _,
        api,
    ):
        yield api


async def test_a_preflight_from_a_configured_origin_is_allowed_with_credentials(cors_api):
    response = await cors_api.options(
        "/api/v1/deals/0b8f3c52-6f0e-4a43-9d7e-6d3f5d1c2a90", headers=preflight(APP_ORIGIN)
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "if-match", "content-type"} <= allowed
    assert "Origin" in response.headers["vary"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "header", ["If-None-Match", "Idempotency-Key", "Last-Event-ID", "X-Request-ID", "Authorization", "Content-Type"]
)
async def test_every_request_header_the_api_reads_may_be_sent(cors_api, header):
    response = await cors_api.options("/api/v1/clients", headers=preflight(APP_ORIGIN, "POST", header))
    assert response.status_code == 200, response.text


async def test_a_preflight_from_another_origin_is_refused(cors_api):
    response = await cors_api.options("/api/v1/deals", headers=preflight(OTHER_ORIGIN, "POST"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_preflight_asking_for_a_header_the_api_does_not_read_is_refused(cors_api):
    response = await cors_api.options("/api/v1/deals", headers=preflight(APP_ORIGIN, "POST", "X-Debug-Everything"))
    assert response.status_code == 400


async def test_a_browser_may_read_the_headers_the_api_answers_with(cors_api):
    created = await cors_api.post("/api/v1/clients", json={"name": "Cors LLC"}, headers={"Origin": APP_ORIGIN})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP_ORIGIN
    assert created.headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location", "retry-after", "x-request-id"} <= exposed
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= exposed


async def test_problems_carry_the_cors_headers_too(cors_api):
    response = await cors_api.get("/api/v1/clients/not-a-uuid", headers={"Origin": APP_ORIGIN})
    assert_problem(response, 422, "validation_error")
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_a_page_of_another_origin_may_not_read_the_answer(cors_api):
    await make_client(cors_api)
    response = await cors_api.get("/api/v1/clients", headers={"Origin": OTHER_ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_without_configured_origins_there_are_no_cors_headers_at_all(api):
    refused = await api.options("/api/v1/deals", headers=preflight(APP_ORIGIN, "POST"))
    assert_problem(refused, 405, "method_not_allowed")
    answered = await api.get("/api/v1/deals", headers={"Origin": APP_ORIGIN})
    for response in (refused, answered):
        assert not [name for name in response.headers if name.startswith("access-control-")]


async def test_any_origin_may_call_but_never_with_credentials(settings, db):
    async with running_app(settings.model_copy(update={"cors_origins": ("*",)})) as (_, api):
        response = await api.options("/api/v1/deals", headers=preflight(OTHER_ORIGIN, "POST"))
        answered = await api.get("/api/v1/deals", headers={"Origin": OTHER_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert answered.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answered.headers
