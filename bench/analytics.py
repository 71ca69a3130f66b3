"""GET /api/v1/analytics/{funnel,stage-times,forecast,performance,income} on 10^5 deals and 10^6 stage history rows:
each endpoint through HTTP on crm-api as deployed, and the bare SQL (the reader's statements on an asyncpg pool,
in this process) as the baseline, as an admin (every deal) and as a seller (their own ~1 %).

Seeds its own database with generate_series (a minute or so): deals created over the last year in the default
pipeline, each with 10 history rows (qualification and negotiation back and forth, then won, lost or proposal),
a policy with three payments for 60 % of them (RUB, USD for one in ten), a premium and a commission income on each
payment already due (one in five left unpaid, so overdue), and two insurers' calculations on closed deals (the
first one's linked to the won deal's policy). Requests go one at a time (this measures latency, not throughput);
each endpoint gets warm-up requests, then BENCH_ANALYTICS_REQUESTS timed ones; the table gives p50 and p95.

    .venv/bin/python bench/analytics.py          # prints the table, writes bench/results/analytics.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import jwt  # noqa: E402
import load  # noqa: E402

from crm.domain.access import EVERYTHING, Access  # noqa: E402
from crm.domain.analytics.repository import Instants, Scope  # noqa: E402
from crm.domain.analytics.rules import Period  # noqa: E402
from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID  # noqa: E402
from crm.infrastructure.db.analytics import PgAnalyticsReader  # noqa: E402

FIGURES = ("funnel", "stage-times", "forecast", "performance", "income")
ZONE = ZoneInfo("Europe/Moscow")
OWNERS = 100
SELLER = "00000000-0000-4000-8000-000000000001"  # owner number 1 (owners are …0001 to …0100)
INSURERS = 10

# Owners …0001-…0100; deal n is owned by owner n % 100 + 1 and created n % 365 days (and some hours) ago; its 10
# history rows are evenly spaced between its creation and a tenth of its age ago.
SEED = """
INSERT INTO crm.clients (id, name, status)
SELECT md5('client' || c)::uuid, 'Client ' || c, 'active' FROM generate_series(1, 1000) c;

CREATE TEMP TABLE plan AS
SELECT n,
       md5('deal' || n)::uuid AS id,
       ('00000000-0000-4000-8000-' || lpad((n % {owners} + 1)::text, 12, '0'))::uuid AS owner_id,
       now() - make_interval(days => n % 365, hours => n % 24) AS created_at,
       CASE WHEN n % 10 < 3 THEN 'won' WHEN n % 10 < 6 THEN 'lost' ELSE 'open' END AS outcome
FROM generate_series(1, {deals}) n;

INSERT INTO crm.deals (id, client_id, title, status, next_review_at, owner_id, pipeline_id, stage_id,
                       stage_entered_at, created_at, updated_at, closed_at)
SELECT p.id, md5('client' || (p.n % 1000 + 1))::uuid, 'Deal ' || p.n,
       CASE p.outcome WHEN 'won' THEN 'won' WHEN 'lost' THEN 'lost' ELSE 'proposal' END,
       (now() + interval '10 days')::date, p.owner_id, '{pipeline}',
       CASE p.outcome WHEN 'won' THEN '{won}'::uuid WHEN 'lost' THEN '{lost}'::uuid ELSE '{proposal}'::uuid END,
       p.created_at + (now() - p.created_at) * 0.81, p.created_at, p.created_at,
       CASE WHEN p.outcome <> 'open' THEN p.created_at + (now() - p.created_at) * 0.81 END
FROM plan p;

INSERT INTO crm.deal_stage_history (deal_id, from_pipeline_id, from_stage_id, from_stage, to_pipeline_id,
                                    to_stage_id, to_stage, source, at, seconds_in_previous)
