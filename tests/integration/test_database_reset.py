"""The harness's reset between database tests (tests/conftest.py ``empty_database``): what a test wrote is gone, the
migrations' data is back and the sequences the tables own start over, as ``TRUNCATE ... RESTART IDENTITY`` left them."""

from __future__ import annotations

import asyncpg

from tests.conftest import KEPT_TABLES, RESEEDED_TABLES, empty_database
from tests.factories import make_deal, make_payment, make_policy
from tests.pipelines import make_pipeline, move

OWNED_SEQUENCES = """
SELECT s.relname AS name, ps.last_value FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = s.relname
WHERE s.relkind = 'S' AND n.nspname = 'crm' AND NOT t.relname = ANY($1::text[])
"""


async def _rows_by_table(db: asyncpg.Connection) -> dict[str, int]:
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'crm' ORDER BY tablename")
    return {row["tablename"]: await db.fetchval(f"SELECT count(*) FROM crm.{row['tablename']}") for row in tables}


async def _reseeded(db: asyncpg.Connection) -> dict[str, object]:
    return {
        table: await db.fetchval(f"SELECT jsonb_agg(t ORDER BY t.id) FROM crm.{table} t") for table in RESEEDED_TABLES
    }


async def test_a_reset_empties_what_a_test_wrote_and_restarts_the_owned_sequences(api, db, database_url, seeds):
    migrated = await _rows_by_table(db)
    seeded = await _reseeded(db)
    pipeline = await make_pipeline(api)
    deal = await make_deal(api, pipeline_id=pipeline["id"])
    assert (await move(api, deal, "quoted")).status_code == 200
    await make_payment(api, await make_policy(api, deal))
    await db.execute("UPDATE crm.pipeline_stages SET name = 'Renamed' WHERE key = 'new'")
    written = await _rows_by_table(db)
    used = {row["name"] for row in await db.fetch(OWNED_SEQUENCES, list(KEPT_TABLES)) if row["last_value"]}
    assert {"outbox_id_seq", "deal_stage_history_id_seq", "payment_history_id_seq"} <= used
    assert written["pipelines"] > migrated["pipelines"] and written["deals"] > 0

    await empty_database(db, database_url, seeds)

    after = await _rows_by_table(db)
    assert {table: count for table, count in after.items() if table not in (*KEPT_TABLES, *RESEEDED_TABLES)} == {
        table: 0 for table in after if table not in (*KEPT_TABLES, *RESEEDED_TABLES)
    }
    assert {table: after[table] for table in KEPT_TABLES} == {table: migrated[table] for table in KEPT_TABLES}
    assert await _reseeded(db) == seeded
    assert [row["name"] for row in await db.fetch(OWNED_SEQUENCES, list(KEPT_TABLES)) if row["last_value"]] == []
    assert await db.fetchval("SELECT nextval('crm.outbox_id_seq')") == 1
