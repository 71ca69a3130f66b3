"""GET /metrics: requests by route template and status, the outbox backlog read from its rows, the pool, the
deal stream's subscribers; a database that does not answer leaves its figures out, never the answer."""

from __future__ import annotations

import asyncio
import time
import uuid

from crm.app.main import create_app
from crm.infrastructure.db.outbox import ADVANCE_CURSOR, RELAY_CURSOR
from tests.apps import running_app
from tests.factories import make_client, make_deal
from tests.metrics import scrape, value
from tests.outbox import unpublished_count

DEAL_ROUTE = "/api/v1/deals/{deal_id}"
DURATION = "crm_http_request_duration_seconds"


async def test_requests_are_counted_and_timed_by_route_template_and_status(api, anonymous):
    before = await scrape(api)
    deal = await make_deal(api)
    await api.get(f"/api/v1/deals/{deal['id']}")
    await api.get(f"/api/v1/deals/{uuid.uuid4()}")
    await api.get(f"/api/v1/deals/{uuid.uuid4()}")
    await anonymous.get(f"/api/v1/deals/{deal['id']}")  # no token: 401, answered before any route runs
    await api.get("/no/such/path/12345")

    after = await scrape(api)

    def delta(name: str, route: str, status: str, method: str = "GET") -> float:
        labels = {"method": method, "route": route, "status": status}
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("crm_http_requests_total", DEAL_ROUTE, "200") == 1
    assert delta("crm_http_requests_total", DEAL_ROUTE, "404") == 2
    assert delta("crm_http_requests_total", DEAL_ROUTE, "401") == 1
    assert delta("crm_http_requests_total", "/api/v1/deals", "201", "POST") == 1
    assert delta("crm_http_requests_total", "unmatched", "404") == 1
    assert delta(f"{DURATION}_count", DEAL_ROUTE, "404") == 2
    assert delta(f"{DURATION}_sum", DEAL_ROUTE, "404") > 0
    # Bucket counts are cumulative: the +Inf bucket holds every request.
    labels = {"method": "GET", "route": DEAL_ROUTE, "status": "404", "le": "+Inf"}
    assert value(after, f"{DURATION}_bucket", **labels) - value(before, f"{DURATION}_bucket", **labels) == 2
    # Never the raw path: one series per route, whatever record it names.
    assert not any(deal["id"] in dict(key[1]).get("route", "") for key in after)


async def test_a_head_is_counted_as_the_get_it_is_served_as(api):
    deal = await make_deal(api)
    labels = {"method": "GET", "route": DEAL_ROUTE, "status": "200"}
    before = value(await scrape(api), "crm_http_requests_total", **labels)

    assert (await api.head(f"/api/v1/deals/{deal['id']}")).status_code == 200

    assert value(await scrape(api), "crm_http_requests_total", **labels) == before + 1


async def test_the_outbox_backlog_and_the_age_of_its_oldest_event_come_from_its_rows(api, db):
    await make_client(api)
    await make_deal(api)  # the shared app runs no relay: every event waits
    waiting = await unpublished_count(db)
    assert waiting >= 2
    await db.execute(
        "UPDATE crm.outbox SET created_at = now() - interval '1 hour'"
        " WHERE sequence = (SELECT min(sequence) FROM crm.outbox)"
    )

    figures = await scrape(api)

    assert value(figures, "crm_metrics_database_up") == 1
    assert value(figures, "crm_outbox_unpublished") == waiting
    assert 3600 <= value(figures, "crm_outbox_oldest_unpublished_age_seconds") < 3700

    # The relay's cursor past every row: all published.
    await db.execute(ADVANCE_CURSOR, RELAY_CURSOR, await db.fetchval("SELECT max(sequence) FROM crm.outbox"))
    figures = await scrape(api)
    assert value(figures, "crm_outbox_unpublished") == 0
    assert value(figures, "crm_outbox_oldest_unpublished_age_seconds") == 0


async def test_the_pool_and_the_stream_subscribers_are_reported(api, app, settings):
    hub = app.state.events.hub
    async with hub.subscribe(), hub.subscribe():
        figures = await scrape(api)
    after = await scrape(api)

    assert value(figures, "crm_stream_subscribers", stream="deals") == 2
    assert value(after, "crm_stream_subscribers", stream="deals") == 0
    assert value(figures, "crm_db_pool_max_connections") == settings.db_pool_max_size
    in_use = value(figures, "crm_db_pool_connections", state="in_use")
    idle = value(figures, "crm_db_pool_connections", state="idle")
    assert in_use >= 0 and 1 <= in_use + idle <= settings.db_pool_max_size
    assert value(figures, "crm_relay_lead") == 0  # the shared app runs no relay
    assert value(figures, "crm_relay_failures_total", sink="broker") == 0
    assert value(figures, "process_resident_memory_bytes") > 0


async def test_metrics_answer_with_what_they_could_read_while_the_database_does_not_answer(db, settings):
    settings = settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1, "db_acquire_timeout": 5})
    async with running_app(settings) as (_, api):
        client = await make_client(api)
        # The app's only connection waits behind a lock the test holds: the scrape gets none in time.
        lock = db.transaction()
        await lock.start()
        await db.execute("SELECT 1 FROM crm.clients WHERE id = $1 FOR UPDATE", uuid.UUID(client["id"]))
        blocked = asyncio.create_task(api.patch(f"/api/v1/clients/{client['id']}", json={"name": "Later"}))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        try:
            figures = await scrape(api)
            took = time.monotonic() - started
        finally:
            await lock.rollback()
        assert (await blocked).status_code == 200
        recovered = await scrape(api)

    assert value(figures, "crm_metrics_database_up") == 0
    assert ("crm_outbox_unpublished", frozenset()) not in figures
    assert value(figures, "crm_db_pool_connections", state="in_use") == 1
    assert took < 3
    assert value(recovered, "crm_metrics_database_up") == 1


def test_each_application_has_a_registry_of_its_own(settings):
    first, second = create_app(settings), create_app(settings)

    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_metrics_need_no_token_and_are_not_rate_limited(anonymous):
    response = await anonymous.get("/metrics")

    assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers
    assert "# TYPE crm_http_requests_total counter" in response.text
