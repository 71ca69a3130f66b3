"""Load the service and the baseline with wrk, endpoint by endpoint, alternating the two; print a markdown table.
Then what checking access tokens costs: GET by id on the service and on the same service with authentication
disabled, both loaded at once on the same core (so the machine's ups and downs hit both alike), with one token for
every request (as a client sends it) and with a new token per request (each signature checked, most not
remembered).

Called by bench/run.sh once the servers answer /readyz; every request carries an admin's token signed with
BENCH_JWT_SECRET. Per measurement: a warm-up run (not recorded), then `wrk -t2 -c64 -dNs --latency` with a
generated Lua script; percentiles come from wrk's own histogram (done()). CPU used during each measurement is read
from /proc: the server process, all `postgres` processes, wrk, and everything else on the machine ("foreign",
i.e. noise from other tenants).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import jwt
from fastapi import FastAPI

TICK = os.sysconf("SC_CLK_TCK")
ACTOR = "0b8f3c52-6f0e-4a43-9d7e-6d3f5d1c2a90"
STATUSES = ("draft", "qualification", "in_progress", "proposal", "won", "lost")
DISTINCT_TOKENS = 20_000  # against the service's 4,096 remembered tokens: about 4 in 5 are checked afresh

LUA_COMMON = r"""
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) math.randomseed(os.time() * 1000 + tid) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"timeouts": %d, "p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def lua_table(name: str, values: list[str]) -> str:
    return f"{name} = {{" + ",".join(f'"{v}"' for v in values) + "}\n"


