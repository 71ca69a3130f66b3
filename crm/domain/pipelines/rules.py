"""Pipelines: the ordered stages a deal moves through, the kind of each stage, and the pipeline every deal was in
before there were others (the contract's five stages, seeded by migration 0014 with the ids below)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from crm.domain.errors import FieldProblem

MAX_STAGES = 50
MAX_LOST_REASONS = 100


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DealStage(StrEnum):
    """The contract's five stage keys: the seeded pipeline's stages. They mean the same in every pipeline (a stage
    keyed ``closedWon`` is a won stage wherever it is), so a deal's ``status`` follows them as the contract says."""

    QUALIFICATION = "qualification"
    NEGOTIATION = "negotiation"
    PROPOSAL = "proposal"
    CLOSED_WON = "closedWon"
    CLOSED_LOST = "closedLost"


@dataclass(frozen=True, slots=True)
class SeededStage:
    id: UUID
    key: DealStage
    name: str
    kind: StageKind
    probability: int


# Fixed ids, written by migration 0014 (which keeps its own copy, as migrations do) and checked against these by
# tests/integration/test_migrations.py.
SEEDED_PIPELINE_ID = UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f001")
SEEDED_PIPELINE_NAME = "Sales"
SEEDED_STAGES: tuple[SeededStage, ...] = (
    SeededStage(
        UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f101"), DealStage.QUALIFICATION, "Qualification", StageKind.OPEN, 10
    ),
    SeededStage(UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f102"), DealStage.NEGOTIATION, "Negotiation", StageKind.OPEN, 40),
    SeededStage(UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f103"), DealStage.PROPOSAL, "Proposal", StageKind.OPEN, 70),
    SeededStage(UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f104"), DealStage.CLOSED_WON, "Closed won", StageKind.WON, 100),
    SeededStage(UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f105"), DealStage.CLOSED_LOST, "Closed lost", StageKind.LOST, 0),
)
CONTRACT_KINDS: Mapping[str, StageKind] = {stage.key.value: stage.kind for stage in SEEDED_STAGES}


class StageLike(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def kind(self) -> StageKind: ...


def default_probability(kind: StageKind) -> int:
    """A stage's probability when none is given: a won deal is certain, any other is not yet."""
    return 100 if kind == StageKind.WON else 0


def contract_kind_problem(stage: StageLike) -> str | None:
    """Why ``stage`` may not have its kind: a contract key keeps the contract's kind."""
    kind = CONTRACT_KINDS.get(stage.key)
    if kind is not None and kind != stage.kind:
        article = "an" if kind == StageKind.OPEN else "a"
        return f"a stage keyed {stage.key!r} is {article} {kind} stage in every pipeline"
    return None


def stage_set_problems(stages: Sequence[StageLike], field: str = "stages") -> list[FieldProblem]:
    """What is wrong with the stages of a new pipeline: each key once, contract keys of their kind, and at least
    one open, one won and one lost stage (a deal must be able to start, and to end either way)."""
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        if stage.key in seen:
            problems.append(FieldProblem(_item(field, index, "key"), "another stage of the pipeline has this key"))
        seen.add(stage.key)
        wrong_kind = contract_kind_problem(stage)
        if wrong_kind is not None:
            problems.append(FieldProblem(_item(field, index, "kind"), wrong_kind))
    missing = [kind.value for kind in StageKind if not any(stage.kind == kind for stage in stages)]
    if missing:
        problems.append(FieldProblem(field, f"a pipeline needs an open, a won and a lost stage; none is {missing}"))
    return problems


def _item(field: str, index: int, name: str) -> str:
    """How a problem names a field of an item in a list (as validation errors do): ``stages.2.key``."""
    return ".".join((field, str(index), name))
