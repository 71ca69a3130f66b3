"""`GET /api/v1/analytics/…`: every figure of a small seeded sales history against numbers worked out by hand.

The history (default pipeline Sales: qualification 10 % → negotiation 40 % → proposal 70 % → closedWon, and
closedLost; Alice and Bob are sellers; times at 09:00 UTC, so whole days):

| deal | owner | created    | moves                                                        |
|------|-------|------------|--------------------------------------------------------------|
| d1   | Alice | 2025-01-10 | negotiation 01-12, proposal 01-20, won 02-01                 |
| d2   | Alice | 2025-01-15 | negotiation 01-20, lost 02-10                                |
| d3   | Bob   | 2025-02-01 | proposal 02-05 (skips negotiation), open                     |
| d4   | Bob   | 2025-03-01 | open in qualification                                        |
| d5   | Alice | 2025-03-10 | lost 03-15                                                   |
| d6   | Bob   | 2024-12-20 | negotiation 12-25, won 2025-01-25 (created before the period) |
| d7   | Alice | 2025-02-15 | deleted: counted nowhere                                     |
| d8   | Alice | 2025-03-20 | Renewals pipeline, open in `quoted` (60 %)                    |
| d10  | Bob   | 2025-03-25 | open in qualification, no payment                            |

Money: d1 has a RUB policy of Alfa's calculation (payments 1000.00 paid 2025-02-15 and 1000.00 due 2025-05-15,
overdue); d6 a USD policy of Beta's (500.00 paid 01-30 with a −20.00 commission correction, 250.00 due
2025-06-01 overdue, 300.00 cancelled); d3 a draft RUB policy (10000.00 due 2030-02-10, 5000.00 2030-05-10); d4
RUB 3333.33 due 2030-02-20 and USD 100.05 due 2030-03-01; d8 RUB 2000.00 due 2030-04-05. Calculations: d1 Alfa
(the policy's) and Beta; d2 Alfa and Gamma; d6 Beta (the policy's).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.analytics import Seeder, rows
from tests.auth import bearer
from tests.factories import assert_problem
from tests.pipelines import make_pipeline, stage_id

ANALYTICS = "/api/v1/analytics"
PERIOD = {"from": "2025-01-01", "to": "2025-04-01"}
AHEAD = {"from": "2030-01-01", "to": "2030-07-01"}
ALICE = uuid.UUID("00000000-0000-4000-8000-0000000a11ce")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


async def _seed(api: Any, db: Any) -> dict[str, Any]:
    renewals = await make_pipeline(api)
    seeder = await Seeder(db).start()
    seeder.stages["quoted"] = (uuid.UUID(renewals["id"]), uuid.UUID(stage_id(renewals, "quoted")), "in_progress")
    d = {"renewals": renewals["id"]}
    d["d1"] = await seeder.deal(
        ALICE,
        "2025-01-10",
        [("qualification", ""), ("negotiation", "2025-01-12"), ("proposal", "2025-01-20"), ("closedWon", "2025-02-01")],
    )
    d["d2"] = await seeder.deal(
        ALICE, "2025-01-15", [("qualification", ""), ("negotiation", "2025-01-20"), ("closedLost", "2025-02-10")]
    )
    d["d3"] = await seeder.deal(BOB, "2025-02-01", [("qualification", ""), ("proposal", "2025-02-05")])
    d["d4"] = await seeder.deal(BOB, "2025-03-01", [("qualification", "")])
    d["d5"] = await seeder.deal(ALICE, "2025-03-10", [("qualification", ""), ("closedLost", "2025-03-15")])
    d["d6"] = await seeder.deal(
        BOB, "2024-12-20", [("qualification", ""), ("negotiation", "2024-12-25"), ("closedWon", "2025-01-25")]
    )
    d["d7"] = await seeder.deal(ALICE, "2025-02-15", [("qualification", "")], deleted=True)
    d["d8"] = await seeder.deal(ALICE, "2025-03-20", [("quoted", "")])
    d["d10"] = await seeder.deal(BOB, "2025-03-25", [("qualification", "")])

    p1 = await seeder.policy(d["d1"], "RUB")
    paid = await seeder.payment(
        p1,
        "2025-02-15",
        "1000.00",
        "RUB",
        incomes=[
            ("premium", "1000.00", "2025-02-15"),
            ("commission", "150.00", "2025-02-20"),
            ("bonus", "30.00", "2025-03-05"),
        ],
    )
    await seeder.income(paid, "premium", "999.00", "RUB", "2025-02-16", deleted=True)
    await seeder.income(paid, "premium", "77.00", "RUB", "2025-04-02", deleted=True)
    await seeder.payment(p1, "2025-05-15", "1000.00", "RUB")
    await seeder.payment(p1, "2025-05-20", "400.00", "RUB", deleted=True)
    p6 = await seeder.policy(d["d6"], "USD")
    await seeder.payment(
        p6,
        "2025-01-30",
        "500.00",
        "USD",
        incomes=[("premium", "500.00", "2025-01-30"), ("commission", "-20.00", "2025-03-03")],
    )
    await seeder.payment(p6, "2025-06-01", "250.00", "USD")
    await seeder.payment(p6, "2025-01-10", "300.00", "USD", cancelled=True)
    p3 = await seeder.policy(d["d3"], "RUB", status="draft")
    await seeder.payment(p3, "2030-02-10", "10000.00", "RUB")
    await seeder.payment(p3, "2030-05-10", "5000.00", "RUB")
    await seeder.payment(await seeder.policy(d["d4"], "RUB", status="draft"), "2030-02-20", "3333.33", "RUB")
    await seeder.payment(await seeder.policy(d["d4"], "USD", status="draft"), "2030-03-01", "100.05", "USD")
    await seeder.payment(await seeder.policy(d["d8"], "RUB", status="draft"), "2030-04-05", "2000.00", "RUB")
    await seeder.calculation(d["d1"], "Alfa", policy_id=p1)
    await seeder.calculation(d["d1"], "Beta")
    await seeder.calculation(d["d2"], "Alfa")
    await seeder.calculation(d["d2"], "Gamma")
    await seeder.calculation(d["d6"], "Beta", policy_id=p6)
    return d


async def _get(api: Any, figure: str, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    response = await api.get(f"{ANALYTICS}/{figure}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _alice() -> dict[str, str]:
    return bearer(ALICE, "seller")


FUNNEL_FIELDS = ("key", "reached", "current", "lost", "conversion")


# Funnel


async def test_the_funnel_counts_the_periods_deals_by_the_furthest_stage_their_history_entered(api, db):
    await _seed(api, db)

    funnel = await _get(api, "funnel", **PERIOD)

    # d1 won, d2 lost after negotiation, d3 open in proposal, d4 and d10 open in qualification, d5 lost there.
    assert (funnel["deals"], funnel["open"], funnel["won"], funnel["lost"]) == (6, 3, 1, 2)
    assert funnel["win_rate"] == "0.3333"
    assert rows(funnel["stages"], *FUNNEL_FIELDS) == [
        ("qualification", 6, 2, 1, "0.5000"),
        ("negotiation", 3, 0, 1, "0.6667"),
        ("proposal", 2, 1, 0, "0.5000"),
        ("closedWon", 1, 1, 0, None),
    ]
    assert (funnel["from"], funnel["to"], funnel["owner_id"]) == ("2025-01-01", "2025-04-01", None)


async def test_a_seller_sees_the_funnel_of_their_own_deals_only(api, db):
    await _seed(api, db)

    funnel = await _get(api, "funnel", _alice(), **PERIOD)

    assert (funnel["deals"], funnel["open"], funnel["won"], funnel["lost"], funnel["win_rate"]) == (
        3,
        0,
        1,
        2,
        "0.3333",
    )
    assert rows(funnel["stages"], *FUNNEL_FIELDS) == [
        ("qualification", 3, 0, 1, "0.6667"),
        ("negotiation", 2, 0, 1, "0.5000"),
        ("proposal", 1, 0, 0, "1.0000"),
        ("closedWon", 1, 1, 0, None),
    ]


async def test_the_funnel_filters_by_owner_and_pipeline(api, db):
    seeded = await _seed(api, db)

    bobs = await _get(api, "funnel", owner_id=str(BOB), **PERIOD)
    renewals = await _get(api, "funnel", pipeline_id=seeded["renewals"], **PERIOD)

    assert (bobs["deals"], bobs["open"], bobs["win_rate"], bobs["owner_id"]) == (3, 3, None, str(BOB))
    assert rows(bobs["stages"], *FUNNEL_FIELDS) == [
        ("qualification", 3, 2, 0, "0.3333"),
        ("negotiation", 1, 0, 0, "1.0000"),
        ("proposal", 1, 1, 0, "0.0000"),
        ("closedWon", 0, 0, 0, None),
    ]
    assert renewals["pipeline_id"] == seeded["renewals"]
    assert rows(renewals["stages"], *FUNNEL_FIELDS) == [
        ("reminded", 1, 0, 0, "1.0000"),
        ("quoted", 1, 1, 0, "0.0000"),
        ("renewed", 0, 0, 0, None),
    ]


async def test_an_empty_period_has_no_deals_and_no_rates(api, db):
    await _seed(api, db)

    funnel = await _get(api, "funnel", **{"from": "2024-01-01", "to": "2024-02-01"})

    assert (funnel["deals"], funnel["win_rate"]) == (0, None)
    assert rows(funnel["stages"], "reached", "conversion") == [(0, None)] * 4


# Stage times and cycle time


async def test_time_in_stage_is_the_median_and_p90_of_the_stays_that_ended_in_the_period(api, db):
    await _seed(api, db)

    times = await _get(api, "stage-times", **PERIOD)

    by_key = {stage["key"]: stage["time_in_stage"] for stage in times["stages"]}
    # qualification: 2, 4, 5, 5 days; negotiation: 8, 21, 31 days (d6's stay ended 2025-01-25); proposal: 12 days.
    assert by_key == {
        "qualification": {"count": 4, "median_seconds": "388800.000", "p90_seconds": "432000.000"},
        "negotiation": {"count": 3, "median_seconds": "1814400.000", "p90_seconds": "2505600.000"},
        "proposal": {"count": 1, "median_seconds": "1036800.000", "p90_seconds": "1036800.000"},
        "closedWon": {"count": 0, "median_seconds": None, "p90_seconds": None},
        "closedLost": {"count": 0, "median_seconds": None, "p90_seconds": None},
    }


async def test_cycle_time_runs_from_creation_to_closing_of_the_deals_closed_in_the_period(api, db):
    await _seed(api, db)

    cycle = (await _get(api, "stage-times", **PERIOD))["cycle"]

    # won: d1 22 days, d6 36 days; lost: d5 5 days, d2 26 days.
    assert cycle == {
        "closed": {"count": 4, "median_seconds": "2073600.000", "p90_seconds": "2851200.000"},
        "won": {"count": 2, "median_seconds": "2505600.000", "p90_seconds": "2989440.000"},
        "lost": {"count": 2, "median_seconds": "1339200.000", "p90_seconds": "2064960.000"},
    }


async def test_a_seller_times_only_their_deals(api, db):
    await _seed(api, db)

    times = await _get(api, "stage-times", _alice(), **PERIOD)

    qualification = times["stages"][0]["time_in_stage"]
    # Alice's qualification stays: d1 2 days, d2 5, d5 5; her closed deals d1 (22 days), d2 (26), d5 (5).
    assert qualification == {"count": 3, "median_seconds": "432000.000", "p90_seconds": "432000.000"}
    assert times["cycle"]["closed"] == {"count": 3, "median_seconds": "1900800.000", "p90_seconds": "2177280.000"}


# Forecast


async def test_the_forecast_groups_open_deals_by_first_planned_payment_month_and_currency(api, db):
    await _seed(api, db)

    forecast = await _get(api, "forecast", **AHEAD)

    assert rows(forecast["months"], "month", "currency", "deals", "value", "weighted_value") == [
        # d3 15000.00 × 70 % + d4 3333.33 × 10 % = 10500.00 + 333.333
        ("2030-02-01", "RUB", 2, "18333.33", "10833.33"),
        # d4's USD closes with its first payment (February), 100.05 × 10 % = 10.005, half up
        ("2030-02-01", "USD", 1, "100.05", "10.01"),
        ("2030-04-01", "RUB", 1, "2000.00", "1200.00"),
    ]
    assert rows(forecast["totals"], "currency", "deals", "value", "weighted_value") == [
        ("RUB", 3, "20333.33", "12033.33"),
        ("USD", 1, "100.05", "10.01"),
    ]
    assert (forecast["open_deals"], forecast["without_value"]) == (4, 1)


async def test_the_forecast_filters_by_pipeline_and_access(api, db):
    seeded = await _seed(api, db)

    sales = await _get(api, "forecast", pipeline_id="0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f001", **AHEAD)
    alices = await _get(api, "forecast", _alice(), **AHEAD)
    renewals = await _get(api, "forecast", pipeline_id=seeded["renewals"], owner_id=str(BOB), **AHEAD)

    assert [(m["month"], m["currency"]) for m in sales["months"]] == [("2030-02-01", "RUB"), ("2030-02-01", "USD")]
    assert (sales["open_deals"], sales["without_value"]) == (3, 1)
    assert rows(alices["months"], "month", "currency", "deals", "value", "weighted_value") == [
        ("2030-04-01", "RUB", 1, "2000.00", "1200.00")
    ]
    assert (alices["open_deals"], alices["without_value"]) == (1, 0)
    assert (renewals["months"], renewals["totals"], renewals["open_deals"]) == ([], [], 0)


async def test_a_month_outside_the_period_is_not_forecast(api, db):
    await _seed(api, db)

    forecast = await _get(api, "forecast", **{"from": "2030-03-01", "to": "2030-07-01"})

    assert rows(forecast["months"], "month", "currency", "value") == [("2030-04-01", "RUB", "2000.00")]


# Performance


async def test_performance_counts_won_and_lost_per_owner_with_values_by_currency(api, db):
    await _seed(api, db)

    figures = await _get(api, "performance", **PERIOD)

    assert (figures["won"], figures["lost"], figures["win_rate"]) == (2, 2, "0.5000")
    assert figures["won_value"] == [{"currency": "RUB", "amount": "2000.00"}, {"currency": "USD", "amount": "750.00"}]
    assert figures["lost_value"] == []
    # By owner id: Bob's (…0b0b) before Alice's (…a11ce).
    assert rows(figures["owners"], "owner_id", "won", "lost", "win_rate", "won_value") == [
        (str(BOB), 1, 0, "1.0000", [{"currency": "USD", "amount": "750.00"}]),
        (str(ALICE), 1, 2, "0.3333", [{"currency": "RUB", "amount": "2000.00"}]),
    ]


async def test_an_insurer_wins_a_closed_deal_when_its_calculation_became_the_policy(api, db):
    await _seed(api, db)

    insurers = (await _get(api, "performance", **PERIOD))["insurers"]

    assert rows(insurers, "insurer", "quoted", "won", "lost", "win_rate", "won_value") == [
        ("Alfa", 2, 1, 1, "0.5000", [{"currency": "RUB", "amount": "2000.00"}]),
        ("Beta", 2, 1, 1, "0.5000", [{"currency": "USD", "amount": "750.00"}]),
        ("Gamma", 1, 0, 1, "0.0000", []),
    ]


async def test_a_seller_sees_the_performance_of_their_own_deals(api, db):
    await _seed(api, db)

    figures = await _get(api, "performance", _alice(), **PERIOD)

    assert (figures["won"], figures["lost"], [o["owner_id"] for o in figures["owners"]]) == (1, 2, [str(ALICE)])
    assert rows(figures["insurers"], "insurer", "won", "lost") == [("Alfa", 1, 1), ("Beta", 0, 1), ("Gamma", 0, 1)]


async def test_performance_filters_by_owner_and_period(api, db):
    await _seed(api, db)

    bobs = await _get(api, "performance", owner_id=str(BOB), **PERIOD)
    february = await _get(api, "performance", **{"from": "2025-02-01", "to": "2025-03-01"})

    assert (bobs["won"], bobs["lost"], bobs["insurers"][0]["insurer"], len(bobs["insurers"])) == (1, 0, "Beta", 1)
    # February closed d1 (won, 02-01) and d2 (lost, 02-10).
    assert (february["won"], february["lost"], february["win_rate"]) == (1, 1, "0.5000")


# Income and overdue


async def test_income_sums_premium_commission_and_other_by_posting_month_and_currency(api, db):
    await _seed(api, db)

    income = await _get(api, "income", **PERIOD)

    assert rows(income["months"], "month", "currency", "premium", "commission", "other", "total") == [
        ("2025-01-01", "USD", "500.00", "0.00", "0.00", "500.00"),
        ("2025-02-01", "RUB", "1000.00", "150.00", "0.00", "1150.00"),
        ("2025-03-01", "RUB", "0.00", "0.00", "30.00", "30.00"),
        ("2025-03-01", "USD", "0.00", "-20.00", "0.00", "-20.00"),
    ]
    assert rows(income["totals"], "currency", "premium", "commission", "other", "total") == [
        ("RUB", "1000.00", "150.00", "30.00", "1180.00"),
        ("USD", "500.00", "-20.00", "0.00", "480.00"),
    ]


async def test_overdue_instalments_are_the_unpaid_past_due_ones_by_currency(api, db):
    await _seed(api, db)

    overdue = (await _get(api, "income", **PERIOD))["overdue"]

    # Paid, partly paid, cancelled, deleted and future instalments are not overdue.
    assert rows(overdue["totals"], "currency", "instalments", "outstanding", "oldest_planned_date") == [
        ("RUB", 1, "1000.00", "2025-05-15"),
        ("USD", 1, "250.00", "2025-06-01"),
    ]


async def test_a_seller_sees_the_income_of_their_own_deals(api, db):
    await _seed(api, db)

    income = await _get(api, "income", _alice(), **PERIOD)

    assert rows(income["months"], "month", "currency", "total") == [
        ("2025-02-01", "RUB", "1150.00"),
        ("2025-03-01", "RUB", "30.00"),
    ]
    assert rows(income["overdue"]["totals"], "currency", "instalments") == [("RUB", 1)]


# Filters


@pytest.mark.parametrize("figure", ["funnel", "stage-times", "forecast", "performance", "income"])
async def test_an_unknown_pipeline_is_not_found(api, figure):
    response = await api.get(f"{ANALYTICS}/{figure}", params={"pipeline_id": str(uuid.uuid4())})

    assert_problem(response, 404, "pipeline_not_found", "pipeline_id")


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2025-13-01"}, "validation_error", "from"),
        ({"to": "yesterday"}, "validation_error", "to"),
        ({"owner_id": "alice"}, "validation_error", "owner_id"),
        ({"pipeline_id": "1"}, "validation_error", "pipeline_id"),
        ({"from": "2025-02-01", "to": "2025-02-01"}, "rule_violation", "to"),
        ({"from": "2025-01-01", "to": "2026-01-03"}, "rule_violation", "from"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(api, params, code, field):
    response = await api.get(f"{ANALYTICS}/income", params=params)

    assert_problem(response, 422, code, field)


async def test_the_default_period_is_this_month_and_the_five_before(api):
    funnel = await _get(api, "funnel")
    forecast = await _get(api, "forecast")

    start, end = funnel["from"], funnel["to"]
    assert end[8:] == "01" and start[8:] == "01"
    assert (int(end[:4]) * 12 + int(end[5:7])) - (int(start[:4]) * 12 + int(start[5:7])) == 6
    assert forecast["from"][8:] == "01" and forecast["from"] < funnel["to"] <= forecast["to"]
