"""A stage is never removed under a deal moving into it, and a deal never lands in a stage being removed: the
pipeline's row orders them (crm.domain.pipelines.repository). Each test holds one side open in a transaction of its
own, as the service's statements do, and lets the API run the other against it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.factories import assert_problem, make_deal
from tests.pipelines import PIPELINES, make_pipeline, move, stage_id

HELD_FOR = 0.5  # long enough for the API's request to reach the lock and wait on it


async def test_removing_a_stage_waits_for_a_deal_moving_into_it_and_then_refuses(api, settings):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    quoted = stage_id(pipeline, "quoted")
    mover = await asyncpg.connect(settings.database_url)
    try:
        async with mover.transaction():
            # What a deal's move does before it commits: the pipeline held, the deal in the stage.
            await mover.execute("SELECT id FROM crm.pipelines WHERE id = $1 FOR KEY SHARE", uuid.UUID(pipeline["id"]))
            await mover.execute(
                "UPDATE crm.deals SET stage_id = $2 WHERE id = $1", uuid.UUID(deal["id"]), uuid.UUID(quoted)
            )
            removal = asyncio.create_task(api.delete(f"{PIPELINES}/{pipeline['id']}/stages/{quoted}"))
            await asyncio.sleep(HELD_FOR)
            assert not removal.done()
        assert_problem(await removal, 409, "stage_has_deals")
    finally:
        await mover.close()


async def test_a_deal_moving_into_a_stage_being_removed_waits_and_then_finds_it_gone(api, settings):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    quoted = uuid.UUID(stage_id(pipeline, "quoted"))
    remover = await asyncpg.connect(settings.database_url)
    try:
        async with remover.transaction():
            # What a stage's removal does before it commits: the pipeline locked, the stage marked removed.
            await remover.execute("SELECT id FROM crm.pipelines WHERE id = $1 FOR UPDATE", uuid.UUID(pipeline["id"]))
            await remover.execute("UPDATE crm.pipeline_stages SET is_deleted = true WHERE id = $1", quoted)
            moving = asyncio.create_task(move(api, deal, "quoted"))
            await asyncio.sleep(HELD_FOR)
            assert not moving.done()
        assert_problem(await moving, 422, "validation_error", "stage")
    finally:
        await remover.close()
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["stage"] == "reminded"


async def test_deals_moving_into_one_pipeline_do_not_wait_on_each_other(api, settings):
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    other = await asyncpg.connect(settings.database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT id FROM crm.pipelines WHERE id = $1 FOR KEY SHARE", uuid.UUID(pipeline["id"]))
            response = await asyncio.wait_for(move(api, deal, "quoted"), timeout=5)
        assert response.status_code == 200, response.text
    finally:
        await other.close()
