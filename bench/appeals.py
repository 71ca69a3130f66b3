"""POST /api/v1/appeals: crm-api as deployed against a raw-asyncpg FastAPI baseline sending the same SQL.

    .venv/bin/python bench/appeals.py            (knobs: --seconds, --repeats, --connections, BENCH_*; bench/README.md)

Makes a database with a lead-intake directory (40 operators, 4 sources and their weights, see ``directory``) and a
copy of it for the baseline, then starts crm-api as deployed (uvicorn with uvloop and httptools, no access log,
HS256 tokens, the outbox relay publishing to a scratch topic exchange on RabbitMQ with a capped queue bound ``#``,
the stream fan-out on a scratch Redis channel, the inbound consumer on scratch queues) and the baseline (this file,
``serve``), both pinned to CPU 0 (wrk on CPU 1). Each is loaded in turn (S B, B S, …) by ``wrk -t2 -cN``, after a
vacuum of both databases (this machine's PostgreSQL has autovacuum off), a wait for a quiet machine and a 3 s warm-up
(bench/load.py), at each connection count; the table shows medians.

While an app is loaded, operators work: every 0.25 s one transaction closes the assigned open appeals older than
``--handling`` seconds and frees their operators' slots (``Desk``), so the operators with a small ``max_load`` and a
large weight fill up and empty again all the time, and the partner feed's few operators are full most of the time:
the at-capacity exclusions, lost slot races and the unassigned path all run, not only the first draw. After every
measurement the script counts, per operator, the open appeals against ``max_load`` and against the stored ``load``;
any difference is printed and makes it exit 3.

The baseline sends the service's own statements (imported from crm.infrastructure.db.leads, .appeals and .outbox)
in one transaction through a pool made as the service makes its own (crm.infrastructure.db.pool, the service's
default sizes and timeouts): TAKE_IN, INTAKE, INSERT_ASSIGNED (the slot taken and the appeal inserted with its log in
one statement; the transaction starts again after a lost slot) or INSERT_UNASSIGNED, the outbox INSERT_QUIET with
the same 2-3 events. It calls the service's ``distribution.plan`` for the choice
(the availability rules and the weighted draw are the domain's, and a copy would drift) and validates the body with
the service's ``AppealCreate``; it has no middleware, authentication, unit of work, problem+json or CloudEvents SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import asyncpg  # noqa: E402
import load  # noqa: E402
import orjson  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import HTTPException  # noqa: E402

from crm.app.config import Settings  # noqa: E402
from crm.domain.leads.appeals import Appeal, AppealCreate  # noqa: E402
from crm.domain.leads.distribution import SlotLost, plan  # noqa: E402
from crm.domain.leads.schemas import Absence, WorkingHours  # noqa: E402
from crm.infrastructure.db.appeals import (  # noqa: E402
    INSERT_ASSIGNED,
    INSERT_UNASSIGNED,
    INTAKE,
    TAKE_IN,
    decision_log,
    source_intake,
)
from crm.infrastructure.db.outbox import INSERT_QUIET as INSERT_OUTBOX  # noqa: E402
from crm.infrastructure.db.pool import create_pool  # noqa: E402

DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}
ZONE = ZoneInfo(DEFAULTS["business_timezone"])
ACTOR = uuid.UUID(load.ACTOR)  # the admin the service's tokens name; the baseline writes the same audit columns
LEAD_FLAGS = ("inserted", "filled")  # TAKE_IN's columns beyond the lead's

# --- The baseline ---------------------------------------------------------------------------------------------

baseline, raw = load.baseline_app(
    lambda: create_pool(
        os.environ["BENCH_PG_URL"],
        min_size=DEFAULTS["db_pool_min_size"],
        max_size=DEFAULTS["db_pool_max_size"],
        command_timeout=DEFAULTS["db_command_timeout"],
        acquire_timeout=DEFAULTS["db_acquire_timeout"],
        application_name="bench-baseline",
    )
)
draw = random.Random()


def cloudevent(routing_key: str, subject: uuid.UUID, data: dict[str, Any]) -> tuple[uuid.UUID, str, bytes]:
    event_id = uuid.uuid4()
    event = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": DEFAULTS["events_source"],
        "type": f"crm.{routing_key}",
        "subject": str(subject),
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
        "data": data,
    }
    return event_id, routing_key, orjson.dumps(event, default=str)  # asyncpg's UUIDs


@baseline.post("/api/v1/appeals", status_code=201, response_model=Appeal)
async def take_in(body: AppealCreate) -> Appeal:
    full: set[uuid.UUID] = set()
    while True:  # as the service: a lost slot starts the transaction again with that operator marked full
        try:
            return await _take_in(body, full)
        except SlotLost as lost:
            full.add(lost.operator_id)


async def _take_in(body: AppealCreate, full: set[uuid.UUID]) -> Appeal:
    async with raw.pool.acquire() as con, con.transaction():
        lead = await con.fetchrow(TAKE_IN, uuid.uuid4(), body.external_id, body.name, body.phone, body.email, ACTOR)
        row = await con.fetchrow(INTAKE, body.source_id, lead["id"])
        if row is None or not row["active"]:
            raise HTTPException(404 if row is None else 409, "source_id")
        intake = source_intake(row)
        decision = plan(intake.candidates, datetime.now(UTC), ZONE, draw, sticky=intake.sticky_operator_id, full=full)
        row = await con.fetchrow(
            INSERT_UNASSIGNED if decision.operator_id is None else INSERT_ASSIGNED,
            uuid.uuid4(),
            lead["id"],
            body.source_id,
            body.message,
            decision.operator_id,
            ACTOR,
            decision.reason.value,
            decision_log(decision),
        )
        if row is None:
            raise SlotLost(decision.operator_id)  # type: ignore[arg-type]
        appeal = Appeal.model_validate(dict(row))
        data = {**dict(row), "reason": decision.reason.value}
        events = [cloudevent("appeal.created", appeal.id, dict(row))]
        events.append(
            cloudevent("appeal.unassigned" if appeal.operator_id is None else "appeal.assigned", appeal.id, data)
        )
        if lead["inserted"] or lead["filled"]:
            key = "lead.created" if lead["inserted"] else "lead.updated"
            events.insert(0, cloudevent(key, lead["id"], {k: v for k, v in lead.items() if k not in LEAD_FLAGS}))
        await con.execute(
            INSERT_OUTBOX,
            [event_id for event_id, _, _ in events],
            [key.split(".", 1)[0] for _, key, _ in events],
            [lead["id"] if key.startswith("lead.") else appeal.id for _, key, _ in events],
            [key for _, key, _ in events],
            [payload.decode() for _, _, payload in events],
            ["{}"] * len(events),
        )
    return appeal


# --- The directory ----------------------------------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def shifts(starts: datetime, ends: datetime) -> dict[str, list[dict[str, str]]]:
    """Working hours (every week) covering ``[starts, ends)`` in the business time zone, split at midnight."""
    hours: dict[str, list[dict[str, str]]] = {}
    local, end = starts.astimezone(ZONE).replace(second=0, microsecond=0), ends.astimezone(ZONE)
    while local < end:
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0)
        until = min(end, midnight)
        to = "24:00" if until == midnight else f"{until:%H:%M}"
        hours.setdefault(WEEKDAYS[local.weekday()], []).append({"from": f"{local:%H:%M}", "to": to})
        local = until
    return WorkingHours.model_validate(hours).model_dump(mode="json", by_alias=True)


# Operator groups: (name, how many, max_load range, what makes them (un)available).
GROUPS = (
    ("on call", 14, (5, 40), "no working hours: always present"),
    ("on shift", 14, (5, 40), "a shift from 4 h ago to 4 h ahead"),
    ("partner desk", 4, (3, 3), "always present, a max_load of 3"),
    ("off shift", 4, (20, 20), "a shift starting in 8 h"),
    ("inactive", 2, (20, 20), "active = false"),
    ("away", 2, (20, 20), "an absence from yesterday to tomorrow"),
)
# Sources: (name, channel, sticky, share of the traffic in %, operator groups listed with a weight range).
SOURCES = (
    (
        "Telegram bot",
        "telegram",
        True,
        40,
        {"on call": (1, 5), "on shift": (1, 5), "off shift": (1, 5), "away": (2, 2)},
    ),
    ("Web form", "web", True, 30, {"on shift": (0, 3), "on call": (1, 3), "inactive": (1, 1), "off shift": (1, 1)}),
    ("Call centre", "phone", True, 20, {"on call": (1, 4), "inactive": (2, 2)}),
    ("Partner feed", "partner", False, 10, {"partner desk": (1, 1), "off shift": (1, 1)}),
)


def directory(
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[uuid.UUID, uuid.UUID, int]]]:
    """Operators, sources and weights (fixed seed); working hours and absences as the API stores them."""
    rng = random.Random(13)
    operators: list[dict[str, Any]] = []
    for group, count, (low, high), _ in GROUPS:
        for n in range(count):
            hours = None
            if group == "on shift":
                hours = shifts(now - timedelta(hours=4), now + timedelta(hours=4))
            elif group == "off shift":
                hours = shifts(now + timedelta(hours=8), now + timedelta(hours=10))
            absences = []
            if group == "away":
                period = {"starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=1)}
                absences = [Absence.model_validate(period).model_dump(mode="json")]
            operators.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": uuid.uuid4(),
                    "name": f"{group.title()} {n + 1}",
                    "group": group,
                    "active": group != "inactive",
                    "max_load": rng.randint(low, high),
                    "working_hours": hours,
                    "absences": absences,
                }
            )
    sources, weights = [], []
    for name, channel, sticky, share, listed in SOURCES:
        source = {"id": uuid.uuid4(), "name": name, "channel": channel, "sticky": sticky, "share": share}
        sources.append(source)
        for operator in operators:
            if operator["group"] in listed:
                weights.append((source["id"], operator["id"], rng.randint(*listed[operator["group"]])))
    return operators, sources, weights


async def seed(url: str, now: datetime) -> list[dict[str, Any]]:
    operators, sources, weights = directory(now)
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO crm.operators (id, user_id, name, active, max_load, working_hours, absences, created_by_id, "
            "updated_by_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $8)",
            [
                (
                    o["id"],
                    o["user_id"],
                    o["name"],
                    o["active"],
                    o["max_load"],
                    o["working_hours"] and json.dumps(o["working_hours"]),
                    json.dumps(o["absences"]),
                    ACTOR,
                )
                for o in operators
            ],
        )
        await connection.executemany(
            "INSERT INTO crm.sources (id, name, channel, sticky, created_by_id, updated_by_id) "
            "VALUES ($1, $2, $3, $4, $5, $5)",
            [(s["id"], s["name"], s["channel"], s["sticky"], ACTOR) for s in sources],
        )
        await connection.executemany(
            "INSERT INTO crm.source_weights (source_id, operator_id, weight, updated_by_id) VALUES ($1, $2, $3, $4)",
            [(*w, ACTOR) for w in weights],
        )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return sources


# --- Operators at work, and what the run did ------------------------------------------------------------------------

# The open appeals that came in within [$1, $2), closed, and their operators' slots freed, in one transaction that
# never waits: operators and appeals another transaction holds are skipped (until a later tick). Waiting could
# deadlock: an intake transaction whose slot take found an operator full after waiting for their row keeps that row
# locked while it tries the next operator, so a closer holding several operators' rows would close a cycle.
CLOSE_HANDLED = """
WITH free AS (
    SELECT id FROM crm.operators WHERE load > 0 FOR NO KEY UPDATE SKIP LOCKED
), handled AS (
    SELECT a.id FROM crm.appeals a JOIN free ON a.operator_id = free.id
    WHERE a.created_at >= $1 AND a.created_at < $2 AND a.status = 'open'
    FOR UPDATE OF a SKIP LOCKED
), closed AS (
    UPDATE crm.appeals a
    SET status = 'closed', closed_at = now(), first_action_at = COALESCE(a.first_action_at, now()),
        resolution = 'handled', version = a.version + 1, updated_at = now()
    FROM handled WHERE a.id = handled.id
    RETURNING a.operator_id
)
UPDATE crm.operators o SET load = o.load - c.count
FROM (SELECT operator_id, count(*) FROM closed GROUP BY operator_id) AS c
WHERE o.id = c.operator_id
"""
# Operators holding more open appeals than max_load, or whose stored load is not that count.
CAP_VIOLATIONS = """
SELECT o.name, o.max_load, o.load, count(a.id) AS open_appeals
FROM crm.operators o LEFT JOIN crm.appeals a ON a.operator_id = o.id AND a.status = 'open'
WHERE NOT o.is_deleted
GROUP BY o.id
HAVING count(a.id) > o.max_load OR count(a.id) <> o.load
ORDER BY o.name
"""
MIX = """
SELECT reason, count(*) AS appeals, count(*) FILTER (WHERE candidates @> '[{"excluded": "at_capacity"}]') AS saw_full
FROM crm.appeal_assignments WHERE decided_at >= $1 GROUP BY reason
"""
AT_CAPACITY = "SELECT count(*) FROM crm.operators WHERE load >= max_load AND active"
TICK = 0.25
LOOK_BACK = 5  # seconds


class Desk:
    """While the block runs, operators close their appeals ``handling`` seconds after they came in (one
    transaction every ``TICK`` s on a connection of its own, in a thread of this process)."""

    def __init__(self, url: str, handling: float) -> None:
        self._url, self._handling = url, timedelta(seconds=handling)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._work()), daemon=True)

    def __enter__(self) -> Desk:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _work(self) -> None:
        connection = await asyncpg.connect(self._url)
        try:
            since = datetime.now(UTC) - timedelta(days=1)  # what earlier runs left open, at the first tick
            while not self._stop.is_set():
                until = datetime.now(UTC) - self._handling
                await connection.execute(CLOSE_HANDLED, since, until)
                # Appeals skipped (their operator or row held) or committed late are looked at again for a while.
                since = until - timedelta(seconds=LOOK_BACK)
                await asyncio.sleep(TICK)
        finally:
            await connection.close()


async def state_after(url: str, since: datetime) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        violations = [dict(row) for row in await connection.fetch(CAP_VIOLATIONS)]
        mix = {row["reason"]: (row["appeals"], row["saw_full"]) for row in await connection.fetch(MIX, since)}
        full = await connection.fetchval(AT_CAPACITY)
        backlog = await connection.fetchval("SELECT count(*) FROM crm.outbox WHERE published_at IS NULL")
        published = await connection.fetchval("SELECT count(*) FROM crm.outbox WHERE published_at IS NOT NULL")
    finally:
        await connection.close()
    return {"violations": violations, "mix": mix, "full": full, "backlog": backlog, "published": published}


def describe_state(state: dict[str, Any]) -> str:
    total = sum(n for n, _ in state["mix"].values()) or 1
    mix = ", ".join(f"{reason} {n / total:.0%}" for reason, (n, _) in sorted(state["mix"].items()))
    saw_full = sum(f for _, f in state["mix"].values()) / total
    return (
        f"    {total:,} appeals ({mix}); {saw_full:.0%} found an operator at capacity; {state['full']} operators "
        f"full at the end; outbox: {state['published']:,} published, {state['backlog']:,} waiting; "
        f"cap violations: {len(state['violations'])}"
    ) + "".join(f"\n    CAP VIOLATION {row}" for row in state["violations"])


# --- Load ---------------------------------------------------------------------------------------------------------

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
sources = {%(sources)s}
names = {"Ivan Petrov", "Anna Smirnova", "Oleg Ivanov", "Maria Kuznetsova", "Sergey Popov", "Elena Sokolova"}
topics = {"Need CASCO for two trucks", "OSAGO renewal, car %%d", "Call me about travel insurance",
          "Property insurance for a flat of %%d m2", "Question about policy %%d"}
local RING, REPEATS = 512, %(repeats)s
local leads, ids, via = 0, {}, {}
request = function()
  local id, source
  if leads > 0 and math.random() < REPEATS then
    -- a repeat contact of one of this thread's last leads, mostly through the same source
    local k = math.random(math.min(leads, RING))
    id, source = ids[k], via[k]
    if math.random() < 0.25 then source = sources[math.random(#sources)] end
  else
    leads = leads + 1
    id, source = string.format("tg:%(run)s-%%d-%%d", tid, leads), sources[math.random(#sources)]
    local slot = (leads - 1) %% RING + 1
    ids[slot], via[slot] = id, source
  end
  local body = '{"source_id":"' .. source .. '","external_id":"' .. id .. '"'
  if math.random() < 0.6 then body = body .. ',"name":"' .. names[math.random(#names)] .. '"' end
  if math.random() < 0.5 then
    body = body .. string.format(',"phone":"+7 9%%02d %%03d-%%02d-%%02d"', math.random(0, 99), math.random(0, 999),
      math.random(0, 99), math.random(0, 99))
  end
  if math.random() < 0.8 then
    body = body .. ',"message":"' .. string.format(topics[math.random(#topics)], math.random(1, 999)) .. '"'
  end
  return wrk.format(nil, nil, nil, body .. "}")
end
"""


