#!/usr/bin/env bash
# HTTP benchmark: the real crm-api against a raw-asyncpg FastAPI baseline sending the same SQL; then what checking
# access tokens costs, crm-api against itself with authentication disabled.
# Usage: bench/run.sh   (knobs: see bench/README.md)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"   # every path below is relative to the repo root

PG_URL="${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432/crm_bench_app}"
DB_NAME="${PG_URL##*/}"; DB_NAME="${DB_NAME%%\?*}"
ADMIN_URL="${PG_URL%/*}/postgres"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
REPEATS="${BENCH_REPEATS:-3}"
DEALS="${BENCH_DEALS:-100000}"
CLIENTS="${BENCH_CLIENTS:-1000}"
SERVICE_PORT="${BENCH_SERVICE_PORT:-18082}"
BASELINE_PORT="${BENCH_BASELINE_PORT:-18083}"
NOAUTH_PORT="${BENCH_NOAUTH_PORT:-18084}"
PY=.venv/bin/python
WORK=bench/results/run   # git-ignored: ids, logs, raw wrk output

log() { printf '\n== %s\n' "$*"; }

PIDS=()
stop() {   # stop one server we started: TERM, then KILL after 10 s
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  if [[ "${BENCH_KEEP_DB:-0}" == 1 ]]; then
    echo "kept database $DB_NAME (BENCH_KEEP_DB=1)"
  else
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. wrk
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi

# 2. database: fresh, migrated, seeded
log "database $DB_NAME: create, migrate, seed $DEALS deals / $CLIENTS clients"
rm -rf "$WORK"; mkdir -p "$WORK"
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" -c "CREATE DATABASE \"$DB_NAME\""
CRM_DATABASE_URL="$PG_URL" CRM_LOG_LEVEL=WARNING .venv/bin/crm-api migrate
time psql -q "$PG_URL" -v clients="$CLIENTS" -v deals="$DEALS" -f bench/seed.sql
psql -qAt "$PG_URL" -c "SELECT id FROM crm.deals WHERE NOT is_deleted ORDER BY random() LIMIT 2000" > "$WORK/deal_ids.txt"
psql -qAt "$PG_URL" -c "SELECT id FROM crm.clients WHERE NOT is_deleted" > "$WORK/client_ids.txt"
psql -qAt "$PG_URL" -c "SELECT status, count(*) FROM crm.deals GROUP BY 1 ORDER BY 1" | tr '\n' ' '; echo

# 3./4. servers: one process each, pinned to CPU 0 when possible (wrk then runs on CPU 1)
PIN_SERVER=(); PIN_SERVER_CPU=""; PIN_WRK_CPU=""
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  PIN_SERVER=(taskset -c 0); PIN_SERVER_CPU=0; PIN_WRK_CPU=1
  echo "pinning: servers on CPU 0, wrk on CPU 1 (taskset); PostgreSQL is not pinned"
else
  echo "pinning: none (taskset missing or fewer than 2 CPUs)"
fi

wait_ready() {   # url pid logfile
  for _ in $(seq 150); do
    kill -0 "$2" 2>/dev/null || { echo "server exited; log:"; cat "$3"; return 1; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/readyz") == 200 ]] && return 0
    sleep 0.2
  done
  echo "server at $1 not ready after 30 s; log:"; cat "$3"; return 1
}
for port in "$SERVICE_PORT" "$BASELINE_PORT" "$NOAUTH_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then echo "port $port is already in use" >&2; exit 1; fi
done

# what is measured: the commit, and whether crm/ had uncommitted edits (read-only git, no index lock)
REVISION="$(git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git --no-optional-locks status --porcelain -- crm 2>/dev/null)" ]]; then
  REVISION="$REVISION + uncommitted changes in crm/"
fi
# This run's token key: every request of load.py carries an admin's token signed with it (never printed).
BENCH_JWT_SECRET="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
export BENCH_JWT_SECRET
# wrk sends everything from one address and one actor: the rate limit is off unless BENCH_RATE_LIMIT_REQUESTS
# sets one (a high one, to measure what counting costs without refusing anything).
log "starting crm-api on :$SERVICE_PORT, the baseline on :$BASELINE_PORT, crm-api without authentication on :$NOAUTH_PORT"
CRM_DATABASE_URL="$PG_URL" CRM_ACCESS_LOG=false CRM_SERVICE_HOST=127.0.0.1 CRM_SERVICE_PORT="$SERVICE_PORT" \
  CRM_JWT_ACCESS_SECRET="$BENCH_JWT_SECRET" \
  CRM_RATE_LIMIT_REQUESTS="${BENCH_RATE_LIMIT_REQUESTS:-0}" "${PIN_SERVER[@]}" .venv/bin/crm-api > "$WORK/service.log" 2>&1 &
SERVICE_PID=$!; PIDS+=("$SERVICE_PID")
# The same service, the same settings, but CRM_AUTH_DISABLED: the difference is what checking tokens costs.
CRM_DATABASE_URL="$PG_URL" CRM_ACCESS_LOG=false CRM_SERVICE_HOST=127.0.0.1 CRM_SERVICE_PORT="$NOAUTH_PORT" \
  CRM_AUTH_DISABLED=true CRM_RATE_LIMIT_REQUESTS="${BENCH_RATE_LIMIT_REQUESTS:-0}" "${PIN_SERVER[@]}" .venv/bin/crm-api \
  > "$WORK/noauth.log" 2>&1 &
NOAUTH_PID=$!; PIDS+=("$NOAUTH_PID")
BENCH_PG_URL="$PG_URL" PYTHONPATH=. "${PIN_SERVER[@]}" "$PY" bench/baseline_app.py --port "$BASELINE_PORT" \
  > "$WORK/baseline.log" 2>&1 &
BASELINE_PID=$!; PIDS+=("$BASELINE_PID")
wait_ready "http://127.0.0.1:$SERVICE_PORT" "$SERVICE_PID" "$WORK/service.log"
wait_ready "http://127.0.0.1:$BASELINE_PORT" "$BASELINE_PID" "$WORK/baseline.log"
wait_ready "http://127.0.0.1:$NOAUTH_PORT" "$NOAUTH_PID" "$WORK/noauth.log"
echo "crm-api pid $SERVICE_PID, baseline pid $BASELINE_PID, crm-api without authentication pid $NOAUTH_PID"

# 5./6. load, alternating service and baseline; table to stdout and bench/results/latest.md
log "load: ${SECONDS_PER_RUN}s per run, $REPEATS repeats"
"$PY" bench/load.py --service "http://127.0.0.1:$SERVICE_PORT" --baseline "http://127.0.0.1:$BASELINE_PORT" \
  --service-pid "$SERVICE_PID" --baseline-pid "$BASELINE_PID" --work-dir "$WORK" \
  --noauth "http://127.0.0.1:$NOAUTH_PORT" --noauth-pid "$NOAUTH_PID" \
  --seconds "$SECONDS_PER_RUN" --repeats "$REPEATS" --pin-server "$PIN_SERVER_CPU" --pin-wrk "$PIN_WRK_CPU" \
  --revision "$REVISION" --out bench/results/latest.md || rc=$?

log "server logs ($WORK/service.log, $WORK/baseline.log, $WORK/noauth.log): lines mentioning errors"
for f in "$WORK/service.log" "$WORK/baseline.log" "$WORK/noauth.log"; do
  echo "$f: $(grep -cE '\[(error|critical|exception) *\]|Traceback|ERROR' "$f" || true)"
done
exit "${rc:-0}"
