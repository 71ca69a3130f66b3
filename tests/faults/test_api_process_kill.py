"""A real ``crm-api`` killed (``kill -9``) under write load and started again: every write it answered stands and
is published, and so is every write that committed while its answer was lost with the process."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.servers import (
    CrmApi,
    WriteLoad,
    answered_but_lost,
    committed_events,
    quiet,
    receiving,
    within,
)
from tests.outbox import all_published

pytestmark = pytest.mark.faults


async def test_a_crm_api_killed_under_write_load_keeps_every_answered_write_and_publishes_every_commit(
    db, database_url, fault_settings, tmp_path, report
):
    api = CrmApi(
        tmp_path / "crm-api",
        database_url=database_url,
        rabbitmq_url=str(fault_settings.rabbitmq_url),
        events_exchange=fault_settings.events_exchange,
        relay_poll_interval="0.2",
        relay_max_backoff="0.5",
    )
    async with receiving(str(fault_settings.rabbitmq_url), fault_settings.events_exchange) as received:
        try:
            first_start = await api.start()
            load = WriteLoad(api.url, writers=15)
            async with load.running():
                await asyncio.sleep(2.0)
                answered_before_kill = sum(load.statuses.values())
                api.kill()
                killed_at = time.monotonic()
                restart = await api.start()  # the same port: the writers' next requests reach the new process
                back_at = time.monotonic()
                await asyncio.sleep(1.0)
            await within(lambda: all_published(db), 20, "every committed event published by the new process")
            committed = await committed_events(db)
            await within(
                lambda: asyncio.sleep(0, set(committed) <= received.unique), 20, "every committed event received"
            )
            caught_up = time.monotonic() - back_at
            await quiet(received)
        finally:
            exit_code = api.process.stop()

    lost = await answered_but_lost(db, load, committed, received)
    answered_writes = len(load.created["clients"]) + len(load.created["deals"])
    report(
        "crm-api-kill",
        requests=load.requests,
        statuses=load.statuses_by_code(),
        transport_errors=dict(load.transport_errors),
        answered_before_kill=answered_before_kill,
        first_start_s=round(first_start, 2),
        down_s=round(back_at - killed_at, 2),
        events_committed=len(committed),
        committed_without_an_answer=len(committed) - answered_writes,
        events_published=sum(1 for row in committed.values() if row["published"]),
        events_received=len(received.unique),
        duplicates=received.duplicates,
        caught_up_after_restart_s=round(caught_up, 2),
        answered_2xx_but_lost=lost,
    )
    assert restart < 30 and exit_code == 0, api.process.tail()
    assert load.transport_errors, "the kill cut requests off"
    assert set(load.statuses) <= {201}, (load.statuses, load.problems[:3])
    assert lost == {"records": [], "events": []}
    # Writes whose answer was lost with the process but that committed are in the outbox, and published too.
    assert len(committed) >= answered_writes
    assert set(committed) <= received.unique and received.unique <= set(committed)
