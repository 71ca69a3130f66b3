import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from crm.domain.deals.rules import (
    STAGE_OF_STATUS,
    STATUS_OF_STAGE,
    DealStatus,
    StageCount,
    holds,
    stage_figures,
    stage_for_status,
    status_in,
    transition_refusal,
)
from crm.domain.pipelines.rules import SEEDED_STAGES, DealStage, StageKind

S = DealStatus
K = StageKind


@dataclass(frozen=True)
class FakeStage:
    key: str
    kind: StageKind
    id: uuid.UUID = uuid.UUID(int=0)


SEEDED = [FakeStage(stage.key.value, stage.kind, stage.id) for stage in SEEDED_STAGES]
RENEWALS = [
    FakeStage("reminded", K.OPEN),
    FakeStage("quoted", K.OPEN),
    FakeStage("renewed", K.WON),
    FakeStage("churned", K.LOST),
]


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


@pytest.mark.parametrize("status", list(DealStatus))
def test_in_the_seeded_pipeline_a_status_puts_a_deal_in_the_contract_stage(status):
    stage = stage_for_status(status, SEEDED, None)
    assert stage is not None and stage.key == STAGE_OF_STATUS[status].value
    assert status_in(stage, status) == status


@pytest.mark.parametrize("stage", SEEDED, ids=lambda stage: stage.key)
@pytest.mark.parametrize("current", list(DealStatus))
def test_in_the_seeded_pipeline_a_stage_gives_the_contract_status(stage, current):
    status = status_in(stage, current)
    contract = STATUS_OF_STAGE[DealStage(stage.key)]
    # A draft deal in the qualification stage stays draft; any other deal takes the stage's status.
    assert status == (current if STAGE_OF_STATUS[current].value == stage.key else contract)
    assert holds(stage, status)


def test_in_another_pipeline_an_open_stage_keeps_an_open_status_and_reopens_as_in_progress():
    reminded, quoted, renewed, churned = RENEWALS
    assert status_in(quoted, S.DRAFT) == S.DRAFT
    assert status_in(quoted, S.PROPOSAL) == S.PROPOSAL
    assert status_in(reminded, S.WON) == S.IN_PROGRESS
    assert status_in(renewed, S.PROPOSAL) == S.WON
    assert status_in(churned, S.DRAFT) == S.LOST


def test_in_another_pipeline_a_status_finds_the_first_stage_holding_it():
    reminded, quoted, renewed, churned = RENEWALS
    assert stage_for_status(S.DRAFT, RENEWALS, None) == reminded
    assert stage_for_status(S.PROPOSAL, RENEWALS, quoted) == quoted  # it holds the status already
    assert stage_for_status(S.IN_PROGRESS, RENEWALS, renewed) == reminded  # reopened
    assert stage_for_status(S.WON, RENEWALS, quoted) == renewed
    two_won = [*RENEWALS, FakeStage("renewed_late", K.WON)]
    assert stage_for_status(S.WON, two_won, quoted) is None  # which one: the caller must say


def test_a_contract_key_in_another_pipeline_keeps_its_status():
    stages = [FakeStage("intake", K.OPEN), FakeStage("proposal", K.OPEN), *RENEWALS[2:]]
    assert status_in(stages[1], S.DRAFT) == S.PROPOSAL
    assert stage_for_status(S.PROPOSAL, stages, stages[0]) == stages[1]
    assert stage_for_status(S.IN_PROGRESS, stages, stages[1]) == stages[0]


def _counts(**by_key: tuple[int, str, float]) -> list[StageCount]:
    ids = {stage.key: stage.id for stage in SEEDED}
    return [StageCount(ids[key], n, Decimal(value), days) for key, (n, value, days) in by_key.items()]


def test_stage_figures_derive_the_funnel_rates_in_the_pipelines_order():
    rows = _counts(
        qualification=(2, "0", 6.0),
        proposal=(2, "10.50", 10.0),
        closedWon=(3, "5", 30.0),
        closedLost=(1, "0", 1.0),
    )
    figures = {f.stage: f for f in stage_figures(SEEDED, rows)}
    assert list(figures) == [stage.value for stage in DealStage]
    qualification = figures["qualification"]
    assert qualification.count == 2
    assert qualification.avg_cycle_duration_days == 3.0
    assert qualification.conversion_rate == round(5 / 7, 4)  # 2 proposal + 3 won of 7 that reached it
    assert figures["negotiation"].conversion_rate == 1.0  # 0 there, 5 beyond
    assert figures["proposal"].conversion_rate == 0.6
    assert figures["proposal"].total_value == Decimal("10.50")
    assert figures["closedWon"].conversion_rate == 0.75
    assert figures["closedLost"].conversion_rate == 0.25


def test_stage_figures_of_nothing_are_zero():
    assert all(f.count == 0 and f.conversion_rate == 0.0 for f in stage_figures(SEEDED, []))