SELECT p.id,
       CASE WHEN j > 0 THEN '{pipeline}'::uuid END,
       CASE WHEN j = 0 THEN NULL WHEN j % 2 = 1 THEN '{qualification}'::uuid ELSE '{negotiation}'::uuid END,
       CASE WHEN j = 0 THEN NULL WHEN j % 2 = 1 THEN 'qualification' ELSE 'negotiation' END,
       '{pipeline}',
       CASE WHEN j < 9 THEN (CASE WHEN j % 2 = 0 THEN '{qualification}'::uuid ELSE '{negotiation}'::uuid END)
            WHEN p.outcome = 'won' THEN '{won}'::uuid WHEN p.outcome = 'lost' THEN '{lost}'::uuid
            ELSE '{proposal}'::uuid END,
       CASE WHEN j < 9 THEN (CASE WHEN j % 2 = 0 THEN 'qualification' ELSE 'negotiation' END)
            WHEN p.outcome = 'won' THEN 'closedWon' WHEN p.outcome = 'lost' THEN 'closedLost' ELSE 'proposal' END,
       CASE WHEN j = 0 THEN 'created' ELSE 'manual' END,
       p.created_at + (now() - p.created_at) * 0.09 * j,
       CASE WHEN j > 0 THEN extract(epoch FROM (now() - p.created_at) * 0.09)::bigint END
FROM plan p CROSS JOIN generate_series(0, 9) j;

INSERT INTO crm.policies (id, policy_number, client_id, deal_id, owner_id, status, premium, currency,
                          effective_from, effective_to)
SELECT md5('policy' || p.n)::uuid, 'B-' || p.n, md5('client' || (p.n % 1000 + 1))::uuid, p.id, p.owner_id,
       CASE WHEN p.outcome = 'won' THEN 'active' ELSE 'draft' END,
       CASE WHEN p.outcome = 'won' THEN 30000 END,
       CASE WHEN p.n % 10 = 9 THEN 'USD' ELSE 'RUB' END,
       CASE WHEN p.outcome = 'won' THEN p.created_at::date END,
       CASE WHEN p.outcome = 'won' THEN p.created_at::date + 365 END
FROM plan p WHERE p.n % 5 < 3;

INSERT INTO crm.payments (id, policy_id, sequence, planned_date, planned_amount, currency, incomes_total,
                          expenses_total, net_total)
SELECT md5('payment' || p.n || '-' || k)::uuid, md5('policy' || p.n)::uuid, k,
       p.created_at::date + 30 * k, 10000 + p.n % 1000, CASE WHEN p.n % 10 = 9 THEN 'USD' ELSE 'RUB' END,
       CASE WHEN p.created_at::date + 30 * k < current_date AND (p.n + k) % 5 <> 0 THEN 10000 + p.n % 1000 + 1500
            ELSE 0 END,
       0,
       CASE WHEN p.created_at::date + 30 * k < current_date AND (p.n + k) % 5 <> 0 THEN 10000 + p.n % 1000 + 1500
            ELSE 0 END
FROM plan p CROSS JOIN generate_series(1, 3) k WHERE p.n % 5 < 3;

INSERT INTO crm.payment_incomes (id, payment_id, amount, currency, category, posted_at)
SELECT gen_random_uuid(), pay.id, CASE c WHEN 'premium' THEN pay.planned_amount ELSE 1500 END, pay.currency, c,
       pay.planned_date
FROM crm.payments pay CROSS JOIN (VALUES ('premium'), ('commission')) AS categories(c)
WHERE pay.incomes_total > 0;

INSERT INTO crm.calculations (id, deal_id, insurance_company, calculation_date, status, linked_policy_id)
SELECT md5('calculation' || p.n || '-' || k)::uuid, p.id, 'Insurer ' || ((p.n + k) % {insurers}),
       p.created_at::date, CASE WHEN k = 0 AND p.outcome = 'won' AND p.n % 5 < 3 THEN 'confirmed' ELSE 'ready' END,
       CASE WHEN k = 0 AND p.outcome = 'won' AND p.n % 5 < 3 THEN md5('policy' || p.n)::uuid END
