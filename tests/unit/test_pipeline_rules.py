from dataclasses import dataclass

from crm.domain.pipelines.rules import (
    CONTRACT_KINDS,
    SEEDED_STAGES,
    DealStage,
    StageKind,
    default_probability,
    stage_set_problems,
)

K = StageKind


@dataclass(frozen=True)
class NewStage:
    key: str
    kind: StageKind


def test_the_seeded_pipeline_has_the_contracts_five_stages_in_order():
    assert [stage.key for stage in SEEDED_STAGES] == list(DealStage)
    assert set(CONTRACT_KINDS) == {stage.value for stage in DealStage}
    assert stage_set_problems(SEEDED_STAGES) == []


def test_a_pipeline_needs_an_open_a_won_and_a_lost_stage():
    problems = stage_set_problems([NewStage("a", K.OPEN), NewStage("b", K.OPEN), NewStage("c", K.WON)])
    assert [(p.field, "lost" in p.message) for p in problems] == [("stages", True)]


def test_keys_are_unique_and_contract_keys_keep_their_kind():
    problems = stage_set_problems(
        [NewStage("a", K.OPEN), NewStage("a", K.WON), NewStage("closedWon", K.LOST), NewStage("proposal", K.OPEN)]
    )
    assert [p.field for p in problems] == ["stages.1.key", "stages.2.kind"]


def test_a_won_stage_is_certain_by_default():
    assert [default_probability(kind) for kind in K] == [0, 100, 0]
