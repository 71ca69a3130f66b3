from decimal import Decimal

import pytest

from crm.domain.deals.rules import (
    STAGE_OF_STATUS,
    STATUS_OF_STAGE,
    DealStage,
    DealStatus,
    StatusCount,
    stage_figures,
    transition_refusal,
)

S = DealStatus


@pytest.mark.parametrize(
    ("current", "target", "admin", "allowed"),
    [
        (S.DRAFT, S.QUALIFICATION, False, True),
        (S.DRAFT, S.WON, False, True),
        (S.IN_PROGRESS, S.QUALIFICATION, False, True),
        (S.PROPOSAL, S.LOST, False, True),
        (S.QUALIFICATION, S.DRAFT, True, False),
        (S.WON, S.PROPOSAL, False, False),
        (S.WON, S.PROPOSAL, True, True),
        (S.LOST, S.WON, True, False),
        (S.WON, S.DRAFT, True, False),
        (S.WON, S.WON, False, True),
    ],
)
def test_transitions(current, target, admin, allowed):
    assert (transition_refusal(current, target, is_admin=admin) is None) is allowed


def test_every_stage_maps_to_a_status_of_that_stage():
    for stage, status in STATUS_OF_STAGE.items():
        assert STAGE_OF_STATUS[status] == stage


def test_stage_figures_roll_statuses_up_and_derive_rates():
    rows = [
        StatusCount(S.DRAFT, 1, Decimal("0"), 2.0),
        StatusCount(S.QUALIFICATION, 1, Decimal("0"), 4.0),
        StatusCount(S.PROPOSAL, 2, Decimal("10.50"), 10.0),
        StatusCount(S.WON, 3, Decimal("5"), 30.0),
        StatusCount(S.LOST, 1, Decimal("0"), 1.0),
    ]
    figures = {f.stage: f for f in stage_figures(rows)}
    assert [f.stage for f in stage_figures(rows)] == list(DealStage)
    qualification = figures[DealStage.QUALIFICATION]
    assert qualification.count == 2
    assert qualification.avg_cycle_duration_days == 3.0
    assert qualification.conversion_rate == round(5 / 7, 4)  # 2 proposal + 3 won of 7 that reached it
    assert figures[DealStage.NEGOTIATION].conversion_rate == 1.0  # 0 there, 5 beyond
    assert figures[DealStage.PROPOSAL].conversion_rate == 0.6
    assert figures[DealStage.PROPOSAL].total_value == Decimal("10.50")
    assert figures[DealStage.CLOSED_WON].conversion_rate == 0.75
    assert figures[DealStage.CLOSED_LOST].conversion_rate == 0.25


def test_stage_figures_of_nothing_are_zero():
    assert all(f.count == 0 and f.conversion_rate == 0.0 for f in stage_figures([]))
