"""A deal's stage history: a row for every stage it comes into — created, moved by stage, by status or to another
pipeline — written with the move, with who moved it and how long it stood in the stage before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm.app.config import Settings
from crm.domain.caller import Caller, Role
from crm.domain.clock import Clock
from crm.domain.deals.schemas import DealCreate, DealUpdate, PipelineMove, StageChange
from crm.domain.deals.service import DealService
from crm.infrastructure.db.deals import PgDealReader
from crm.infrastructure.db.outbox import OutboxWriter
from crm.infrastructure.db.pipelines import PgPipelineReader
from crm.infrastructure.db.pool import create_pool
from crm.infrastructure.db.uow import PgUnitOfWorkFactory
from tests.auth import ADMIN_ID, bearer
from tests.factories import assert_problem, make_client, make_deal
from tests.leads import APPEALS, appeal, make_operator, make_source
from tests.pipelines import history, make_pipeline, move
from tests.values import MISSING, day

DEALS = "/api/v1/deals"


def _moves(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["source"], e["from_stage"], e["to_stage"]) for e in entries]


async def test_a_new_deal_starts_its_history_in_its_first_stage(api):
    deal = await make_deal(api)

    [entry] = await history(api, deal)

    assert _moves([entry]) == [("created", None, "qualification")]
    assert (entry["to_stage_id"], entry["to_pipeline_id"]) == (deal["stage_id"], deal["pipeline_id"])
    assert (entry["actor_id"], entry["rule_id"], entry["seconds_in_previous"]) == (str(ADMIN_ID), None, None)
    assert entry["at"] == deal["stage_entered_at"]


async def test_every_kind_of_stage_change_writes_one_row_and_nothing_else_does(api):
    pipeline = await make_pipeline(api)
    actor = uuid.uuid4()
    deal = await make_deal(api)
    url = f"{DEALS}/{deal['id']}"

    await api.patch(f"{url}/stage", json={"stage": "negotiation"}, headers=bearer(actor, "manager"))
    await api.patch(url, json={"status": "proposal"})
    await api.patch(url, json={"title": "Renamed", "status": "proposal"})  # no stage change
    await api.patch(f"{url}/stage", json={"stage": "proposal"})  # already there
    await api.patch(f"{url}/stage", json={"stage": "closedLost"}, headers=bearer(uuid.uuid4(), "seller"))  # refused
    await api.patch(f"{url}/pipeline", json={"pipeline_id": pipeline["id"], "stage": "quoted"})

    entries = await history(api, deal)
    assert _moves(entries) == [
        ("created", None, "qualification"),
        ("manual", "qualification", "negotiation"),
        ("manual", "negotiation", "proposal"),
        ("manual", "proposal", "quoted"),
    ]
    assert entries[1]["actor_id"] == str(actor)
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    last = entries[-1]
    assert (last["from_pipeline_id"], last["to_pipeline_id"]) == (deal["pipeline_id"], pipeline["id"])
    assert all(e["seconds_in_previous"] >= 0 for e in entries[1:])


async def test_a_converted_appeals_deal_starts_its_history(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    one = await appeal(api, source["id"], "tg:history", name="Ivan")
    deal = (await api.post(f"{APPEALS}/{one['id']}/convert", json={"title": "Fleet"})).json()["deal"]
    assert _moves(await history(api, deal)) == [("created", None, "qualification")]


async def test_the_history_pages_oldest_first(api):
    deal = await make_deal(api)
    for stage in ("negotiation", "proposal", "negotiation"):
        await move(api, deal, stage)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(f"{DEALS}/{deal['id']}/stage-history", params=params)).json()
        seen += [e["to_stage"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["qualification", "negotiation", "proposal", "negotiation"]


async def test_the_history_is_seen_by_whoever_sees_the_deal(api):
    owner = uuid.uuid4()
    deal = await make_deal(api, owner_id=str(owner))
    url = f"{DEALS}/{deal['id']}/stage-history"
    assert (await api.get(url, headers=bearer(owner, "seller"))).status_code == 200
    assert_problem(await api.get(url, headers=bearer(uuid.uuid4(), "seller")), 404, "deal_not_found")
    assert_problem(await api.get(f"{DEALS}/{MISSING}/stage-history"), 404, "deal_not_found")
    await api.delete(f"{DEALS}/{deal['id']}")
    assert_problem(await api.get(url), 404, "deal_not_found")


class SteppedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def stepped(settings: Settings, db: object) -> AsyncIterator[tuple[DealService, SteppedClock]]:
    """The deal use cases on a clock of the test's own, writing to the tests' database."""
    assert settings.database_url
    pool = await create_pool(settings.database_url, min_size=1, max_size=2, command_timeout=30)
    time = SteppedClock()
    clock = Clock(settings.business_zone, source=time)
    uow = PgUnitOfWorkFactory(pool, OutboxWriter(settings.events_source), clock)
    yield DealService(uow, PgDealReader(pool), PgPipelineReader(pool), clock), time
    await pool.close()


async def test_seconds_in_previous_is_the_time_the_deal_stood_in_the_stage_it_left(api, stepped):
    service, time = stepped
    pipeline = await make_pipeline(api)
    client = await make_client(api)
    caller = Caller(actor_id=uuid.uuid4(), roles=frozenset({Role.ADMIN}))
    deal = await service.create(
        DealCreate(client_id=client["id"], title="Timed", next_review_at=day(3)),
        caller,  # type: ignore[arg-type]
    )

    time.advance(hours=1)
    await service.change_stage(deal.id, StageChange(stage="negotiation"), caller)
    time.advance(seconds=90.7)
    await service.update(deal.id, DealUpdate(status="proposal"), caller)  # type: ignore[arg-type]
    time.advance(days=2)
    await service.update(deal.id, DealUpdate(title="No stage change"), caller)  # type: ignore[arg-type]
    time.advance(days=1)
    moved = await service.move_to_pipeline(deal.id, PipelineMove(pipeline_id=pipeline["id"], stage="quoted"), caller)  # type: ignore[arg-type]

    entries = await history(api, {"id": str(deal.id)})
    assert [(e["to_stage"], e["seconds_in_previous"]) for e in entries] == [
        ("qualification", None),
        ("negotiation", 3600),
        ("proposal", 90),  # whole seconds
        ("quoted", 3 * 86400),
    ]
    assert datetime.fromisoformat(entries[-1]["at"]) == time.now == moved.stage_entered_at
