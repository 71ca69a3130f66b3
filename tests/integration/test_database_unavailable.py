"""Losing the database, or every connection to it, is a 503 with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import uuid

from tests.apps import running_app
from tests.factories import assert_problem, make_client


async def test_a_request_that_gets_no_connection_in_time_is_503_with_retry_after(db, settings):
    settings = settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1, "db_acquire_timeout": 0.5})
    async with running_app(settings) as (_, api):
        client = await make_client(api)
        # The app's only connection waits behind a lock the test holds.
        lock = db.transaction()
        await lock.start()
        await db.execute("SELECT 1 FROM crm.clients WHERE id = $1 FOR UPDATE", uuid.UUID(client["id"]))
        blocked = asyncio.create_task(api.patch(f"/api/v1/clients/{client['id']}", json={"name": "Later"}))
        await asyncio.sleep(0.3)

        response = await api.get(f"/api/v1/clients/{client['id']}")

        await lock.rollback()
        assert (await blocked).status_code == 200
        after = await api.get(f"/api/v1/clients/{client['id']}")

    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "2"
    assert after.status_code == 200 and after.json()["name"] == "Later"


async def test_a_write_on_a_connection_whose_backend_died_is_done_on_a_fresh_one(db, settings):
    settings = settings.model_copy(update={"db_pool_min_size": 4, "db_pool_max_size": 4})
    async with running_app(settings) as (_, api):
        client = await make_client(api)
        await asyncio.gather(*(api.get(f"/api/v1/clients/{client['id']}") for _ in range(8)))  # fill the pool
        # Every idle connection of the app's pool loses its backend; the pool does not know yet.
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'crm-api'"
        )
        assert killed >= 1

        response = await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "Renamed"})

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
