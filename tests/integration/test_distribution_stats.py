"""`GET /api/v1/stats/distribution`: the figures of a small fixture made over HTTP, the period and source limits,
bad input named, who may read it, and the cost: the period's appeals are read through an index range, never the
table."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import pytest

from crm.infrastructure.db.lead_stats import period_figures_sql
from tests.auth import bearer
from tests.leads import APPEALS, appeal, make_operator, make_source, set_weights

STATS = "/api/v1/stats/distribution"
MILLISECOND = Decimal("0.001")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _stats(api: Any, **params: str) -> dict[str, Any]:
    response = await api.get(STATS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _post(api: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _seconds_to_first_action(appeals: list[dict[str, Any]]) -> list[Decimal]:
    """Each appeal's exact time to its first action, in seconds, as the API served its timestamps."""
    times = []
    for one in appeals:
        elapsed = _instant(one["first_action_at"]) - _instant(one["created_at"])
        times.append(Decimal(elapsed // timedelta(microseconds=1)) / 1_000_000)
    return sorted(times)


def _percentile(times: list[Decimal], fraction: Decimal) -> Decimal:
    """Linear interpolation between the closest ranks (SQL's percentile_cont)."""
    position = fraction * (len(times) - 1)
    lower = int(position)
    upper = min(lower + 1, len(times) - 1)
    return times[lower] + (times[upper] - times[lower]) * (position - lower)


def _close_to(served: str, exact: Decimal) -> bool:
    # The database keeps intervals to the microsecond; a mean may round there first: one millisecond of slack.
    return abs(Decimal(served) - exact.quantize(MILLISECOND, rounding=ROUND_HALF_UP)) <= MILLISECOND


async def test_the_figures_count_the_periods_appeals_by_current_operator_against_the_weights(api):
    anna = await make_operator(api, name="Anna", max_load=10)
    boris = await make_operator(api, name="Boris", max_load=10)
    clara = await make_operator(api, name="Clara", max_load=0, active=False)
    web = await make_source(api, {anna["id"]: 1}, name="Web form", channel="web")
    phone = await make_source(api, name="Phone line", channel="phone")
    closed, converted, reassigned = [await appeal(api, web["id"]) for _ in range(3)]
    waiting = await appeal(api, phone["id"])
    await _post(api, f"{APPEALS}/{closed['id']}/close", {"resolution": "Spam"})
    await _post(api, f"{APPEALS}/{converted['id']}/convert", {"next_review_at": "2026-12-10"})
    await _post(api, f"{APPEALS}/{reassigned['id']}/reassign", {"operator_id": boris["id"]})
    # The weights now, not those the appeals were drawn with, make the expected shares; Clara is inactive.
    await set_weights(api, web["id"], {anna["id"]: 3, boris["id"]: 1, clara["id"]: 2})

    stats = await _stats(api)

    assert (stats["total"], stats["assigned"], stats["unassigned"], stats["source_id"]) == (4, 3, 1, None)
    assert waiting["operator_id"] is None and stats["first_action"]["count"] == 3
    by_name = {row["name"]: row for row in stats["operators"]}
    assert [row["name"] for row in stats["operators"]] == ["Anna", "Boris", "Clara"]
    figures = ("load", "max_load", "at_capacity", "appeals", "open", "closed", "converted", "share", "expected_share")
    assert {name: tuple(row[f] for f in figures) for name, row in by_name.items()} == {
        "Anna": (0, 10, False, 2, 0, 2, 1, "0.6667", "0.7500"),
        "Boris": (1, 10, False, 1, 1, 0, 0, "0.3333", "0.2500"),
        "Clara": (0, 0, True, 0, 0, 0, 0, "0.0000", "0.0000"),
    }
    assert (by_name["Clara"]["active"], by_name["Clara"]["deleted"]) == (False, False)
    assert by_name["Clara"]["first_action"] == {
        "count": 0,
        "avg_seconds": None,
        "p50_seconds": None,
        "p90_seconds": None,
    }
    [phone_line, web_form] = stats["sources"]
    assert (phone_line["name"], phone_line["appeals"], phone_line["unassigned"], phone_line["operators"]) == (
        "Phone line",
        1,
        1,
        [],
    )
    assert (web_form["source_id"], web_form["appeals"], web_form["unassigned"]) == (web["id"], 3, 0)
    assert web_form["operators"] == [
        {"operator_id": anna["id"], "appeals": 2, "share": "0.6667", "weight": 3, "expected_share": "0.7500"},
        {"operator_id": boris["id"], "appeals": 1, "share": "0.3333", "weight": 1, "expected_share": "0.2500"},
        {"operator_id": clara["id"], "appeals": 0, "share": "0.0000", "weight": 2, "expected_share": "0.0000"},
    ]


async def test_time_to_first_action_is_the_mean_and_percentiles_of_first_action_minus_arrival(api):
    operator = await make_operator(api, name="Anna")
    source = await make_source(api, {operator["id"]: 1})
    appeals = [await appeal(api, source["id"]) for _ in range(3)]
    for one in appeals:
        await _post(api, f"{APPEALS}/{one['id']}/close", {})
    await appeal(api, source["id"])  # no action yet: not counted
    handled = [(await api.get(f"{APPEALS}/{one['id']}")).json() for one in appeals]
    times = _seconds_to_first_action(handled)

    stats = await _stats(api)

    [row] = stats["operators"]
    assert row["first_action"] == stats["first_action"]
    first_action = row["first_action"]
    assert first_action["count"] == 3
    assert _close_to(first_action["avg_seconds"], sum(times) / 3)
    assert _close_to(first_action["p50_seconds"], _percentile(times, Decimal("0.5")))
    assert _close_to(first_action["p90_seconds"], _percentile(times, Decimal("0.9")))
    assert all(len(first_action[key].split(".")[1]) == 3 for key in ("avg_seconds", "p50_seconds", "p90_seconds"))


async def test_the_period_holds_appeals_from_its_start_up_to_but_not_including_its_end(api):
    operator = await make_operator(api)
    source = await make_source(api, {operator["id"]: 1})
    earlier = await appeal(api, source["id"])
    later = await appeal(api, source["id"])
    split = _instant(later["created_at"])

    before = await _stats(api, **{"from": _iso(split - timedelta(days=1)), "to": _iso(split)})
    since = await _stats(api, **{"from": _iso(split)})
    default = await _stats(api)

    assert _instant(earlier["created_at"]) < split
    assert (before["total"], since["total"], default["total"]) == (1, 1, 2)
    assert (before["from"], before["to"]) == (_iso(split - timedelta(days=1)), _iso(split))
    assert _instant(since["from"]) == split < _instant(since["to"])
    assert _instant(default["to"]) - _instant(default["from"]) == timedelta(days=7)


async def test_a_period_before_any_appeal_has_no_shares_but_still_the_loads_and_expected_shares(api):
    operator = await make_operator(api, name="Anna", max_load=1)
    source = await make_source(api, {operator["id"]: 2})
    await appeal(api, source["id"])

    stats = await _stats(api, **{"from": "2026-01-01T00:00:00+03:00", "to": "2026-01-08T00:00:00+03:00"})

    assert (stats["from"], stats["to"], stats["total"]) == ("2025-12-31T21:00:00Z", "2026-01-07T21:00:00Z", 0)
    [row] = stats["operators"]
    assert (row["load"], row["at_capacity"], row["appeals"], row["share"], row["expected_share"]) == (
        1,
        True,
        0,
        None,
        None,
    )
    [source_row] = stats["sources"]
    assert source_row["operators"] == [
        {"operator_id": operator["id"], "appeals": 0, "share": None, "weight": 2, "expected_share": "1.0000"}
    ]


async def test_a_source_limits_the_figures_to_its_appeals_and_operators(api):
    anna = await make_operator(api, name="Anna")
    boris = await make_operator(api, name="Boris")
    web = await make_source(api, {anna["id"]: 1})
    phone = await make_source(api, {boris["id"]: 1})
    await appeal(api, web["id"])
    await appeal(api, phone["id"])
    await appeal(api, phone["id"])

    stats = await _stats(api, source_id=phone["id"])

    assert (stats["source_id"], stats["total"]) == (phone["id"], 2)
    assert [row["operator_id"] for row in stats["operators"]] == [boris["id"]]
    assert [row["source_id"] for row in stats["sources"]] == [phone["id"]]
    assert stats["operators"][0]["share"] == stats["operators"][0]["expected_share"] == "1.0000"


async def test_a_deleted_operator_and_source_stay_in_the_figures_of_their_appeals(api):
    operator = await make_operator(api, name="Anna")
    source = await make_source(api, {operator["id"]: 1})
    await appeal(api, source["id"])
    assert (await api.delete(f"/api/v1/operators/{operator['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/sources/{source['id']}")).status_code == 204

    stats = await _stats(api)
    limited = await _stats(api, source_id=source["id"])

    [row] = stats["operators"]
    assert (row["operator_id"], row["deleted"], row["appeals"], row["expected_share"]) == (
        operator["id"],
        True,
        1,
        "0.0000",
    )
    [source_row] = stats["sources"]
    assert (source_row["deleted"], source_row["appeals"]) == (True, 1)
    assert source_row["operators"][0]["expected_share"] is None  # nobody may take its appeals now
    assert limited["total"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),
        ({"from": "2025-11-29T23:59:59Z", "to": "2026-12-01T00:00:00Z"}, "from"),
        ({"from": "2026-12-01T00:00:00"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"source_id": "web"}, "source_id"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(api, params, field):
    response = await api.get(STATS, params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_a_period_of_366_days_is_accepted(api):
    stats = await _stats(api, **{"from": "2025-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"})

    assert stats["total"] == 0


async def test_an_unknown_source_is_a_404_naming_it(api):
    response = await api.get(STATS, params={"source_id": str(uuid.uuid4())})

    assert response.status_code == 404 and response.json()["code"] == "source_not_found"
    assert [error["field"] for error in response.json()["errors"]] == ["source_id"]


@pytest.mark.parametrize("role", ["seller", "executor", "user"])
async def test_only_admins_and_managers_read_the_statistics(api, role):
    refused = await api.get(STATS, headers=bearer(uuid.uuid4(), role))
    allowed = await api.get(STATS, headers=bearer(uuid.uuid4(), "manager"))

    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert allowed.status_code == 200


# The cost: many appeals outside the period, a few inside; the statements read the few through an index.
OUTSIDE = 60_000
INSIDE = 25
PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 8, tzinfo=UTC)


async def _fill(db: asyncpg.Connection, source_ids: list[uuid.UUID], operator_id: uuid.UUID) -> None:
    lead_id = uuid.uuid4()
    await db.execute("INSERT INTO crm.leads (id, external_id) VALUES ($1, 'tg:plan')", lead_id)
    # Two years before the period and a year after it, spread over both sources; every third one assigned.
    await db.execute(
        """
        INSERT INTO crm.appeals (id, lead_id, source_id, operator_id, assigned_at, created_at)
        SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + n % 2],
               CASE WHEN n % 3 = 0 THEN $3::uuid END, CASE WHEN n % 3 = 0 THEN at END, at
        FROM generate_series(1, $4::int) AS n,
             LATERAL (SELECT CASE WHEN n % 3 = 1 THEN $6::timestamptz + n * interval '9 minutes'
                                  ELSE $5::timestamptz - n * interval '17 minutes' END AS at) AS moment
        """,
        lead_id,
        source_ids,
        operator_id,
        OUTSIDE,
        PERIOD_START,
        PERIOD_END,
    )
    await db.execute(
        """
        INSERT INTO crm.appeals (id, lead_id, source_id, operator_id, assigned_at, created_at, first_action_at)
        SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + n % 2], $3, at, at, at + interval '5 minutes'
        FROM generate_series(0, $4::int - 1) AS n, LATERAL (SELECT $5::timestamptz + n * interval '6 hours' AS at) m
        """,
        lead_id,
        source_ids,
        operator_id,
        INSIDE,
        PERIOD_START,
    )
    await db.execute("ANALYZE crm.appeals")


def _appeal_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "appeals" else []
    for child in plan.get("Plans", []):
        found.extend(_appeal_scans(child))
    return found


def _rows_read(scan: dict[str, Any]) -> int:
    return int(
        scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0) + scan.get("Rows Removed by Index Recheck", 0)
    )


async def _explained(db: asyncpg.Connection, statement: str, *args: Any, generic: bool) -> dict[str, Any]:
    """The executed plan of ``statement``: planned for its values, or once for any values, as a prepared statement
    may be after a few runs."""
    async with db.transaction():
        if not generic:
            document = await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *args)
        else:
            await db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            kinds = ", ".join(["timestamptz", "timestamptz", "uuid"][: len(args)])
            await db.execute(f"PREPARE period_figures ({kinds}) AS {statement}")
            try:
                values = ", ".join(f"'{value}'" for value in args)
                document = await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE period_figures ({values})")
            finally:
                await db.execute("DEALLOCATE period_figures")
    return json.loads(document)[0]["Plan"]


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_the_period_is_read_through_an_index_range_whatever_the_tables_size(api, db, generic):
    operator = await make_operator(api)
    sources = [await make_source(api, {operator["id"]: 1}) for _ in range(2)]
    source_ids = [uuid.UUID(source["id"]) for source in sources]
    await _fill(db, source_ids, uuid.UUID(operator["id"]))

    whole = await _explained(db, period_figures_sql(one_source=False), PERIOD_START, PERIOD_END, generic=generic)
    one = await _explained(
        db, period_figures_sql(one_source=True), PERIOD_START, PERIOD_END, source_ids[0], generic=generic
    )

    for plan, index, expected in ((whole, "ix_appeals_list_order", INSIDE), (one, "ix_appeals_source_id", 13)):
        [scan, *more] = _appeal_scans(plan)
        assert more == [], plan
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), plan
        scanned = scan if scan["Node Type"] != "Bitmap Heap Scan" else scan["Plans"][0]
        assert scanned["Index Name"] == index and "created_at" in scanned["Index Cond"], plan
        assert _rows_read(scan) == expected, plan
    stats = await _stats(api, **{"from": _iso(PERIOD_START), "to": _iso(PERIOD_END)})
    assert (stats["total"], stats["operators"][0]["first_action"]["p90_seconds"]) == (INSIDE, "300.000")