def lua(token: str, sources: list[dict[str, Any]], repeats: float) -> str:
    """A fresh prefix of external ids: each measurement's new contacts are new leads."""
    weighted = [f'"{s["id"]}"' for s in sources for _ in range(s["share"] // 10)]
    return LUA % {"token": token, "sources": ",".join(weighted), "repeats": repeats, "run": uuid.uuid4().hex[:10]}


def smoke(url: str, token: str, source_id: uuid.UUID) -> None:
    body = json.dumps({"source_id": str(source_id), "external_id": f"smoke-{uuid.uuid4().hex}", "name": "Smoke"})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    response = urllib.request.urlopen(
        urllib.request.Request(f"{url}/api/v1/appeals", body.encode(), headers), timeout=5
    )
    appeal = json.load(response)
    assert response.status == 201 and appeal["status"] == "open", appeal


async def broker(amqp_url: str, prefix: str, *, drop: bool) -> None:
    """The relay's scratch exchange with a capped durable queue bound ``#`` (every event routed and persisted), or,
    with ``drop``, that and the inbound consumer's scratch exchange and queues deleted."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        if not drop:
            exchange = await channel.declare_exchange(prefix, aio_pika.ExchangeType.TOPIC, durable=True)
            sink = await channel.declare_queue(f"{prefix}.sink", durable=True, arguments={"x-max-length": 100_000})
            await sink.bind(exchange, "#")
            return
        for queue in (f"{prefix}.sink", f"{prefix}.inbound", f"{prefix}.inbound.retry", f"{prefix}.inbound.dlq"):
            await channel.queue_delete(queue)
        for exchange_name in (prefix, f"{prefix}.inbound"):
            await channel.exchange_delete(exchange_name)
    finally:
        await connection.close()


Results = dict[int, dict[str, list[tuple[load.Run, dict[str, Any]]]]]  # connections -> app -> (run, state after)


async def vacuum(urls: Iterable[str]) -> None:
    """What autovacuum would have done by now. This machine's PostgreSQL runs with ``autovacuum = off``: without
    this, dead rows (the relay updates each outbox row twice, operators take and free slots all the time, closed
    appeals) pile up and a run lost up to half its rate within ten minutes."""
    for url in urls:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("VACUUM (ANALYZE)")
        finally:
            await connection.close()


def run_once(
    url: str,
    pid: int,
    database_url: str,
    script: Callable[[], str],
    options: argparse.Namespace,
    raw: Path,
    databases: Iterable[str],
) -> tuple[load.Run, dict[str, Any]]:
    """Both databases vacuumed, then one warm-up and one measured run of ``url`` with operators at work; what the
    database holds after it."""
    asyncio.run(vacuum(databases))
    since = datetime.now(UTC)
    with Desk(database_url, options.handling):
        (run,) = load.alone(f"{url}/api/v1/appeals", script(), options, pid, raw)
    return run, asyncio.run(state_after(database_url, since))


def run_line(label: str, app: str, rep: int, measured: tuple[load.Run, dict[str, Any]], idle: float) -> str:
    run, state = measured
    return load.alone_line(label, app, rep, (run,), idle) + "\n" + describe_state(state)


def measure(
    args: argparse.Namespace,
    apps: dict[str, tuple[str, int]],
    urls: dict[str, str],
    token: str,
    sources: list[dict[str, Any]],
    work: Path,
) -> Results:
    """Each connection count, the two apps in turn (S B, B S, …), ``args.repeats`` runs each; operators at work
    during every run, the caps checked after it."""
    results: Results = {}
    script = functools.partial(lua, token, sources, args.repeat_contacts)
    for connections in (int(c) for c in args.connections.split(",")):
        options = argparse.Namespace(**{**vars(args), "connections": connections, "work_dir": str(work)})
        results[connections] = {"service": [], "baseline": []}
        for rep in range(args.repeats):
            for app in ("service", "baseline") if rep % 2 == 0 else ("baseline", "service"):
                raw = work / f"wrk-c{connections}-{app}-{rep}.txt"
                once = functools.partial(run_once, *apps[app], urls[app], script, options, raw, urls.values())
                label = f"POST /api/v1/appeals -c{connections}"
                run, state = load.kept(once, functools.partial(run_line, label, app, rep), options)
                results[connections][app].append((run, state))
    return results


def report(results: Results, args: argparse.Namespace, started: datetime, revision: str) -> tuple[str, bool, bool]:
    """The markdown table; whether any request failed; whether any cap was broken."""
    pinned = "servers on CPU 0, wrk on CPU 1" if args.pin_wrk else "not pinned"
    lines = [
        f"POST /api/v1/appeals, {started:%Y-%m-%d %H:%M} UTC, code {revision}: `wrk -t2 -cN -d{args.seconds}s` after "
        f"a {args.warmup} s warm-up, median of {args.repeats} runs per app (alternating); {pinned}; appeals closed "
        f"{args.handling} s after they came in.",
        "",
        "| -c | crm-api appeals/s | p50 ms | p99 ms | baseline appeals/s | p50 ms | p99 ms | ratio | ≥ 800/s? "
        "| p99 < 100 ms? | errors crm-api / baseline | cap violations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    details = [
        "",
        "| -c | app | appeals/s min-max | server CPU % | postgres CPU % | wrk CPU % | foreign CPU % (max) "
        "| weighted / sticky / unassigned | saw an operator at capacity | operators full at the end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    errors = violations = 0
    for connections, by_app in results.items():
        runs = {app: [run for run, _ in pairs] for app, pairs in by_app.items()}
        s, b = runs["service"], runs["baseline"]
        failed = [sum(r.non2xx + r.socket_errors + r.timeouts for r in runs[app]) for app in ("service", "baseline")]
        broken = sum(len(state["violations"]) for pairs in by_app.values() for _, state in pairs)
        errors, violations = errors + sum(failed), violations + broken
        rate, p99 = load.med(s, "rps"), load.med(s, "p99_ms")
        lines.append(
            f"| {connections} | {rate:,.0f} | {load.med(s, 'p50_ms'):.1f} | {p99:.1f} | {load.med(b, 'rps'):,.0f} "
            f"| {load.med(b, 'p50_ms'):.1f} | {load.med(b, 'p99_ms'):.1f} | {rate / load.med(b, 'rps'):.2f} "
            f"| {'yes' if rate >= 800 else '**no**'} | {'yes' if p99 < 100 else '**no**'} | {failed[0]} / {failed[1]} "
            f"| {broken} |"
        )
        for app, pairs in by_app.items():
            shares = [mix_shares(state) for _, state in pairs]
            mix = " / ".join(
                f"{statistics.median(share[k] for share in shares):.0%}" for k in ("weighted", "sticky", "unassigned")
            )
            details.append(
                f"| {connections} | {app} | {min(r.rps for r in runs[app]):,.0f}-{max(r.rps for r in runs[app]):,.0f} "
                f"| {load.med(runs[app], 'server_cpu'):.0f} | {load.med(runs[app], 'pg_cpu'):.0f} "
                f"| {load.med(runs[app], 'wrk_cpu'):.0f} | {max(r.foreign_cpu for r in runs[app]):.0f} | {mix} "
                f"| {statistics.median(share['saw_full'] for share in shares):.0%} "
                f"| {statistics.median(state['full'] for _, state in pairs):.0f} |"
            )
    return "\n".join([*lines, *details, ""]), errors > 0, violations > 0


def mix_shares(state: dict[str, Any]) -> dict[str, float]:
    total = sum(n for n, _ in state["mix"].values()) or 1
    shares = {reason: state["mix"].get(reason, (0, 0))[0] / total for reason in ("weighted", "sticky", "unassigned")}
    return {**shares, "saw_full": sum(f for _, f in state["mix"].values()) / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["run", "serve"], default="run")
    env = os.environ.get
    parser.add_argument("--port", type=int, default=int(env("BENCH_APPEALS_PORT", "18095")), help="+1: crm-api")
    parser.add_argument("--seconds", type=int, default=int(env("BENCH_SECONDS", "10")))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=int(env("BENCH_REPEATS", "3")), help="runs of each app")
    parser.add_argument("--connections", default=env("BENCH_CONNECTIONS", "64,16"), help="wrk -c, comma-separated")
    parser.add_argument("--handling", type=float, default=float(env("BENCH_HANDLING_SECONDS", "0.5")))
    parser.add_argument("--repeat-contacts", type=float, default=0.2, help="share of requests by an earlier lead")
    parser.add_argument("--max-foreign", type=float, default=float(env("BENCH_MAX_FOREIGN", "25")))
    parser.add_argument("--quiet-wait", type=float, default=float(env("BENCH_QUIET_WAIT", "30")))
    parser.add_argument("--retries", type=int, default=int(env("BENCH_RETRIES", "2")))
    args = parser.parse_args()
    if args.mode == "serve":
        uvicorn.run(baseline, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return

    pg_url = env("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/crm_bench_appeals")
    amqp_url = env("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    redis_url = env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    work = ROOT / "bench" / "results" / "appeals"
    work.mkdir(parents=True, exist_ok=True)
    revision = subprocess.run(
        ["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    started = datetime.now(UTC)
    # The directory is seeded once; the baseline's database is a copy, so both start alike.
    urls = {"service": f"{pg_url}_service", "baseline": f"{pg_url}_baseline"}
    load.fresh_database(urls["service"])
    sources = asyncio.run(seed(urls["service"], started))
    print(
        "operators: "
        + "; ".join(f"{n} {group} (max_load {low}-{high}, {what})" for group, n, (low, high), what in GROUPS)
    )
    print(
        "sources: "
        + "; ".join(
            f"{s['name']} ({s['channel']}, {s['share']} % of the traffic, sticky: {s['sticky']})" for s in sources
        )
    )
    load.fresh_database(urls["baseline"], template=urls["service"])
    prefix = f"bench.appeals.{uuid.uuid4().hex[:8]}"
    asyncio.run(broker(amqp_url, prefix, drop=False))
    secret = secrets.token_urlsafe(48)
    token = load.access_token(secret)
    args.pin_wrk = "1" if (os.cpu_count() or 1) >= 2 else ""
    pin = "0" if args.pin_wrk else ""
    ports = {"baseline": args.port, "service": args.port + 1}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        deployed = {
            "CRM_RABBITMQ_URL": amqp_url,
            "CRM_EVENTS_EXCHANGE": prefix,
            "CRM_REDIS_URL": redis_url,
            "CRM_STREAM_CHANNEL": f"{prefix}.stream",
            "CRM_NOTIFICATIONS_STREAM_KEY": f"{prefix}.notifications",
            "CRM_NOTIFICATIONS_EXCHANGE": f"{prefix}.inbound",
            "CRM_NOTIFICATIONS_QUEUE_NAME": f"{prefix}.inbound",
        }
        service_env = load.service_env(urls["service"], ports["service"], secret, **deployed)
        servers["service"] = load.start_server(
            [str(ROOT / ".venv/bin/crm-api")], service_env, work / "service.log", pin
        )
        servers["baseline"] = load.start_server(
            [sys.executable, __file__, "serve", "--port", str(ports["baseline"])],
            {**os.environ, "BENCH_PG_URL": urls["baseline"]},
            work / "baseline.log",
            pin,
        )
        apps = {app: (f"http://127.0.0.1:{ports[app]}", server.pid) for app, server in servers.items()}
        for app, (url, _) in apps.items():
            load.wait_ready(url, servers[app], work / f"{app}.log")
            smoke(url, token, sources[0]["id"])
        print(f"crm-api pid {servers['service'].pid}, baseline pid {servers['baseline'].pid}")
        results = measure(args, apps, urls, token, sources, work)
    finally:
        load.stop_servers(list(servers.values()))
        asyncio.run(broker(amqp_url, prefix, drop=True))
        if env("BENCH_KEEP_DB") != "1":
            for url in urls.values():
                load.drop_database(url)
    text, errors, broken = report(results, args, started, revision)
    (work / "latest.md").write_text(text)
    print("\n" + text)
    if broken:
        print("max_load broken or a stored load wrong: see the CAP VIOLATION lines above", file=sys.stderr)
    sys.exit(3 if broken else 2 if errors else 0)


if __name__ == "__main__":
    main()