FROM plan p CROSS JOIN generate_series(0, 1) k WHERE p.outcome <> 'open';
"""


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


async def seed(url: str, deals: int) -> dict[str, int]:
    stages = {
        "qualification": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f101",
        "negotiation": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f102",
        "proposal": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f103",
        "won": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f104",
        "lost": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f105",
    }
    sql = SEED.format(deals=deals, owners=OWNERS, insurers=INSURERS, pipeline=SEEDED_PIPELINE_ID, **stages)
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(sql)
        await connection.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("deals", "deal_stage_history", "policies", "payments", "payment_incomes", "calculations"):
            counts[table] = await connection.fetchval(f"SELECT count(*) FROM crm.{table}")
        return counts
    finally:
        await connection.close()


def token(secret: str, subject: str, role: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "roles": [role], "iat": now, "exp": now + 4 * 3600}, secret, algorithm="HS256")


async def timed(call: Callable[[], Awaitable[Any]], warmup: int, requests: int) -> list[float]:
    for _ in range(warmup):
        await call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(times: list[float], fraction: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def sql_calls(reader: PgAnalyticsReader, access: Access) -> dict[str, Callable[[], Awaitable[Any]]]:
    """The reader's statements for each figure with the service's default periods, as the service sends them."""
    today = datetime.now(ZONE).date()
    back = Period.looking_back(None, None, today)
    ahead = Period.looking_ahead(None, None, today)
    start, end = back.instants(ZONE)
    instants = Instants(start, end)
    funnel_scope = Scope(access, pipeline_id=SEEDED_PIPELINE_ID)
    scope = Scope(access)
    return {
        "funnel": lambda: reader.funnel(funnel_scope, instants),
        "stage-times": lambda: reader.stage_times(funnel_scope, instants),
        "forecast": lambda: reader.forecast(scope, ahead.start, ahead.end),
        "performance": lambda: reader.performance(scope, instants),
        "income": lambda: reader.income(scope, back.start, back.end, today),
    }


async def measure(args: argparse.Namespace, base_url: str, secret: str) -> list[str]:
    lines = []
    pool = await asyncpg.create_pool(args.url, min_size=1, max_size=2)
    reader = PgAnalyticsReader(pool)
    callers = {
        "admin": (token(secret, load.ACTOR, "admin"), EVERYTHING),
        "seller": (token(secret, SELLER, "seller"), Access(user_id=uuid.UUID(SELLER), everything=False)),
    }
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            for who, (bearer, access) in callers.items():
                bare = sql_calls(reader, access)
                for figure in FIGURES:

                    async def http(figure: str = figure, bearer: str = bearer) -> None:
                        response = await client.get(
                            f"/api/v1/analytics/{figure}", headers={"Authorization": f"Bearer {bearer}"}
                        )
                        response.raise_for_status()

                    served = await timed(http, args.warmup, args.requests)
                    baseline = await timed(bare[figure], args.warmup, args.requests)
                    verdict = "yes" if p(served, 0.95) < 100 else "no"
                    line = (
                        f"| {figure} | {who} | {p(served, 0.5):.1f} | {p(served, 0.95):.1f} | "
                        f"{p(baseline, 0.5):.1f} | {p(baseline, 0.95):.1f} | {verdict} |"
                    )
                    print(line, flush=True)
                    lines.append(line)
    finally:
        await pool.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--url", default=env("BENCH_ANALYTICS_PG_URL", "postgresql://postgres@127.0.0.1:5432/crm_bench_analytics")
    )
    parser.add_argument("--deals", type=int, default=int(env("BENCH_DEALS", "100000")))
    parser.add_argument("--requests", type=int, default=int(env("BENCH_ANALYTICS_REQUESTS", "40")))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--port", type=int, default=int(env("BENCH_ANALYTICS_PORT", "18096")))
    parser.add_argument("--keep-db", action="store_true", default=env("BENCH_KEEP_DB", "0") == "1")
    parser.add_argument("--reuse-db", action="store_true", help="measure on the database as a previous run left it")
    args = parser.parse_args()

    if not args.reuse_db:
        started = time.monotonic()
        load.fresh_database(args.url)
        counts = asyncio.run(seed(args.url, args.deals))
        print(f"seeded in {time.monotonic() - started:.0f} s: {counts}", flush=True)
    secret = uuid.uuid4().hex * 2
    work = ROOT / "bench/results/analytics"
    work.mkdir(parents=True, exist_ok=True)
    server = load.start_server(
        [str(ROOT / ".venv/bin/crm-api")],
        load.service_env(args.url, args.port, secret),
        work / "service.log",
        "",
    )
    base_url = f"http://127.0.0.1:{args.port}"
    try:
        load.wait_ready(base_url, server, work / "service.log")
        header = [
            "| figure | caller | HTTP p50 ms | HTTP p95 ms | bare SQL p50 ms | bare SQL p95 ms | p95 < 100 ms? |",
            "|---|---|---|---|---|---|---|",
        ]
        print("\n".join(header), flush=True)
        lines = asyncio.run(measure(args, base_url, secret))
    finally:
        load.stop_servers([server])
        if not args.keep_db and not args.reuse_db:
            load.drop_database(args.url)
    (ROOT / "bench/results/analytics.md").write_text("\n".join([*header, *lines]) + "\n")


if __name__ == "__main__":
    main()
