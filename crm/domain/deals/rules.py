"""Deal lifecycle: statuses, the stage each status puts a deal in, and which moves are allowed.

A deal stands in one stage of its pipeline (``crm.domain.pipelines``) and has a status. The two are tied by one
rule, ``holds``: a won stage holds won deals, a lost stage lost ones, a stage keyed as one of the contract's
stages the contract's status (its qualification stage a draft deal too), any other open stage any open status.
``status_in`` and ``stage_for_status`` derive one from the other by that rule, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, TypeVar
from uuid import UUID

from crm.domain.pipelines.rules import DealStage, StageKind, StageLike


class DealStatus(StrEnum):
    DRAFT = "draft"
    QUALIFICATION = "qualification"
    IN_PROGRESS = "in_progress"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"


FINAL_STATUSES = frozenset({DealStatus.WON, DealStatus.LOST})
OPEN_STATUSES = frozenset(DealStatus) - FINAL_STATUSES

STAGE_OF_STATUS: Mapping[DealStatus, DealStage] = {
    DealStatus.DRAFT: DealStage.QUALIFICATION,
    DealStatus.QUALIFICATION: DealStage.QUALIFICATION,
    DealStatus.IN_PROGRESS: DealStage.NEGOTIATION,
    DealStatus.PROPOSAL: DealStage.PROPOSAL,
    DealStatus.WON: DealStage.CLOSED_WON,
    DealStatus.LOST: DealStage.CLOSED_LOST,
}

STATUS_OF_STAGE: Mapping[DealStage, DealStatus] = {
    DealStage.QUALIFICATION: DealStatus.QUALIFICATION,
    DealStage.NEGOTIATION: DealStatus.IN_PROGRESS,
    DealStage.PROPOSAL: DealStatus.PROPOSAL,
    DealStage.CLOSED_WON: DealStatus.WON,
    DealStage.CLOSED_LOST: DealStatus.LOST,
}

# The contract's status of each contract stage key, as the stage key (how a pipeline's stages name them).
CONTRACT_STATUS: Mapping[str, DealStatus] = {stage.value: status for stage, status in STATUS_OF_STAGE.items()}

S = TypeVar("S", bound=StageLike)


def holds(stage: StageLike, status: DealStatus) -> bool:
    """Whether a deal in ``stage`` may have ``status``: the one rule tying a deal's stage to its status."""
    if stage.kind == StageKind.WON:
        return status == DealStatus.WON
    if stage.kind == StageKind.LOST:
        return status == DealStatus.LOST
    named = CONTRACT_STATUS.get(stage.key)
    if named is None:
        return status in OPEN_STATUSES
    # The contract puts a draft deal in the qualification stage.
    return status == named or (named == DealStatus.QUALIFICATION and status == DealStatus.DRAFT)


def status_in(stage: StageLike, current: DealStatus) -> DealStatus:
    """The status of a deal (``current`` now) once it stands in ``stage``: its own if the stage holds it, else the
    stage's: won, lost, the contract's for a contract key, ``in_progress`` for any other open stage."""
    if holds(stage, current):
        return current
    if stage.kind == StageKind.WON:
        return DealStatus.WON
    if stage.kind == StageKind.LOST:
        return DealStatus.LOST
    return CONTRACT_STATUS.get(stage.key, DealStatus.IN_PROGRESS)


def stage_for_status(status: DealStatus, stages: Sequence[S], current: S | None) -> S | None:
    """The stage (of ``stages``, in order) a deal goes to when it is given ``status``: the stage the contract names
    for it when the pipeline has it, else the one the deal is in if that holds the status, else the first that
    holds it (for won or lost, the only one). ``None`` when no stage, or more than one won or lost stage, would do."""
    named = STAGE_OF_STATUS[status].value
    held = [stage for stage in stages if holds(stage, status)]
    for stage in held:
        if stage.key == named:
            return stage
    if current is not None and holds(current, status):
        return current
    if status in OPEN_STATUSES:
        return held[0] if held else None
    return held[0] if len(held) == 1 else None


def transition_refusal(current: DealStatus, target: DealStatus, *, is_admin: bool) -> str | None:
    """Why ``current → target`` is not allowed, or ``None`` if it is.

    Open deals move freely between open statuses and may close; nothing goes back to ``draft``;
    ``won`` and ``lost`` are final unless an admin reopens the deal to an open status.
    """
    if current == target:
        return None
    if target == DealStatus.DRAFT:
        return "a deal cannot go back to draft"
    if current in FINAL_STATUSES:
        if target in FINAL_STATUSES:
            return f"a {current} deal must be reopened before it can become {target}"
        if not is_admin:
            return f"a {current} deal is final; only an admin may reopen it"
    return None


@dataclass(frozen=True, slots=True)
class StageCount:
    """Live deals in one stage, with their summed age (or open→close time) in days."""

    stage_id: UUID
    count: int
    total_value: Decimal
    cycle_days_sum: float


@dataclass(frozen=True, slots=True)
class StageFigures:
    stage: str
    count: int
    total_value: Decimal
    conversion_rate: float
    avg_cycle_duration_days: float


class FunnelStage(StageLike, Protocol):
    @property
    def id(self) -> UUID: ...


def stage_figures(stages: Sequence[FunnelStage], rows: list[StageCount]) -> list[StageFigures]:
    """One row per stage of a pipeline (``stages`` in its order), with the funnel rates.

    ``conversion_rate`` of an open stage is the share of the deals that reached it (are there now, at a later open
    stage, or won) which have moved past it; a lost deal's furthest stage is not kept, so lost deals count only in
    the closed rates. For a won or lost stage it is the share of closed deals that closed there.
    """
    count: dict[UUID, int] = {stage.id: 0 for stage in stages}
    value: dict[UUID, Decimal] = {stage.id: Decimal("0.00") for stage in stages}
    days: dict[UUID, float] = {stage.id: 0.0 for stage in stages}
    for row in rows:
        if row.stage_id in count:
            count[row.stage_id] += row.count
            value[row.stage_id] += row.total_value
            days[row.stage_id] += row.cycle_days_sum

    won = sum(count[stage.id] for stage in stages if stage.kind == StageKind.WON)
    closed = won + sum(count[stage.id] for stage in stages if stage.kind == StageKind.LOST)
    open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
    figures: list[StageFigures] = []
    for stage in stages:
        if stage.kind == StageKind.OPEN:
            later = open_stages[open_stages.index(stage) + 1 :]
            beyond = sum(count[s.id] for s in later) + won
            reached = count[stage.id] + beyond
            rate = beyond / reached if reached else 0.0
        else:
            rate = count[stage.id] / closed if closed else 0.0
        avg_days = days[stage.id] / count[stage.id] if count[stage.id] else 0.0
        figures.append(
            StageFigures(
                stage=stage.key,
                count=count[stage.id],
                total_value=value[stage.id],
                conversion_rate=round(rate, 4),
                avg_cycle_duration_days=round(avg_days, 2),
            )
        )
    return figures
