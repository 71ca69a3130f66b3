"""The arithmetic of distribution statistics, without a database: the period's defaults and limits, exact shares
rounded once, and expected shares from the current weights."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from crm.domain.errors import RuleViolation
from crm.domain.leads.stats import (
    EARLIEST,
    OperatorNow,
    Period,
    PeriodFigures,
    SourceNow,
    Tally,
    summarize,
)
from crm.domain.ratios import ratio

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_period_defaults_to_the_seven_days_before_now():
    assert Period.of(None, None, NOW) == Period(NOW - timedelta(days=7), NOW)


def test_the_period_is_served_in_utc():
    moscow = timezone(timedelta(hours=3))

    period = Period.of(datetime(2026, 11, 1, 3, tzinfo=moscow), datetime(2026, 11, 2, 3, tzinfo=moscow), NOW)

    assert (period.start, period.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))


def test_a_default_start_before_the_first_instant_is_the_first_instant():
    end = datetime(1, 1, 3, tzinfo=UTC)

    assert Period.of(None, end, NOW) == Period(EARLIEST, end)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (NOW, NOW, "to"),
        (NOW + timedelta(seconds=1), None, "to"),
        (NOW - timedelta(days=366, seconds=1), None, "from"),
    ],
)
def test_a_period_ending_before_it_starts_or_too_long_names_the_field(start, end, field):
    with pytest.raises(RuleViolation) as refused:
        Period.of(start, end, NOW)

    assert [problem.field for problem in refused.value.errors] == [field]


@pytest.mark.parametrize(
    ("part", "whole", "served"),
    [
        (Fraction(1), 3, "0.3333"),
        (Fraction(2), 3, "0.6667"),
        (Fraction(1), 8, "0.1250"),
        (Fraction(1), 20_000, "0.0001"),  # 0.00005: half up
        (Fraction(1), 20_001, "0.0000"),
        (Fraction(0), 5, "0.0000"),
        (Fraction(7), 7, "1.0000"),
        (Fraction(5, 2), 4, "0.6250"),
    ],
)
def test_a_share_is_the_exact_ratio_rounded_half_up_to_four_places(part, whole, served):
    assert f"{ratio(part, whole):f}" == served


def test_a_share_of_nothing_is_null():
    assert ratio(Fraction(0), 0) is None


def _operator(name: str, *, active: bool = True) -> OperatorNow:
    return OperatorNow(uuid.uuid4(), name, active, False, 0, 10)


def test_the_expected_share_weighs_each_sources_assigned_appeals_by_the_live_active_operators_weights():
    anna, boris, clara = _operator("Anna"), _operator("Boris"), _operator("Clara", active=False)
    one, two, idle = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = (anna.operator_id, boris.operator_id, clara.operator_id)
    figures = PeriodFigures(
        total=Tally(appeals=7),
        by_operator={anna.operator_id: Tally(appeals=3), boris.operator_id: Tally(appeals=3), None: Tally(appeals=1)},
        by_source={one: Tally(appeals=4), two: Tally(appeals=2), idle: Tally(appeals=1)},
        by_source_operator={(one, ids[0]): 2, (one, ids[1]): 2, (two, ids[0]): 1, (two, ids[1]): 1, (idle, None): 1},
        operators=[anna, boris, clara],
        # one: Anna 1, Boris 3 (Clara inactive); two: Anna alone; idle: nobody may take it.
        sources=[
            SourceNow(one, "One", True, False, {ids[0]: 1, ids[1]: 3, ids[2]: 4}),
            SourceNow(two, "Two", True, False, {ids[0]: 5, ids[1]: 0}),
            SourceNow(idle, "Idle", True, False, {}),
        ],
    )

    stats = summarize(Period(NOW - timedelta(days=1), NOW), None, figures)

    # Anna: (4 * 1/4 + 2 * 1) / 6 = 1/2; Boris: 4 * 3/4 / 6 = 1/2; the idle source's appeal waits unassigned.
    assert [(row.share, row.expected_share) for row in stats.operators] == [
        (Decimal("0.5000"), Decimal("0.5000")),
        (Decimal("0.5000"), Decimal("0.5000")),
        (Decimal("0.0000"), Decimal("0.0000")),
    ]
    by_source = {source.name: source for source in stats.sources}
    assert [(row.weight, row.expected_share) for row in by_source["One"].operators] == [
        (1, Decimal("0.2500")),
        (3, Decimal("0.7500")),
        (4, Decimal("0.0000")),
    ]
    assert [(row.weight, row.expected_share) for row in by_source["Two"].operators] == [
        (5, Decimal("1.0000")),
        (0, Decimal("0.0000")),
    ]
    assert (by_source["Idle"].unassigned, by_source["Idle"].operators) == (1, [])
