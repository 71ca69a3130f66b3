"""Deal lifecycle: statuses, the stages the board shows, and which moves are allowed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class DealStatus(StrEnum):
    DRAFT = "draft"
    QUALIFICATION = "qualification"
    IN_PROGRESS = "in_progress"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"


class DealStage(StrEnum):
    QUALIFICATION = "qualification"
    NEGOTIATION = "negotiation"
    PROPOSAL = "proposal"
    CLOSED_WON = "closedWon"
    CLOSED_LOST = "closedLost"


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

# The board's order; closed stages come last.
FUNNEL: tuple[DealStage, ...] = (
    DealStage.QUALIFICATION,
    DealStage.NEGOTIATION,
    DealStage.PROPOSAL,
    DealStage.CLOSED_WON,
    DealStage.CLOSED_LOST,
)


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
class StatusCount:
    """Live deals in one status, with their summed age (or open→close time) in days."""

    status: DealStatus
    count: int
    total_value: Decimal
    cycle_days_sum: float


@dataclass(frozen=True, slots=True)
class StageFigures:
    stage: DealStage
    count: int
    total_value: Decimal
    conversion_rate: float
    avg_cycle_duration_days: float


def stage_figures(rows: list[StatusCount]) -> list[StageFigures]:
    """Roll status counts up to stages and derive the funnel rates.

    ``conversion_rate`` of an open stage is the share of the deals that reached it (are there now or
    at a later open stage, or won) which have moved past it; a lost deal's furthest stage is not kept,
    so lost deals count only in the closed rates. For ``closedWon``/``closedLost`` it is the share of
    closed deals that were won/lost.
    """
    count: dict[DealStage, int] = dict.fromkeys(FUNNEL, 0)
    value: dict[DealStage, Decimal] = {stage: Decimal("0.00") for stage in FUNNEL}
    days: dict[DealStage, float] = dict.fromkeys(FUNNEL, 0.0)
    for row in rows:
        stage = STAGE_OF_STATUS[row.status]
        count[stage] += row.count
        value[stage] += row.total_value
        days[stage] += row.cycle_days_sum

    won = count[DealStage.CLOSED_WON]
    lost = count[DealStage.CLOSED_LOST]
    closed = won + lost
    open_stages = FUNNEL[:3]
    figures: list[StageFigures] = []
    for index, stage in enumerate(FUNNEL):
        if stage in open_stages:
            beyond = sum(count[s] for s in open_stages[index + 1 :]) + won
            reached = count[stage] + beyond
            rate = beyond / reached if reached else 0.0
        else:
            rate = count[stage] / closed if closed else 0.0
        avg_days = days[stage] / count[stage] if count[stage] else 0.0
        figures.append(
            StageFigures(
                stage=stage,
                count=count[stage],
                total_value=value[stage],
                conversion_rate=round(rate, 4),
                avg_cycle_duration_days=round(avg_days, 2),
            )
        )
    return figures
