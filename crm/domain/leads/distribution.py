"""Who gets an appeal: the one place the availability rules and the weighted draw are written.

A source's listed operators (its weight rows) are its candidates unless excluded: inactive, weight 0, absent (an
absence covers now), off hours (working hours set and none covering now, in the business time zone) or at
capacity (``load >= max_load``). Among the rest one is drawn with probability ``weight / sum(weights)``.

The draw is only a plan: the slot is taken by a conditional update of the operator's row (``load < max_load``),
which may find them full after all (another process took their last slot). The use case then starts again with
them marked full (``SlotLost``), so ``max_load`` holds whatever runs at the same time.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from crm.domain.leads.appeals import AssignmentReason, Exclusion

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SlotLost(Exception):
    """The planned operator turned out full when their slot was taken. A failed take may still hold their row's
    lock (it waited for another transaction, then found the row full), so the use case starts its transaction
    again, with them marked full, rather than go on holding it and risk a deadlock with another take."""

    def __init__(self, operator_id: UUID) -> None:
        super().__init__(f"operator {operator_id} is full")
        self.operator_id = operator_id


@dataclass(frozen=True, slots=True)
class View:
    """A listed operator as a decision saw them (what ``GET /appeals/{id}/assignment`` serves)."""

    operator_id: UUID
    weight: int
    load: int
    max_load: int
    excluded: Exclusion | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A listed operator as distribution reads them: ``working_hours`` and ``absences`` as stored (JSON)."""

    operator_id: UUID
    weight: int
    load: int
    max_load: int
    active: bool
    working_hours: Mapping[str, Sequence[Mapping[str, str]]] | None
    absences: Sequence[Mapping[str, str]]

    def view(self, excluded: Exclusion | None) -> View:
        return View(self.operator_id, self.weight, self.load, self.max_load, excluded)


@dataclass(frozen=True, slots=True)
class Moment:
    """Now, and what a working-hours check reads of it: the weekday and ``HH:MM`` in the business time zone."""

    now: datetime
    weekday: str
    clock: str

    @classmethod
    def of(cls, now: datetime, zone: ZoneInfo) -> Moment:
        local = now.astimezone(zone)
        return cls(now, WEEKDAYS[local.weekday()], local.strftime("%H:%M"))


def presence(
    working_hours: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    absences: Sequence[Mapping[str, Any]],
    now: datetime,
    zone: ZoneInfo,
) -> Exclusion | None:
    """``None`` when present at ``now``; otherwise ``ABSENT`` or ``OFF_HOURS``. No working hours: always on."""
    return _presence(working_hours, absences, Moment.of(now, zone))


def _presence(
    working_hours: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    absences: Sequence[Mapping[str, Any]],
    moment: Moment,
) -> Exclusion | None:
    for absence in absences:
        if _instant(absence["starts_at"]) <= moment.now < _instant(absence["ends_at"]):
            return Exclusion.ABSENT
    if working_hours is None:
        return None
    # "HH:MM" strings order as times do; "24:00" ends a day after every "HH:MM" of it.
    for shift in working_hours.get(moment.weekday, ()):
        if shift["from"] <= moment.clock < shift["to"]:
            return None
    return Exclusion.OFF_HOURS


def exclusion(candidate: Candidate, now: datetime, zone: ZoneInfo, *, weighted: bool = True) -> Exclusion | None:
    """Why ``candidate`` cannot take an appeal now (``None``: they can). ``weighted=False`` ignores the weight (a
    sticky repeat contact or a named operator is not a share of the source's flow)."""
    return _exclusion(candidate, Moment.of(now, zone), weighted=weighted)


def _exclusion(candidate: Candidate, moment: Moment, *, weighted: bool) -> Exclusion | None:
    if not candidate.active:
        return Exclusion.INACTIVE
    if weighted and candidate.weight <= 0:
        return Exclusion.ZERO_WEIGHT
    away = _presence(candidate.working_hours, candidate.absences, moment)
    if away is not None:
        return away
    if candidate.load >= candidate.max_load:
        return Exclusion.AT_CAPACITY
    return None


@dataclass(frozen=True, slots=True)
class Plan:
    operator_id: UUID | None
    reason: AssignmentReason
    candidates: list[View]


def plan(
    candidates: Sequence[Candidate],
    now: datetime,
    zone: ZoneInfo,
    rng: random.Random,
    *,
    sticky: UUID | None = None,
    full: Collection[UUID] = (),
    away_from: UUID | None = None,
) -> Plan:
    """Where an appeal goes: to ``sticky`` (the operator of the lead's open appeal on this source) if they can take
    it, else drawn by weight among the candidates; ``full`` are operators found at capacity since ``candidates``
    were read, ``away_from`` the operator a reassignment takes it from."""
    moment = Moment.of(now, zone)
    views: list[View] = []
    eligible: list[Candidate] = []
    sticky_ok = False
    for candidate in candidates:
        if candidate.operator_id == away_from:
            reason: Exclusion | None = Exclusion.CURRENT
        elif candidate.operator_id in full:
            reason = Exclusion.AT_CAPACITY
        else:
            reason = _exclusion(candidate, moment, weighted=candidate.operator_id != sticky)
        views.append(candidate.view(reason))
        if reason is None:
            eligible.append(candidate)
            sticky_ok = sticky_ok or candidate.operator_id == sticky
    if sticky_ok:
        return Plan(sticky, AssignmentReason.STICKY, views)
    drawn = draw([c for c in eligible if c.weight > 0], rng)
    if drawn is None:
        return Plan(None, AssignmentReason.UNASSIGNED, views)
    return Plan(drawn.operator_id, AssignmentReason.WEIGHTED, views)


def draw(eligible: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    """One of ``eligible`` with probability ``weight / sum(weights)`` (integers: exact); ``None`` when empty."""
    total = sum(candidate.weight for candidate in eligible)
    if total <= 0:
        return None
    point = rng.randrange(total)
    for candidate in eligible:
        point -= candidate.weight
        if point < 0:
            return candidate
    raise AssertionError("unreachable: the point lies below the total")  # pragma: no cover


def _instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
