"""HEAD is served wherever GET is, and a 405 names every method of the path in Allow."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.factories import assert_problem, make_client, make_deal


async def test_head_answers_as_get_without_a_body(api):
    client = await make_client(api)
    url = f"/api/v1/clients/{client['id']}"
    get, head = await api.get(url), await api.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert (await api.head(url, headers={"If-None-Match": get.headers["etag"]})).status_code == 304
    assert (await api.head("/api/v1/clients")).status_code == 200


async def test_head_is_served_on_every_get_route(app, api):
    deal = await make_deal(api)
    ids = {"deal_id": deal["id"], "client_id": deal["client_id"]}
    checked = 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or "GET" not in route.methods:
            continue
        if route.path.startswith("/streams") or "{" in route.path.replace("{deal_id}", ""):
            continue  # the stream below; routes needing more ids answer 404 to both, as the rest shows
        url = route.path.format(**ids)
        get, head = await api.get(url), await api.head(url)
        assert (head.status_code, head.content) == (get.status_code, b""), url
        checked += 1
    assert checked >= 8


async def test_head_on_the_event_stream_ends_after_the_headers(api):
    response = await asyncio.wait_for(api.head("/streams/deals"), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/clients/{client_id}", "GET, HEAD, PATCH, DELETE"),
        ("OPTIONS", "/api/v1/clients/{client_id}", "GET, HEAD, PATCH, DELETE"),
        ("DELETE", "/api/v1/clients", "GET, HEAD, POST"),
        ("PATCH", "/api/v1/deals/{deal_id}/journal", "GET, HEAD, POST"),
        ("GET", "/api/v1/permissions/sync", "POST"),
        ("HEAD", "/api/v1/permissions/sync", "POST"),
        ("GET", "/api/v1/clients/{client_id}/restore", "POST"),
        ("PATCH", "/api/v1/clients/export", "GET, HEAD"),
        ("DELETE", "/api/v1/deals/export", "GET, HEAD"),
        ("POST", "/api/v1/payments/export", "GET, HEAD"),
        ("GET", "/api/v1/clients/import", "POST"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(api, method, path, allowed):
    deal = await make_deal(api)
    url = path.format(client_id=deal["client_id"], deal_id=deal["id"])
    response = await api.request(method, url)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if method != "HEAD":
        assert_problem(response, 405, "method_not_allowed")


async def test_a_literal_path_is_not_taken_for_an_id_of_its_templated_sibling(api):
    response = await api.patch("/api/v1/deals/stage-metrics", json={"title": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert_problem(await api.get("/api/v1/deals/not-a-uuid"), 422, "validation_error", "deal_id")
