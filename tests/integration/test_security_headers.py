"""Headers that keep a browser from treating the API as a page, and caches from keeping a caller's data; the
ETag / If-None-Match round trip still works under them."""

from __future__ import annotations

import pytest

from tests.factories import make_client, make_deal

HARDENING = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def hardened(response) -> bool:
    return all(response.headers.get(name) == value for name, value in HARDENING.items())


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/api/v1/deals", "/api/v1/nothing-here"])
async def test_every_answer_is_hardened(api, path):
    assert hardened(await api.get(path))


async def test_api_answers_are_never_stored(api):
    deal = await make_deal(api)
    for response in (
        await api.get(f"/api/v1/deals/{deal['id']}"),
        await api.get("/api/v1/deals"),
        await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Renamed"}),
    ):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"


async def test_problems_are_never_stored_wherever_they_come_from(api):
    for response in (
        await api.get("/api/v1/clients/not-a-uuid"),  # 422
        await api.get("/nothing-here"),  # 404 outside the API
        await api.put("/healthz"),  # 405
    ):
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["cache-control"] == "no-store"
        assert hardened(response)


async def test_the_event_stream_keeps_its_own_cache_control(api):
    response = await api.head("/streams/deals")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert hardened(response)


async def test_a_conditional_get_still_answers_304_with_the_etag(api):
    client = await make_client(api)
    first = await api.get(f"/api/v1/clients/{client['id']}")
    etag = first.headers["etag"]
    again = await api.get(f"/api/v1/clients/{client['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-store"
    assert hardened(again)
    await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "Changed"})
    changed = await api.get(f"/api/v1/clients/{client['id']}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