def access_token(secret: str, lifetime_s: int = 4 * 3600) -> str:
    """An admin's HS256 token, as the Auth service issues them (and `crm-api token` prints them)."""
    now = int(time.time())
    claims = {"sub": ACTOR, "roles": ["admin"], "iat": now, "exp": now + lifetime_s, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


def with_token(lua: str, token: str) -> str:
    return f'wrk.headers["Authorization"] = "Bearer {token}"\n' + lua


def get_by_id(deal_ids: list[str]) -> str:
    return (
        lua_table("ids", deal_ids)
        + """
request = function() return wrk.format("GET", "/api/v1/deals/" .. ids[math.random(#ids)]) end
"""
    )


def scripts(ids_dir: Path, token: str) -> dict[str, tuple[str, str]]:
    """endpoint label -> (path wrk is pointed at, Lua script), every request carrying ``token``."""
    deal_ids = ids_dir.joinpath("deal_ids.txt").read_text().split()
    client_ids = ids_dir.joinpath("client_ids.txt").read_text().split()
    today = dt.date.today()
    dates = [(today + dt.timedelta(days=d)).isoformat() for d in range(0, 365, 3)]
    owners = [str(uuid.uuid4()) for _ in range(5)]
    post = (
        lua_table("clients", client_ids)
        + lua_table("dates", dates)
        + lua_table("owners", owners)
        + lua_table("statuses", list(STATUSES[:4]))
        + f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-User-Id"] = "{ACTOR}"
request = function()
  local body = string.format('{{"client_id":"%s","title":"Bench deal %d","description":"Created by wrk",' ..
    '"status":"%s","next_review_at":"%s","owner_id":"%s"}}', clients[math.random(#clients)],
    math.random(1, 1000000), statuses[math.random(#statuses)], dates[math.random(#dates)],
    owners[math.random(#owners)])
  return wrk.format(nil, nil, nil, body)
end
"""
    )
    get = get_by_id(deal_ids)
    by_status = (
        lua_table("statuses", list(STATUSES))
        + """
request = function()
  return wrk.format("GET", "/api/v1/deals?limit=50&status=" .. statuses[math.random(#statuses)])
end
"""
    )
    endpoints = {
        "POST /api/v1/deals": ("/api/v1/deals", post),
        "GET /api/v1/deals/{id}": ("/api/v1/deals", get),
        "GET /api/v1/deals?limit=50": ("/api/v1/deals?limit=50", ""),
        "GET /api/v1/deals?limit=50&status=(random)": ("/api/v1/deals", by_status),
    }
    return {label: (path, with_token(lua, token)) for label, (path, lua) in endpoints.items()}


def token_scripts(ids_dir: Path, token: str, secret: str) -> dict[str, tuple[str, str]]:
    """GET by id with one token for every request, and with a new one per request (of DISTINCT_TOKENS)."""
    deal_ids = ids_dir.joinpath("deal_ids.txt").read_text().split()
    tokens = [access_token(secret) for _ in range(DISTINCT_TOKENS)]
    fresh = (
        lua_table("ids", deal_ids)
        + lua_table("tokens", tokens)
        + """
request = function()
  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/v1/deals/" .. ids[math.random(#ids)])
end
"""
    )
    return {
        "GET /api/v1/deals/{id}, one token": ("/api/v1/deals", with_token(get_by_id(deal_ids), token)),
        "GET /api/v1/deals/{id}, a new token each": ("/api/v1/deals", fresh),
    }


def proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def postgres_ticks() -> dict[int, int]:
    ticks = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.joinpath("comm").read_text().strip() == "postgres":
                    ticks[int(p.name)] = proc_ticks(int(p.name))
            except OSError:
                continue
    return ticks


def machine_busy_ticks() -> int:
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(cpu[:8]) - cpu[3] - cpu[4]  # minus idle, iowait


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(max_pct: float, max_wait: float) -> float:
    """Wait (at most max_wait s) until the machine, with our servers idle, is busy < max_pct of a core."""
    deadline = time.time() + max_wait
    while True:
        before = machine_busy_ticks()
        time.sleep(1)
        busy = (machine_busy_ticks() - before) * 100 / TICK
        if busy < max_pct or time.time() > deadline:
            return busy


ROOT = Path(__file__).resolve().parent.parent


# --- Scratch databases and servers of the per-feature benchmarks (notifications.py, appeals.py) ---


def _admin(url: str, sql: str) -> None:
    """One statement on the server's ``postgres`` database (``url`` names any database of that server)."""

    async def run() -> None:
        connection = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def drop_database(url: str) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def fresh_database(url: str, *, template: str | None = None) -> None:
    """The database ``url`` names, dropped if it exists and created: migrated by ``crm-api migrate``, or a copy of
    the database ``template`` names (nobody may be connected to that one)."""
    drop_database(url)
    name = url.rsplit("/", 1)[1]
    if template is not None:
        _admin(url, f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
        return
    _admin(url, f'CREATE DATABASE "{name}"')
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_LOG_LEVEL": "WARNING"}
    subprocess.run([str(ROOT / ".venv/bin/crm-api"), "migrate"], env=env, check=True, cwd=ROOT)


def service_env(database_url: str, port: int, jwt_secret: str, **settings: str) -> dict[str, str]:
    """crm-api's environment as the benchmarks run it: no access log, HS256 tokens signed with ``jwt_secret``, no
    rate limit (wrk is one caller at one address); ``settings`` are further ``CRM_*`` variables."""
    return {
        **os.environ,
        "CRM_LOG_LEVEL": "WARNING",
        "CRM_DATABASE_URL": database_url,
        "CRM_ACCESS_LOG": "false",
        "CRM_SERVICE_HOST": "127.0.0.1",
        "CRM_SERVICE_PORT": str(port),
        "CRM_JWT_ACCESS_SECRET": jwt_secret,
        "CRM_RATE_LIMIT_REQUESTS": "0",
        **settings,
    }


def start_server(command: list[str], env: dict[str, str], log: Path, pin: str) -> subprocess.Popen[bytes]:
    """``command`` (pinned to CPU ``pin`` when given) with its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*(["taskset", "-c", pin] if pin else []), *command], env=env, stdout=out, stderr=out, cwd=ROOT
        )


def stop_servers(processes: list[subprocess.Popen[bytes]]) -> None:
    """TERM, then KILL after 10 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class RawPool:
    """A baseline's one asyncpg pool, opened by its app's lifespan (``baseline_app``)."""

    pool: asyncpg.Pool


def baseline_app(open_pool: Callable[[], Awaitable[asyncpg.Pool]]) -> tuple[FastAPI, RawPool]:
    """A bare FastAPI app for a raw baseline, whose lifespan opens the pool (``RawPool.pool``) and which answers
    ``GET /readyz``; the baseline adds its routes."""
    raw = RawPool()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        raw.pool = await open_pool()
        yield
        await raw.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        await raw.pool.fetchval("SELECT 1")
        return {"status": "ready"}

    return app, raw


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url``/readyz answers 200 (at most a minute)."""
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        try:
            if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready; see {log}")


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    timeouts: int
    server_cpu: float  # all in % of one core
    pg_cpu: float
    wrk_cpu: float
    foreign_cpu: float


def run_wrk(url: str, lua: str, seconds: int, args: argparse.Namespace, server_pid: int, raw: Path | None) -> Run:
    script = Path(args.work_dir) / "current.lua"
    script.write_text(lua + LUA_COMMON)
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    if args.pin_wrk:
        cmd = ["taskset", "-c", args.pin_wrk, *cmd]
    busy0, srv0, pg0, wrk0 = machine_busy_ticks(), proc_ticks(server_pid), postgres_ticks(), children_cpu_s()
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.time() - t0
    pg1 = postgres_ticks()
    srv = (proc_ticks(server_pid) - srv0) / TICK
    pg = sum(t - pg0.get(pid, 0) for pid, t in pg1.items()) / TICK
    wrk_s = children_cpu_s() - wrk0
    busy = (machine_busy_ticks() - busy0) / TICK
    if raw:
        raw.write_text(out)
    m = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if m is None:
        raise RuntimeError(f"no result from wrk:\n{out}")
    d = json.loads(m.group(1))
    pct = 100 / wall
    return Run(
        rps=d["requests"] / (d["duration_us"] / 1e6),
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        non2xx=d["non2xx"],
        socket_errors=d["socket_errors"],
        timeouts=d["timeouts"],
        server_cpu=srv * pct,
        pg_cpu=pg * pct,
        wrk_cpu=wrk_s * pct,
        foreign_cpu=max(0.0, busy - srv - pg - wrk_s) * pct,
    )


def run_wrk_side_by_side(
    urls: tuple[str, str], lua: str, seconds: int, args: argparse.Namespace, pids: tuple[int, int], raw: Path | None
) -> tuple[Run, Run]:
    """Both servers loaded at once, each by its own wrk (-t1 -c32): pinned to the same core, they share it, so
    whatever slows the machine down slows both alike, and the ratio of their rates is the ratio of their CPU cost
    per request."""
    script = Path(args.work_dir) / "current.lua"
    script.write_text(lua + LUA_COMMON)
    commands = [["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), url] for url in urls]
    if args.pin_wrk:
        commands = [["taskset", "-c", args.pin_wrk, *command] for command in commands]
    busy0, pg0, wrk0 = machine_busy_ticks(), postgres_ticks(), children_cpu_s()
    servers0 = [proc_ticks(pid) for pid in pids]
    t0 = time.time()
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
    outs = [process.communicate()[0] for process in processes]
    wall = time.time() - t0
    if any(process.returncode for process in processes):
        raise RuntimeError(f"wrk failed:\n{outs}")
    pg1 = postgres_ticks()
    servers = [(proc_ticks(pid) - before) / TICK for pid, before in zip(pids, servers0, strict=True)]
    pg = sum(t - pg0.get(pid, 0) for pid, t in pg1.items()) / TICK
    wrk_s = children_cpu_s() - wrk0
    busy = (machine_busy_ticks() - busy0) / TICK
    pct = 100 / wall
    runs = []
    for n, (out, server) in enumerate(zip(outs, servers, strict=True)):
        if raw:
            raw.with_name(f"{raw.stem}-{n}.txt").write_text(out)
        m = re.search(r"^RESULT (\{.*\})$", out, re.M)
        if m is None:
            raise RuntimeError(f"no result from wrk:\n{out}")
        d = json.loads(m.group(1))
        runs.append(
            Run(
                rps=d["requests"] / (d["duration_us"] / 1e6),
                p50_ms=d["p50_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                non2xx=d["non2xx"],
                socket_errors=d["socket_errors"],
                timeouts=d["timeouts"],
                server_cpu=server * pct,
                pg_cpu=pg * pct,
                wrk_cpu=wrk_s * pct,
                foreign_cpu=max(0.0, busy - sum(servers) - pg - wrk_s) * pct,
            )
        )
    return runs[0], runs[1]


def smoke(base: str, token: str) -> None:
    """One request per endpoint; a server that answers 4xx/5xx here would only produce a meaningless table."""
    auth = {"Authorization": f"Bearer {token}"}
    deal = urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/deals?limit=1", headers=auth), timeout=5)
    item = json.load(deal)["items"][0]
    urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/deals/{item['id']}", headers=auth), timeout=5).read()
    body = json.dumps({"client_id": item["client_id"], "title": "smoke", "next_review_at": item["next_review_at"]})
    headers = {"Content-Type": "application/json", **auth}
    req = urllib.request.Request(f"{base}/api/v1/deals", body.encode(), headers)
    assert urllib.request.urlopen(req, timeout=5).status == 201


def cpu_per_request(run: Run) -> float:
    """Microseconds of the server's CPU per request answered."""
    return run.server_cpu / 100 / run.rps * 1e6


def med(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


Results = dict[str, dict[str, list[Run]]]  # endpoint -> app -> runs


def report(
    results: Results, token_results: Results, args: argparse.Namespace, started: dt.datetime
) -> tuple[str, bool]:
    pin = (
        f"server on CPU {args.pin_server}, wrk on CPU {args.pin_wrk} (taskset); PostgreSQL unpinned"
        if args.pin_wrk
        else "not pinned (taskset unavailable or < 2 CPUs)"
    )
    lines = [
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()}: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Service code: {args.revision}.",
        f"wrk -t2 -c{args.connections} -d{args.seconds}s --latency, {args.warmup} s warm-up before each measurement; "
        f"{pin}.",
    ]
    if results:
        lines += [
            "",
            f"The service against the baseline, median of {args.repeats} alternating pairs.",
            "",
            "| endpoint | service req/s | service p50 ms | p99 ms | baseline req/s | p50 | p99 "
            "| ratio service/baseline | ≥ 60 %? |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    details = [
        "",
        "| endpoint | app | req/s min-max | server CPU % | postgres CPU % | wrk CPU % "
        "| foreign CPU % (max) | non-2xx | socket errors / timeouts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    totals = {"non-2xx responses": 0, "socket errors": 0, "timeouts (> 2 s, wrk default)": 0}
    for label, by_app in results.items():
        s, b = by_app["service"], by_app["baseline"]
        ratio = med(s, "rps") / med(b, "rps")
        lines.append(
            f"| {label} | {med(s, 'rps'):,.0f} | {med(s, 'p50_ms'):.1f} | {med(s, 'p99_ms'):.1f} "
            f"| {med(b, 'rps'):,.0f} | {med(b, 'p50_ms'):.1f} | {med(b, 'p99_ms'):.1f} | {ratio:.1%} "
            f"| {'yes' if ratio >= 0.6 else '**no**'} |"
        )
    if token_results:
        lines += [
            "",
            "What checking the access token costs: the same service with authentication disabled "
            f"(CRM_AUTH_DISABLED=true), both loaded at once on the same core (wrk -t1 -c32 each), {args.token_repeats} "
            "times; the costs are the medians of each measurement's own comparison.",
            "",
            "| request | tokens checked req/s | p99 ms | server CPU µs/request | authentication disabled req/s "
            "| p99 | server CPU µs/request | cost: throughput | cost: CPU | < 10 %? |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for label, by_app in token_results.items():
        on, off = by_app["service"], by_app["auth disabled"]
        cost = statistics.median(1 - a.rps / b.rps for a, b in zip(on, off, strict=True))
        cpu_cost = statistics.median(cpu_per_request(a) / cpu_per_request(b) - 1 for a, b in zip(on, off, strict=True))
        cpu_on, cpu_off = statistics.median(map(cpu_per_request, on)), statistics.median(map(cpu_per_request, off))
        lines.append(
            f"| {label} | {med(on, 'rps'):,.0f} | {med(on, 'p99_ms'):.1f} | {cpu_on:,.0f} "
            f"| {med(off, 'rps'):,.0f} | {med(off, 'p99_ms'):.1f} | {cpu_off:,.0f} | {cost:.1%} | {cpu_cost:.1%} "
            f"| {'yes' if max(cost, cpu_cost) < 0.1 else '**no**'} |"
        )
    for label, by_app in {**results, **token_results}.items():
        for app, runs in by_app.items():
            non2xx = sum(r.non2xx for r in runs)
            sock = sum(r.socket_errors for r in runs)
            tmo = sum(r.timeouts for r in runs)
            for key, n in zip(totals, (non2xx, sock, tmo), strict=True):
                totals[key] += n
            details.append(
                f"| {label} | {app} | {min(r.rps for r in runs):,.0f}-{max(r.rps for r in runs):,.0f} "
                f"| {med(runs, 'server_cpu'):.0f} | {med(runs, 'pg_cpu'):.0f} | {med(runs, 'wrk_cpu'):.0f} "
                f"| {max(r.foreign_cpu for r in runs):.0f} | {non2xx} | {sock} / {tmo} |"
            )
    noisy = [
        f"{label} ({app})"
        for label, by_app in {**results, **token_results}.items()
        for app, runs in by_app.items()
        if any(r.foreign_cpu > args.max_foreign for r in runs)
    ]
    if noisy:
        lines += [
            "",
            f"Noisy (other processes used > {args.max_foreign:.0f} % of a core during a kept run, "
            f"even after {args.retries} re-runs): " + ", ".join(noisy) + ".",
        ]
    errors = any(totals.values())
    flag = (
        "**ERRORS: "
        + ", ".join(f"{n} {k}" for k, n in totals.items())
        + " — see the details table and bench/results/run/*.log (raw wrk output: wrk-*.txt).**"
        if errors
        else "No errors: 0 non-2xx responses, 0 socket errors, 0 timeouts."
    )
    text = "\n".join(
        [*lines, "", flag, "", "Per-app details (CPU as % of one core, medians over the repeats):", *details, ""]
    )
    return text, errors


def kept(measure_once: Callable[[], tuple[Run, ...]], describe: Callable[..., str], args: argparse.Namespace):
    """One measurement (after a warm-up, once the machine is quiet); made again, at most ``args.retries`` times,
    while other processes used more than ``args.max_foreign`` % of a core during it. ``describe(runs, idle)`` is
    the line printed for it."""
    for attempt in range(1 + args.retries):
        idle = wait_quiet(args.max_foreign, args.quiet_wait)
        runs = measure_once()
        noisy = runs[0].foreign_cpu > args.max_foreign
        print(describe(runs, idle) + ("  NOISY, redo" if noisy and attempt < args.retries else ""), flush=True)
        if not noisy:
            break
    return runs


def alone(url: str, lua: str, args: argparse.Namespace, pid: int, raw: Path) -> tuple[Run]:
    run_wrk(url, lua, args.warmup, args, pid, None)
    return (run_wrk(url, lua, args.seconds, args, pid, raw),)


def alone_line(label: str, app: str, rep: int, runs: tuple[Run], idle: float) -> str:
    (r,) = runs
    return (
        f"{label:42s} {app:13s} #{rep + 1}: {r.rps:7,.0f} req/s  p50 {r.p50_ms:6.1f}"
        f"  p99 {r.p99_ms:6.1f} ms  non-2xx {r.non2xx}  server {r.server_cpu:3.0f}%"
        f"  pg {r.pg_cpu:3.0f}%  foreign {r.foreign_cpu:3.0f}% (idle before: {idle:.0f}%)"
    )


def side_by_side(
    urls: tuple[str, str], lua: str, args: argparse.Namespace, pids: tuple[int, int], raw: Path
) -> tuple[Run, Run]:
    run_wrk_side_by_side(urls, lua, args.warmup, args, pids, None)
    return run_wrk_side_by_side(urls, lua, args.seconds, args, pids, raw)


def side_by_side_line(label: str, pair: tuple[str, str], rep: int, runs: tuple[Run, Run], idle: float) -> str:
    a, b = runs
    return (
        f"{label:42s} #{rep + 1}: {pair[0]} {a.rps:6,.0f} req/s ({cpu_per_request(a):4.0f} µs CPU),"
        f" {pair[1]} {b.rps:6,.0f} req/s ({cpu_per_request(b):4.0f} µs CPU): {1 - a.rps / b.rps:+.1%}"
        f"  pg {a.pg_cpu:3.0f}%  foreign {a.foreign_cpu:3.0f}% (idle before: {idle:.0f}%)"
    )


def measure(
    endpoints: dict[str, tuple[str, str]],
    apps: dict[str, tuple[str, int]],
    pair: tuple[str, str],
    args: argparse.Namespace,
    work: Path,
    repeats: int,
) -> Results:
    """Each endpoint on the two apps of ``pair``, alternating them (A B, B A, …) ``repeats`` times."""
    results: Results = {}
    for n, (label, (path, lua)) in enumerate(endpoints.items()):
        results[label] = {app: [] for app in pair}
        for rep in range(repeats):
            for app in pair if rep % 2 == 0 else reversed(pair):
                base, pid = apps[app]
                raw = work / f"wrk-{n}-{app.replace(' ', '-')}-{rep}.txt"
                once = functools.partial(alone, base + path, lua, args, pid, raw)
                results[label][app].extend(kept(once, functools.partial(alone_line, label, app, rep), args))
    return results


def measure_side_by_side(
    endpoints: dict[str, tuple[str, str]],
    apps: dict[str, tuple[str, int]],
    pair: tuple[str, str],
    args: argparse.Namespace,
    work: Path,
    repeats: int,
) -> Results:
    """Each endpoint on the two apps of ``pair`` at once (``run_wrk_side_by_side``), ``repeats`` times."""
    results: Results = {}
    pids = (apps[pair[0]][1], apps[pair[1]][1])
    for n, (label, (path, lua)) in enumerate(endpoints.items()):
        results[label] = {app: [] for app in pair}
        urls = (apps[pair[0]][0] + path, apps[pair[1]][0] + path)
        for rep in range(repeats):
            once = functools.partial(side_by_side, urls, lua, args, pids, work / f"wrk-tokens-{n}-{rep}.txt")
            a, b = kept(once, functools.partial(side_by_side_line, label, pair, rep), args)
            results[label][pair[0]].append(a)
            results[label][pair[1]].append(b)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", required=True, help="base URL")
    ap.add_argument("--baseline", required=True, help="base URL")
    ap.add_argument("--service-pid", type=int, required=True)
    ap.add_argument("--baseline-pid", type=int, required=True)
    ap.add_argument("--noauth", help="base URL of the same service with authentication disabled")
    ap.add_argument("--noauth-pid", type=int)
    ap.add_argument("--work-dir", required=True, help="holds deal_ids.txt, client_ids.txt; raw wrk output goes here")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64, help="wrk's open connections")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--token-repeats",
        type=int,
        default=int(os.environ.get("BENCH_TOKEN_REPEATS", "5")),
        help="pairs of the token cost comparison (its difference is small against the machine's noise)",
    )
    ap.add_argument(
        "--token-only",
        action="store_true",
        default=os.environ.get("BENCH_TOKEN_ONLY") == "1",
        help="measure only what checking tokens costs (needs --noauth)",
    )
    ap.add_argument("--pin-server", default="")
    ap.add_argument("--pin-wrk", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--revision", default="unknown", help="git commit of the service code")
    ap.add_argument(
        "--max-foreign",
        type=float,
        default=float(os.environ.get("BENCH_MAX_FOREIGN", "25")),
        help="%% of a core other processes may use during a kept measurement",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=float(os.environ.get("BENCH_QUIET_WAIT", "30")),
        help="seconds to wait for a quiet machine before each measurement",
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=int(os.environ.get("BENCH_RETRIES", "2")),
        help="re-runs of a measurement that was noisier than --max-foreign",
    )
    args = ap.parse_args()

    started = dt.datetime.now(dt.UTC)
    secret = os.environ["BENCH_JWT_SECRET"]
    token = access_token(secret)
    apps = {"service": (args.service, args.service_pid), "baseline": (args.baseline, args.baseline_pid)}
    if args.noauth:
        apps["auth disabled"] = (args.noauth, args.noauth_pid)
    for base, _ in apps.values():
        smoke(base, token)
    work = Path(args.work_dir)
    results = (
        {}
        if args.token_only
        else measure(scripts(work, token), apps, ("service", "baseline"), args, work, args.repeats)
    )
    token_results = (
        measure_side_by_side(
            token_scripts(work, token, secret), apps, ("service", "auth disabled"), args, work, args.token_repeats
        )
        if args.noauth
        else {}
    )
    text, errors = report(results, token_results, args, started)
    Path(args.out).write_text(text)
    print("\n" + text)
    sys.exit(2 if errors else 0)


if __name__ == "__main__":
    main()
