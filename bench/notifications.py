"""POST /api/v1/notifications: crm-api against a raw-asyncpg FastAPI baseline doing the same work.

    .venv/bin/python bench/notifications.py            (knobs: --seconds, --repeats, BENCH_PG_URL; see bench/README.md)

Creates and migrates a database of its own, starts crm-api and the baseline (this file, ``serve``), each pinned to
CPU 0 when there are two CPUs (wrk then runs on CPU 1), and loads both at the same time with a wrk each (as
bench/load.py's side-by-side measurement does: the machine's ups and downs hit both alike). Every request submits
a ``task.reminder`` to one recipient with a user id and a Telegram chat (two deliveries, rendered from the seeded
templates) with a fresh ``deduplication_key``. Prints the median rates and their ratio as a markdown table.

The baseline sends the service's own statements (imported from crm.infrastructure.db.notifications and .outbox)
in one transaction through a raw asyncpg pool and renders with the service's TemplateRenderer; it has no
middleware, no authentication, no unit of work, no problem+json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import asyncpg  # noqa: E402
import load  # noqa: E402
import uvicorn  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from crm.domain.notifications.rendering import TemplateRenderer, summary  # noqa: E402
from crm.infrastructure.db.notifications import FIND_BODIES, INSERT_DELIVERIES, INSERT_NOTIFICATIONS  # noqa: E402
from crm.infrastructure.db.outbox import INSERT_QUIET as INSERT_OUTBOX  # noqa: E402

EVENT_KEY = "task.reminder"
POOL_SIZE = 10


class RecipientIn(BaseModel):
    user_id: uuid.UUID | None = None
    telegram_id: str | None = None


class NotificationIn(BaseModel):
    event_key: str
    recipients: list[RecipientIn] = []
    payload: dict[str, Any] = {}
    deduplication_key: str | None = None


class Accepted(BaseModel):
    notification_id: uuid.UUID


baseline, raw = load.baseline_app(
    lambda: asyncpg.create_pool(os.environ["BENCH_PG_URL"], min_size=2, max_size=POOL_SIZE, command_timeout=30)
)
renderer = TemplateRenderer()


@baseline.post("/api/v1/notifications", status_code=202, response_model=Accepted)
async def submit(body: NotificationIn) -> Accepted:
    targets = [(channel, r.user_id, r.telegram_id) for r in body.recipients for channel in ("telegram", "sse")]
    notification_id = uuid.uuid4()
    async with raw.pool.acquire() as con, con.transaction():
        bodies = {
            row["channel"]: row["body"]
            for row in await con.fetch(FIND_BODIES, body.event_key, ["sse", "telegram"], ["ru-RU"])
        }
        texts = {
            channel: renderer.render(bodies[channel], body.payload) if channel in bodies else None
            for channel in ("sse", "telegram")
        }
        now = datetime.now(UTC)
        texts = {channel: text or summary(body.event_key, body.payload, now) for channel, text in texts.items()}
        inserted = await con.fetchval(
            INSERT_NOTIFICATIONS,
            [notification_id],
            [body.event_key],
            [json.dumps(body.payload)],
            [json.dumps([r.model_dump(mode="json") for r in body.recipients])],
            [None],
            [body.deduplication_key],
            ["pending"],
            [None],
        )
        if inserted is None:
            raise RuntimeError("duplicate")
        await con.execute(
            INSERT_DELIVERIES,
            [uuid.uuid4() for _ in targets],
            [notification_id] * len(targets),
            [t[0] for t in targets],
            [t[1] for t in targets],
            [t[2] for t in targets],
            [texts[t[0]] for t in targets],
            ["pending"] * len(targets),
            [None] * len(targets),
        )
        event_id = uuid.uuid4()
        event = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "crm.deals",
            "type": "crm.notification.queued",
            "subject": str(notification_id),
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": {"notification_id": str(notification_id), "event_key": body.event_key, "status": "pending"},
        }
        await con.execute(
            INSERT_OUTBOX,
            [event_id],
            ["notification"],
            [notification_id],
            ["notification.queued"],
            [json.dumps(event)],
            ["{}"],
        )
    return Accepted(notification_id=notification_id)


LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"event_key":"task.reminder","recipients":[{"user_id":"%(user)s",' ..
    '"telegram_id":"%%d"}],"payload":{"task_id":"t","title":"Call the client %%d","remind_at":' ..
    '"2026-12-01T09:00:00+03:00","due_at":null,"deal_id":null},"deduplication_key":"%(run)s-%%d-%%d-%%d"}',
    math.random(100000, 999999), counter, tid, counter, math.random(1, 1000000000))
  return wrk.format(nil, nil, nil, body)
end
"""


