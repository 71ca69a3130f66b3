"""The availability rules and the weighted draw of crm.domain.leads.distribution, on their own."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crm.domain.leads.appeals import AssignmentReason, Exclusion
from crm.domain.leads.distribution import Candidate, draw, exclusion, plan, presence
from tests.fairness import chi_square, fair

MOSCOW = ZoneInfo("Europe/Moscow")
# Monday 2026-11-30, 09:30 in Moscow.
MONDAY_MORNING = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
NINE_TO_SIX = {"mon": [{"from": "09:00", "to": "18:00"}]}


def candidate(weight: int = 1, *, load: int = 0, max_load: int = 10, active: bool = True, **presence) -> Candidate:  # type: ignore[no-untyped-def]
    return Candidate(
        operator_id=uuid.uuid4(),
        weight=weight,
        load=load,
        max_load=max_load,
        active=active,
        working_hours=presence.get("working_hours"),
        absences=presence.get("absences", []),
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), None),  # 09:00 Moscow: the shift's first minute
        (datetime(2026, 11, 30, 5, 59, tzinfo=UTC), Exclusion.OFF_HOURS),  # 08:59
        (datetime(2026, 11, 30, 15, 0, tzinfo=UTC), Exclusion.OFF_HOURS),  # 18:00: the end is not in the shift
        (datetime(2026, 12, 1, 6, 30, tzinfo=UTC), Exclusion.OFF_HOURS),  # Tuesday: a day off
    ],
)
def test_working_hours_are_read_on_the_business_time_zones_clock(moment, expected):
    assert presence(NINE_TO_SIX, [], moment, MOSCOW) is expected


def test_a_shift_ending_at_24_00_covers_the_last_minute_of_the_day():
    late = datetime(2026, 11, 30, 20, 59, tzinfo=UTC)  # 23:59 Moscow

    assert presence({"mon": [{"from": "20:00", "to": "24:00"}]}, [], late, MOSCOW) is None


def test_no_working_hours_means_always_present_and_an_absence_overrides_them():
    absence = {"starts_at": "2026-11-30T06:00:00Z", "ends_at": "2026-11-30T07:00:00Z"}

    assert presence(None, [], MONDAY_MORNING, MOSCOW) is None
    assert presence(None, [absence], MONDAY_MORNING, MOSCOW) is Exclusion.ABSENT
    assert presence(None, [absence], datetime(2026, 11, 30, 7, 0, tzinfo=UTC), MOSCOW) is None  # [start, end)


def test_an_operator_is_excluded_for_the_first_rule_they_break():
    assert exclusion(candidate(active=False, load=10), MONDAY_MORNING, MOSCOW) is Exclusion.INACTIVE
    assert exclusion(candidate(0), MONDAY_MORNING, MOSCOW) is Exclusion.ZERO_WEIGHT
    assert exclusion(candidate(0), MONDAY_MORNING, MOSCOW, weighted=False) is None
    assert exclusion(candidate(load=10), MONDAY_MORNING, MOSCOW) is Exclusion.AT_CAPACITY
    assert exclusion(candidate(load=12, max_load=10), MONDAY_MORNING, MOSCOW) is Exclusion.AT_CAPACITY
    assert exclusion(candidate(working_hours={}), MONDAY_MORNING, MOSCOW) is Exclusion.OFF_HOURS


def test_draws_follow_the_weights():
    weights = {"a": 1, "b": 2, "c": 3, "d": 14}
    pool = {name: candidate(weight) for name, weight in weights.items()}
    names = {c.operator_id: name for name, c in pool.items()}
    rng = random.Random(2026)

    counts = Counter(names[draw(list(pool.values()), rng).operator_id] for _ in range(20_000))  # type: ignore[union-attr]

    assert fair(counts, weights), counts


def test_the_fairness_check_can_tell_a_biased_sample():
    weights = {"a": 1, "b": 1}

    assert not fair({"a": 1100, "b": 900}, weights)
    assert fair({"a": 1010, "b": 990}, weights)
    assert chi_square({"a": 1000, "b": 1000}, weights) == 0


def test_nobody_to_draw_from_is_no_one_not_an_error():
    assert draw([], random.Random(1)) is None
    assert plan([candidate(0), candidate(active=False)], MONDAY_MORNING, MOSCOW, random.Random(1)).operator_id is None


def test_a_sticky_operator_who_can_take_it_wins_even_without_weight():
    holder, other = candidate(0), candidate(1000)

    decision = plan([holder, other], MONDAY_MORNING, MOSCOW, random.Random(1), sticky=holder.operator_id)

    assert (decision.operator_id, decision.reason) == (holder.operator_id, AssignmentReason.STICKY)


def test_a_sticky_operator_found_full_lets_the_draw_decide():
    holder, other = candidate(5), candidate(1)

    decision = plan(
        [holder, other], MONDAY_MORNING, MOSCOW, random.Random(1), sticky=holder.operator_id, full={holder.operator_id}
    )

    assert (decision.operator_id, decision.reason) == (other.operator_id, AssignmentReason.WEIGHTED)
    assert {v.operator_id: v.excluded for v in decision.candidates}[holder.operator_id] is Exclusion.AT_CAPACITY


def test_a_reassignment_never_draws_the_operator_it_moves_away_from():
    holder, other = candidate(1_000_000), candidate(1)

    decision = plan([holder, other], MONDAY_MORNING, MOSCOW, random.Random(1), away_from=holder.operator_id)

    assert decision.operator_id == other.operator_id
    assert {v.operator_id: v.excluded for v in decision.candidates}[holder.operator_id] is Exclusion.CURRENT
