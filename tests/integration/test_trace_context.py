"""The caller's W3C traceparent: kept in the outbox row and the CloudEvent of what its request changed, named on the
request's log lines; a malformed one is ignored and the request served as if it had sent none."""

from __future__ import annotations

import json

import httpx
import pytest

from crm.app.main import create_app
from tests.apps import serving
from tests.auth import admin
from tests.integration.test_logs_keep_no_secret import service_logs  # noqa: F401 (a fixture)
from tests.outbox import cloudevent, outbox_rows

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_a_requests_traceparent_is_kept_in_its_events(api, db):
    deal_client = await api.post("/api/v1/clients", json={"name": "A"}, headers={"traceparent": TRACEPARENT})
    assert deal_client.status_code == 201

    (row,) = await outbox_rows(db)
    assert json.loads(row["headers"])["traceparent"] == TRACEPARENT
    assert cloudevent(row).get_extension("traceparent") == TRACEPARENT


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331")],  # a field short
        [("traceparent", "not a traceparent")],
        [("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],  # two are one malformed header
    ],
)
async def test_a_malformed_traceparent_is_ignored(api, db, headers):
    response = await api.post("/api/v1/clients", json={"name": "A"}, headers=httpx.Headers(headers))
    assert response.status_code == 201

    (row,) = await outbox_rows(db)
    assert "traceparent" not in json.loads(row["headers"])
    assert "traceparent" not in cloudevent(row).get_attributes()


async def test_the_traceparent_is_named_on_the_requests_log_lines(settings, service_logs, db):  # noqa: F811
    app = create_app(settings)
    async with serving(app, access_log=True) as base, httpx.AsyncClient(base_url=base, headers=admin()) as client:
        traced = await client.get("/api/v1/clients", headers={"traceparent": TRACEPARENT})
        untraced = await client.get("/api/v1/deals")
    assert traced.status_code == untraced.status_code == 200

    lines = service_logs.getvalue().splitlines()
    (traced_line,) = [line for line in lines if "GET /api/v1/clients HTTP/1.1" in line]
    (untraced_line,) = [line for line in lines if "GET /api/v1/deals HTTP/1.1" in line]
    assert f"traceparent={TRACEPARENT}" in traced_line
    assert "traceparent" not in untraced_line
