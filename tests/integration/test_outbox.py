"""Every change leaves exactly its events in crm.outbox, in the same transaction; a failure leaves none."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from crm.domain.caller import Caller
from crm.domain.events import DomainEvent
from crm.infrastructure.db.outbox import OutboxWriter, PgDealEventLog
from tests.auth import bearer
from tests.factories import make_client, make_deal
from tests.outbox import cloudevent, outbox_rows, routing_keys


def deal_events(count: int) -> list[DomainEvent]:
    deal_id = uuid.uuid4()
    return [DomainEvent("deal.updated", deal_id, {"n": n}, datetime.now(UTC)) for n in range(count)]


async def settled_sequences(pool: asyncpg.Pool) -> list[int]:
    return [event.sequence for event in await PgDealEventLog(pool).after(0, 1_000)]


async def test_a_transaction_that_commits_late_is_neither_skipped_nor_passed(db, database_url):
    """Readers never go past a transaction still running: its events, committed after later ones, come first."""
    writer = OutboxWriter("crm.deals")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    late = await asyncpg.connect(database_url)
    try:
        transaction = late.transaction()
        await transaction.start()
        await writer.write(late, deal_events(2))  # takes its transaction id first, commits last
        await writer.write(db, deal_events(3))  # commits at once
        await asyncio.sleep(0.2)
        while_open = await settled_sequences(pool)
        await transaction.commit()
        async with asyncio.timeout(15):  # another database's transaction may hold the horizon a moment
            while len(after := await settled_sequences(pool)) < 5:
                await asyncio.sleep(0.05)
    finally:
        await late.close()
        await pool.close()
    rows = await db.fetch("SELECT sequence, payload -> 'data' ->> 'n' AS n FROM crm.outbox ORDER BY id")
    late_rows, early_rows = rows[:2], rows[2:]
    assert while_open == []
    assert after == sorted(after) == sorted(row["sequence"] for row in rows)
    assert after[:2] == [row["sequence"] for row in late_rows]  # published first: the earlier transaction
    assert after[2:] == [row["sequence"] for row in early_rows]
    assert [row["n"] for row in late_rows] == ["0", "1"] and [row["n"] for row in early_rows] == ["0", "1", "2"]


async def test_events_written_in_one_transaction_keep_the_order_they_were_written_in(db):
    writer = OutboxWriter("crm.deals")
    async with db.transaction():
        await writer.write(db, deal_events(2))
        await writer.write(db, deal_events(3))
    rows = await db.fetch("SELECT id, sequence FROM crm.outbox ORDER BY id")
    sequences = [row["sequence"] for row in rows]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5
    assert sequences[-1] - sequences[0] == 4  # one transaction: consecutive ranks


async def test_client_lifecycle_events(api, db):
    client = await make_client(api)
    await api.patch(f"/api/v1/clients/{client['id']}", json={"status": "inactive"})
    await api.delete(f"/api/v1/clients/{client['id']}")
    await api.post(f"/api/v1/clients/{client['id']}/restore")
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows] == ["client.created", "client.updated", "client.deleted", "client.restored"]
    assert {r["aggregate_type"] for r in rows} == {"client"}
    assert {str(r["aggregate_id"]) for r in rows} == {client["id"]}
    assert [cloudevent(r).get_data()["version"] for r in rows] == [1, 2, 3, 4]
    assert not any(r["published"] or r["last_error"] for r in rows)


async def test_event_is_a_valid_cloudevent_with_the_contract_attributes(api, db):
    deal = await make_deal(api)
    row = (await outbox_rows(db))[-1]
    event = cloudevent(row)  # the SDK validates required attributes and the spec version
    assert event.get_specversion() == "1.0"
    assert event.get_type() == "crm.deal.created"
    assert event.get_source() == "crm.deals"
    assert event.get_subject() == deal["id"]
    assert event.get_id() == str(row["event_id"])
    assert event.get_datacontenttype() == "application/json"
    assert event.get_time() is not None
    assert event.get_data() == deal


async def test_trace_id_travels_with_the_event(api, db):
    client = await api.post(
        "/api/v1/clients", json={"name": "A"}, headers={"X-Request-ID": "7b0c1e4a2f9d4c3e8a6b5d4c3b2a1f0e"}
    )
    assert client.status_code == 201
    row = (await outbox_rows(db))[-1]
    assert json.loads(row["headers"]) == {"x-trace-id": "7b0c1e4a2f9d4c3e8a6b5d4c3b2a1f0e"}


async def test_stage_change_records_update_then_stage_changed(api, db):
    actor = str(uuid.uuid4())
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "negotiation"}, headers=bearer(actor, "admin"))
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows] == ["client.created", "deal.created", "deal.updated", "deal.stage.changed"]
    assert rows[2]["id"] < rows[3]["id"]
    assert cloudevent(rows[3]).get_data() == {
        "deal_id": deal["id"],
        "old_stage": "qualification",
        "new_stage": "negotiation",
        "actor_id": actor,
        "rule_id": None,
        "pipeline_id": deal["pipeline_id"],
        "old_pipeline_id": deal["pipeline_id"],
        "lost_reason": None,
    }


async def test_update_without_stage_change_records_only_deal_updated(api, db):
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Renamed"})
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"status": "qualification"})  # same stage
    keys = await routing_keys(db)
    assert keys == ["client.created", "deal.created", "deal.updated", "deal.updated"]


async def test_deal_delete_and_restore_events(api, db):
    deal = await make_deal(api)
    await api.delete(f"/api/v1/deals/{deal['id']}")
    await api.post(f"/api/v1/deals/{deal['id']}/restore")
    keys = await routing_keys(db)
    assert keys[-2:] == ["deal.deleted", "deal.restored"]


async def test_no_op_changes_record_nothing(api, db):
    deal = await make_deal(api)
    before = len(await outbox_rows(db))
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": deal["title"]})
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "qualification"})
    await api.post(f"/api/v1/deals/{deal['id']}/restore")
    assert len(await outbox_rows(db)) == before


async def test_refused_changes_record_nothing(api, db):
    deal = await make_deal(api)
    before = await outbox_rows(db)
    await api.post(
        "/api/v1/deals",
        json={"client_id": str(uuid.uuid4()), "title": "T", "next_review_at": "2026-12-01"},
    )
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "x"}, headers={"If-Match": '"9"'})
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"status": "draft"})
    await api.delete(f"/api/v1/clients/{deal['client_id']}")
    assert await outbox_rows(db) == before


async def test_rollback_discards_recorded_events_and_changes(app, db):
    factory = app.state.services.deals._uow  # the wired unit-of-work factory
    event = DomainEvent(
        routing_key="client.created",
        aggregate_id=uuid.uuid4(),
        data={},
        occurred_at=app.state.services.clock.now(),
    )
    with pytest.raises(RuntimeError):
        async with factory(Caller()) as uow:
            await uow.clients.add(
                event.aggregate_id,
                {"name": "Ghost", "email": None, "phone": None, "status": "active", "owner_id": None},
                None,
            )
            uow.record(event)
            raise RuntimeError("the use case failed before commit")
    assert await outbox_rows(db) == []
    assert await db.fetchval("SELECT count(*) FROM crm.clients") == 0


async def test_commit_writes_change_and_event_together(app, db):
    factory = app.state.services.deals._uow
    client_id = uuid.uuid4()
    async with factory(Caller()) as uow:
        await uow.clients.add(
            client_id, {"name": "Real", "email": None, "phone": None, "status": "active", "owner_id": None}, None
        )
        uow.record(DomainEvent("client.created", client_id, {"id": str(client_id)}, app.state.services.clock.now()))
        await uow.commit()
    assert await db.fetchval("SELECT count(*) FROM crm.clients WHERE id = $1", client_id) == 1
    assert len(await outbox_rows(db, aggregate_id=client_id)) == 1