def main() -> None:
    import jwt

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["run", "serve"], default="run")
    parser.add_argument("--port", type=int, default=18093)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.mode == "serve":
        uvicorn.run(baseline, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
        return

    pg_url = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/crm_bench_notifications")
    work = ROOT / "bench" / "results" / "notifications"
    work.mkdir(parents=True, exist_ok=True)

    # One database each: both are loaded at once with the same deduplication keys.
    urls = {role: f"{pg_url}_{role}" for role in ("service", "baseline")}
    for url in urls.values():
        load.fresh_database(url)
    secret = secrets.token_urlsafe(48)
    pin = "0" if (os.cpu_count() or 1) >= 2 else ""
    service_port, baseline_port = args.port + 1, args.port
    processes: list[subprocess.Popen[bytes]] = []
    try:
        service_log, baseline_log = work / "service.log", work / "baseline.log"
        service_env = load.service_env(urls["service"], service_port, secret)
        processes.append(load.start_server([str(ROOT / ".venv/bin/crm-api")], service_env, service_log, pin))
        baseline_env = {**os.environ, "CRM_LOG_LEVEL": "WARNING", "BENCH_PG_URL": urls["baseline"]}
        processes.append(
            load.start_server(
                [sys.executable, __file__, "serve", "--port", str(baseline_port)], baseline_env, baseline_log, pin
            )
        )
        service_url, baseline_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{baseline_port}"
        load.wait_ready(service_url, processes[0], service_log)
        load.wait_ready(baseline_url, processes[1], baseline_log)
        now = int(time.time())
        token = jwt.encode(
            {"sub": str(uuid.uuid4()), "roles": ["admin"], "iat": now, "exp": now + 4 * 3600}, secret, "HS256"
        )
        user = uuid.uuid4()

        def lua() -> str:
            """A fresh prefix of deduplication keys per run: every request is a new notification."""
            return LUA % {"token": token, "user": user, "run": f"bench-{uuid.uuid4().hex[:12]}"}

        options = argparse.Namespace(work_dir=str(work), pin_wrk="1" if pin else "")
        targets = (f"{service_url}/api/v1/notifications", f"{baseline_url}/api/v1/notifications")
        pids = (processes[0].pid, processes[1].pid)
        # Warm-up, not recorded.
        load.run_wrk_side_by_side(targets, lua(), 3, options, pids, None)
        runs = []
        for repeat in range(args.repeats):
            service, raw = load.run_wrk_side_by_side(
                targets, lua(), args.seconds, options, pids, work / f"wrk-{repeat}.txt"
            )
            runs.append((service, raw))
            print(
                f"repeat {repeat + 1}: crm-api {service.rps:.0f} req/s (p99 {service.p99_ms:.1f} ms, "
                f"non-2xx {service.non2xx}), baseline {raw.rps:.0f} req/s (p99 {raw.p99_ms:.1f} ms, "
                f"non-2xx {raw.non2xx}), ratio {service.rps / raw.rps:.2f}; CPU % of a core: crm-api "
                f"{service.server_cpu:.0f}, baseline {raw.server_cpu:.0f}, postgres {service.pg_cpu:.0f}, "
                f"others {service.foreign_cpu:.0f}",
                flush=True,
            )
        service_rps = statistics.median(s.rps for s, _ in runs)
        baseline_rps = statistics.median(b.rps for _, b in runs)
        ratio = statistics.median(s.rps / b.rps for s, b in runs)
        print()
        print("| POST /api/v1/notifications | req/s (median) | p99 ms (median) |")
        print("|---|---|---|")
        print(f"| crm-api | {service_rps:.0f} | {statistics.median(s.p99_ms for s, _ in runs):.1f} |")
        print(f"| raw baseline | {baseline_rps:.0f} | {statistics.median(b.p99_ms for _, b in runs):.1f} |")
        print(f"| ratio crm-api / baseline (median of each repeat's) | {ratio:.2f} | |")
    finally:
        load.stop_servers(processes)
        for url in urls.values():
            load.drop_database(url)


if __name__ == "__main__":
    main()
