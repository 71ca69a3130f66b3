"""Baseline for bench/run.sh: the service's three deal operations with nothing but FastAPI + a raw asyncpg pool.

It sends the service's own SQL (imported from crm.infrastructure.db), uses the same pool settings
(10 connections, asyncpg's default reset on release) and has no middleware, no service layer, no problem+json.

    BENCH_PG_URL=postgresql://... python bench/baseline_app.py --port 18083
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated

import asyncpg
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Query
from pydantic import BaseModel

from crm.infrastructure.db.clients import CLIENTS
from crm.infrastructure.db.deals import DEALS, INSERT_HISTORY
from crm.infrastructure.db.outbox import INSERT_QUIET as INSERT_OUTBOX
from crm.infrastructure.db.pipelines import LOCK_DEFAULT_SHARED, PIPELINES

# The statements the service sends for POST /deals, GET /deals/{id} and a first page (see PgDealRepository and
# PgDealReader).
INSERT_FOR_LIVE_CLIENT_COLUMNS = (
    "id",
    "client_id",
    "title",
    "description",
    "status",
    "next_review_at",
    "owner_id",
    "pipeline_id",
    "stage_id",
    "stage_entered_at",
    "created_by_id",
    "updated_by_id",
)
# As open_deal: the default pipeline held (crm.infrastructure.db.pipelines.lock_for_deals) and read with its stages,
# the deal put in the stage of its status, its first history row.
READ_PIPELINE = f"{PIPELINES.select} WHERE id = $1"
STAGE_OF_STATUS = {
    "draft": "qualification",
    "qualification": "qualification",
    "in_progress": "negotiation",
    "proposal": "proposal",
}
# As DealService.create: the client kept live (RecordRepository.lock_live_for_share), then the insert.
LOCK_LIVE_CLIENT = f"SELECT true FROM {CLIENTS.name} WHERE id = $1 AND NOT is_deleted FOR KEY SHARE"
INSERT_FOR_LIVE_CLIENT, _ = DEALS.insert(dict.fromkeys(INSERT_FOR_LIVE_CLIENT_COLUMNS))
SELECT_LIVE_BY_ID = f"{DEALS.select} WHERE id = $1 AND NOT is_deleted"
_ORDER = "ORDER BY next_review_at, updated_at, id"
SELECT_PAGE = f"{DEALS.select} WHERE NOT is_deleted {_ORDER} LIMIT $1"
SELECT_PAGE_BY_STATUS = f"{DEALS.select} WHERE NOT is_deleted AND status = ANY($1::text[]) {_ORDER} LIMIT $2"
POOL_SIZE = 10


class DealIn(BaseModel):
    client_id: uuid.UUID
    title: str
    description: str | None = None
    status: str = "draft"
    next_review_at: date
    owner_id: uuid.UUID | None = None


class DealOut(BaseModel):
    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    created_by_id: uuid.UUID | None
    updated_by_id: uuid.UUID | None
    is_deleted: bool
    deleted_at: datetime | None
    deleted_by_id: uuid.UUID | None
    client_id: uuid.UUID
    title: str
    description: str | None
    status: str
    next_review_at: date
    owner_id: uuid.UUID | None
    closed_at: datetime | None
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage: str
    stage_entered_at: datetime
    lost_reason: str | None


class DealPage(BaseModel):
    items: list[DealOut]
    next_cursor: str | None


pool: asyncpg.Pool


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(
        os.environ["BENCH_PG_URL"],
        min_size=2,
        max_size=POOL_SIZE,
        command_timeout=30,
        server_settings={"application_name": "crm-bench-baseline", "timezone": "UTC"},
    )
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    await pool.fetchval("SELECT 1")
    return {"status": "ready"}


@app.post("/api/v1/deals", status_code=201, response_model=DealOut)
async def create_deal(body: DealIn, x_user_id: Annotated[uuid.UUID | None, Header()] = None) -> DealOut:
    async with pool.acquire() as con, con.transaction():
        if not await con.fetchval(LOCK_LIVE_CLIENT, body.client_id):
            raise HTTPException(404, "client not found")
        pipeline = await con.fetchrow(READ_PIPELINE, await con.fetchval(LOCK_DEFAULT_SHARED))
        stage = next(s for s in json.loads(pipeline["stages"]) if s["key"] == STAGE_OF_STATUS[body.status])
        now = datetime.now(UTC)
        row = await con.fetchrow(
            INSERT_FOR_LIVE_CLIENT,
            uuid.uuid4(),
            body.client_id,
            body.title,
            body.description,
            body.status,
            body.next_review_at,
            body.owner_id,
            pipeline["id"],
            uuid.UUID(stage["id"]),
            now,
            x_user_id,
            x_user_id,
        )
        deal = DealOut.model_validate(dict(row))
        await con.execute(
            INSERT_HISTORY,
            deal.id,
            None,
            stage["key"],
            None,
            deal.stage_id,
            None,
            deal.pipeline_id,
            x_user_id,
            None,
            "created",
            now,
            None,
        )
        event_id = uuid.uuid4()
        payload = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "crm.deals",
            "type": "crm.deal.created",
            "subject": str(deal.id),
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": deal.model_dump(mode="json"),
        }
        # The service notifies the relay at most once per 50 ms: nearly all its outbox writes are this quiet one.
        await con.execute(
            INSERT_OUTBOX, [event_id], ["deal"], [deal.id], ["deal.created"], [json.dumps(payload)], ["{}"]
        )
    return deal


@app.get("/api/v1/deals/{deal_id}", response_model=DealOut)
async def get_deal(deal_id: uuid.UUID) -> DealOut:
    row = await pool.fetchrow(SELECT_LIVE_BY_ID, deal_id)
    if row is None:
        raise HTTPException(404, "deal not found")
    return DealOut.model_validate(dict(row))


@app.get("/api/v1/deals", response_model=DealPage)
async def list_deals(
    limit: Annotated[int, Query(ge=1, le=200)] = 50, status: Annotated[list[str] | None, Query()] = None
) -> DealPage:
    if status:
        rows = await pool.fetch(SELECT_PAGE_BY_STATUS, sorted(set(status)), limit + 1)
    else:
        rows = await pool.fetch(SELECT_PAGE, limit + 1)
    items = [DealOut.model_validate(dict(r)) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = items[-1]
        key = [last.next_review_at.isoformat(), last.updated_at.isoformat(), str(last.id)]
        cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    return DealPage(items=items, next_cursor=cursor)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18083)
    args = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
