"""Lead intake use cases: leads, appeals coming in and going to operators, closing, handing over, converting, and
the unassigned queue drained as operators get room.

Lock order, the same in every use case so none waits on another in a circle: an appeal's row, then its lead's,
then operators' rows. Taking a slot (``OperatorSlots.take``) is the only lock distribution takes, on the chosen
operator alone, so appeals of different operators and different sources never wait on each other.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

from pydantic import BaseModel

from crm.domain.access import Access, owner_for, require_intake, require_privileged
from crm.domain.caller import SYSTEM, Caller
from crm.domain.clients.schemas import Client, ClientCreate
from crm.domain.clock import Clock
from crm.domain.deals.schemas import Deal, DealCreate
from crm.domain.deals.stages import open_deal
from crm.domain.errors import (
    AppealClosed,
    AppealNotFound,
    ClientNotFound,
    FieldProblem,
    LeadNotFound,
    OperatorNotFound,
    OperatorUnavailable,
    SourceInactive,
    SourceNotFound,
)
from crm.domain.events import DomainEvent, record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.leads.appeals import (
    Appeal,
    AppealClose,
    AppealConvert,
    AppealCreate,
    AppealFilter,
    AppealReassign,
    AssignmentLog,
    AssignmentReason,
    Lead,
    LeadCreate,
    LeadFilter,
    LeadUpdate,
)
from crm.domain.leads.distribution import Candidate, Plan, SlotLost, exclusion, plan
from crm.domain.leads.repository import AppealReader, LeadChange, LeadReader
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes

HANDOVER = "hand an appeal to a named operator"
LEADS = "change or delete leads"
CONVERTED = "converted"


def appeal_event(routing_key: str, appeal: Appeal, decision: Plan | None, clock: Clock) -> DomainEvent:
    """``appeal.*`` carries the appeal as served; an assignment's also says why (``reason``)."""
    data = appeal.model_dump(mode="json")
    if decision is not None:
        data["reason"] = decision.reason.value
    return DomainEvent(routing_key, appeal.id, data, clock.now())


def assignment_events(appeal: Appeal, decision: Plan, clock: Clock) -> DomainEvent:
    """``appeal.assigned`` when the decision found an operator, ``appeal.unassigned`` when it did not."""
    key = "appeal.unassigned" if decision.operator_id is None else "appeal.assigned"
    return appeal_event(key, appeal, decision, clock)


class LeadService:
    def __init__(self, uow: UnitOfWorkFactory, reader: LeadReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, lead_id: UUID, caller: Caller) -> Lead:
        lead = await self._reader.get(lead_id, Access.of(caller))
        if lead is None:
            raise LeadNotFound(f"Lead {lead_id} does not exist.")
        return lead

    async def list(self, query: LeadFilter, caller: Caller) -> Page[Lead]:
        return await self._reader.page(query, Access.of(caller))

    async def create(self, data: LeadCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Lead:
        """A live lead with this ``external_id`` already is a 409 ``lead_external_id_conflict``."""
        require_intake(caller)
        async with self._uow(caller, idempotency) as uow:
            lead = await uow.leads.add(uuid4(), data.model_dump(), caller.actor_id)
            uow.record(record_event("lead.created", lead, self._clock.now()))
            await uow.commit(lead)
        return lead

    async def update(self, lead_id: UUID, patch: LeadUpdate, caller: Caller, *, if_match: int | None = None) -> Lead:
        require_privileged(caller, LEADS)
        changes = requested_changes(patch, LeadUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            current = await _live_lead(uow, lead_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            lead = await uow.leads.update(lead_id, changes, caller.actor_id)
            uow.record(record_event("lead.updated", lead, self._clock.now()))
            await uow.commit()
        return lead

    async def delete(self, lead_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        """The lead's appeals stay; a later contact with the same ``external_id`` makes a new lead."""
        require_privileged(caller, LEADS)
        async with self._uow(caller) as uow:
            current = await _live_lead(uow, lead_id)
            check_version(current.version, if_match)
            lead = await uow.leads.set_deleted(lead_id, True, caller.actor_id)
            uow.record(record_event("lead.deleted", lead, self._clock.now()))
            await uow.commit()


async def _live_lead(uow: UnitOfWork, lead_id: UUID) -> Lead:
    lead = await uow.leads.get_for_update(lead_id)
    if lead is None or lead.is_deleted:
        raise LeadNotFound(f"Lead {lead_id} does not exist.")
    return lead


class Conversion(BaseModel):
    """What ``POST /appeals/{id}/convert`` made: the closed appeal, its lead, the client and the new deal."""

    appeal: Appeal
    lead: Lead
    client: Client
    client_created: bool
    deal: Deal


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a drain of the unassigned queue did."""

    operators: int
    assigned: int


async def pull_backlog(uow: UnitOfWork, operator_id: UUID, caller: Caller, clock: Clock) -> int:
    """Give the operator, if live, active and present, the oldest unassigned appeals they have room for, on the
    sources where their weight is above 0 — never one they handed away; how many they got. The operator's row is
    locked first, then the appeals (skipping any another transaction holds)."""
    room = await uow.operators.room(operator_id)
    if room is None or room.free == 0:
        return 0
    if exclusion(room.candidate, clock.now(), clock.zone, weighted=False) is not None:
        return 0
    pulled = await uow.appeals.pull_backlog(room, room.free, caller.actor_id, clock.now())
    if pulled:
        await uow.operators.take_many(operator_id, len(pulled))
        decision = Plan(operator_id, AssignmentReason.BACKLOG, [])
        for appeal in pulled:
            uow.record(assignment_events(appeal, decision, clock))
    return len(pulled)


class AppealService:
    def __init__(self, uow: UnitOfWorkFactory, reader: AppealReader, clock: Clock, rng: random.Random) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock
        self._rng = rng

    async def get(self, appeal_id: UUID, caller: Caller) -> Appeal:
        appeal = await self._reader.get(appeal_id, Access.of(caller))
        if appeal is None:
            raise AppealNotFound(f"Appeal {appeal_id} does not exist.")
        return appeal

    async def list(self, query: AppealFilter, caller: Caller) -> Page[Appeal]:
        return await self._reader.page(query, Access.of(caller))

    async def assignment(self, appeal_id: UUID, caller: Caller) -> AssignmentLog:
        decisions = await self._reader.assignments(appeal_id, Access.of(caller))
        if not decisions:
            raise AppealNotFound(f"Appeal {appeal_id} does not exist.")
        return AssignmentLog(current=decisions[-1], history=decisions)

    async def create(self, data: AppealCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Appeal:
        """The lead is found by ``external_id`` (or made, once, however many first contacts race), the appeal
        given to an operator (sticky, or drawn by weight) or stored unassigned. An unknown source is 404
        ``source_not_found``, an inactive one 409 ``source_inactive``, both naming ``source_id``."""
        require_intake(caller)
        full: set[UUID] = set()
        while True:  # each lost slot marks one more operator full: at most one round per candidate
            try:
                return await self._take_in(data, caller, idempotency, full)
            except SlotLost as lost:
                full.add(lost.operator_id)

    async def _take_in(
        self, data: AppealCreate, caller: Caller, idempotency: IdempotentRequest | None, full: set[UUID]
    ) -> Appeal:
        async with self._uow(caller, idempotency) as uow:
            lead, change = await uow.leads.take_in(data.contact(), caller.actor_id)
            intake = await uow.appeals.intake(data.source_id, lead.id)
            if intake is None:
                raise SourceNotFound(
                    f"Source {data.source_id} does not exist.", errors=[FieldProblem("source_id", "no such source")]
                )
            if not intake.active:
                raise SourceInactive(
                    "The source is inactive and takes no appeals.",
                    errors=[FieldProblem("source_id", "the source is inactive")],
                )
            decision = self._plan(intake.candidates, sticky=intake.sticky_operator_id, full=full)
            values = {"lead_id": lead.id, "source_id": data.source_id, "message": data.message}
            appeal = await uow.appeals.insert(uuid4(), values, decision, caller.actor_id)
            if appeal is None:
                raise SlotLost(decision.operator_id)  # type: ignore[arg-type]  # only a planned operator is lost
            if change is not None:
                key = "lead.created" if change is LeadChange.CREATED else "lead.updated"
                uow.record(record_event(key, lead, self._clock.now()))
            uow.record(appeal_event("appeal.created", appeal, None, self._clock))
            uow.record(assignment_events(appeal, decision, self._clock))
            await uow.commit(appeal)
        return appeal

    async def close(
        self,
        appeal_id: UUID,
        body: AppealClose,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
        *,
        if_match: int | None = None,
    ) -> Appeal:
        """The operator's slot frees, and the oldest unassigned appeal they may take comes to them."""
        async with self._uow(caller, idempotency) as uow:
            current = await self._open_for_update(uow, appeal_id, if_match)
            now = self._clock.now()
            appeal = await uow.appeals.close(appeal_id, body.resolution, None, caller.actor_id, now)
            uow.record(appeal_event("appeal.closed", appeal, None, self._clock))
            if current.operator_id is not None:
                await uow.operators.release(current.operator_id)
                await pull_backlog(uow, current.operator_id, caller, self._clock)
            await uow.commit(appeal)
        return appeal

    async def reassign(
        self,
        appeal_id: UUID,
        body: AppealReassign,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
        *,
        if_match: int | None = None,
    ) -> Appeal:
        """To a named operator (admins and managers; their ``max_load`` holds: a full or inactive one is 409
        ``operator_unavailable``), or drawn again among the source's other candidates (also by the operator who
        holds it, handing it back); nobody free leaves it unassigned."""
        if body.operator_id is not None:
            require_privileged(caller, HANDOVER)
        full: set[UUID] = set()
        while True:  # as in create: each lost slot marks one more operator full
            try:
                return await self._reassign(appeal_id, body.operator_id, caller, idempotency, if_match, full)
            except SlotLost as lost:
                full.add(lost.operator_id)

    async def _reassign(
        self,
        appeal_id: UUID,
        target: UUID | None,
        caller: Caller,
        idempotency: IdempotentRequest | None,
        if_match: int | None,
        full: set[UUID],
    ) -> Appeal:
        async with self._uow(caller, idempotency) as uow:
            current = await self._open_for_update(uow, appeal_id, if_match)
            previous = current.operator_id
            if target is not None and target == previous:
                return current
            if target is not None:
                decision = await self._hand_to(uow, target, previous)
            else:
                candidates = await uow.appeals.candidates(current.source_id)
                decision = self._plan(candidates, away_from=previous, full=full)
                # Both operators' rows in id order: two reassignments between the same two cannot deadlock.
                await uow.operators.lock_in_order([i for i in (previous, decision.operator_id) if i is not None])
                if decision.operator_id is not None and not await uow.operators.take(decision.operator_id):
                    raise SlotLost(decision.operator_id)
            if previous is not None:
                await uow.operators.release(previous)
            appeal = await uow.appeals.assign(appeal_id, decision, previous, caller.actor_id, self._clock.now())
            uow.record(assignment_events(appeal, decision, self._clock))
            if previous is not None:
                await pull_backlog(uow, previous, caller, self._clock)
            await uow.commit(appeal)
        return appeal

    async def convert(
        self, appeal_id: UUID, body: AppealConvert, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Conversion:
        """In one transaction: the client (``client_id``, else the lead's client, else a live client with the
        lead's e-mail or phone, else a new one from the lead), a new deal for them, the lead linked to the client
        and the appeal closed as converted, its operator's slot freed."""
        async with self._uow(caller, idempotency) as uow:
            current = await self._open_for_update(uow, appeal_id, None)
            lead = await _live_lead(uow, current.lead_id)
            owner_id = owner_for(caller, body.owner_id)
            client, created = await self._client_for(uow, lead, body, owner_id, caller)
            # Built from values checked (or stored) already; not checked again.
            deal_data = DealCreate.model_construct(
                client_id=client.id,
                title=body.title or f"Appeal of {client.name}"[:255],
                description=current.message,
                next_review_at=body.next_review_at or self._clock.today(),
                owner_id=owner_id,
            )
            deal = await open_deal(uow, deal_data, owner_id, caller, self._clock.now())
            if lead.client_id != client.id:
                lead = await uow.leads.update(lead.id, {"client_id": client.id}, caller.actor_id)
                uow.record(record_event("lead.updated", lead, self._clock.now()))
            appeal = await uow.appeals.close(appeal_id, CONVERTED, deal.id, caller.actor_id, self._clock.now())
            data = {**appeal.model_dump(mode="json"), "client_id": str(client.id)}
            uow.record(DomainEvent("appeal.converted", deal.id, data, self._clock.now(), aggregate="deal"))
            uow.record(appeal_event("appeal.closed", appeal, None, self._clock))
            if current.operator_id is not None:
                await uow.operators.release(current.operator_id)
                await pull_backlog(uow, current.operator_id, caller, self._clock)
            conversion = Conversion(appeal=appeal, lead=lead, client=client, client_created=created, deal=deal)
            await uow.commit(conversion)
        return conversion

    async def drain_backlog(self) -> Backlog:
        """Give every operator with room the oldest unassigned appeals they may take (crm-worker's
        ``lead-backlog``: operators whose shift began or whose absence ended since). One transaction per
        operator, least loaded first."""
        waiting = await self._reader.operators_with_room_for_backlog()
        assigned = 0
        for operator_id in waiting:
            async with self._uow(SYSTEM) as uow:
                assigned += await pull_backlog(uow, operator_id, SYSTEM, self._clock)
                await uow.commit()
        return Backlog(operators=len(waiting), assigned=assigned)

    def _plan(
        self,
        candidates: Sequence[Candidate],
        *,
        sticky: UUID | None = None,
        away_from: UUID | None = None,
        full: set[UUID],
    ) -> Plan:
        now = self._clock.now()
        return plan(candidates, now, self._clock.zone, self._rng, sticky=sticky, full=full, away_from=away_from)

    async def _hand_to(self, uow: UnitOfWork, operator_id: UUID, previous: UUID | None) -> Plan:
        locked = await uow.operators.lock_in_order([i for i in (operator_id, previous) if i is not None])
        target = locked.get(operator_id)
        if target is None:
            raise OperatorNotFound(
                f"Operator {operator_id} does not exist.", errors=[FieldProblem("operator_id", "no such operator")]
            )
        if not target.active or target.load >= target.max_load:
            problem = "inactive" if not target.active else f"at capacity ({target.load} of {target.max_load})"
            raise OperatorUnavailable(
                f"The operator cannot take the appeal: {problem}.", errors=[FieldProblem("operator_id", problem)]
            )
        await uow.operators.take(operator_id)
        view = Candidate(operator_id, 0, target.load, target.max_load, True, None, ()).view(None)
        return Plan(operator_id, AssignmentReason.MANUAL, [view])

    async def _client_for(
        self, uow: UnitOfWork, lead: Lead, body: AppealConvert, owner_id: UUID | None, caller: Caller
    ) -> tuple[Client, bool]:
        if body.client_id is not None:
            # Linking a client takes seeing it; the lead's own client and a match by contact do not.
            client = (
                await uow.clients.find_live(body.client_id)
                if await uow.clients.lock_live_for_share(body.client_id)
                else None
            )
            if client is None:
                raise ClientNotFound(
                    f"Client {body.client_id} does not exist.", errors=[FieldProblem("client_id", "no such client")]
                )
            return client, False
        if lead.client_id is not None:
            found = await uow.clients.find_live(lead.client_id)
            if found is not None:
                return found, False
        found = await uow.clients.find_by_contact(lead.email, lead.phone)
        if found is not None:
            return found, False
        data = ClientCreate.model_construct(
            name=lead.name or lead.external_id, email=lead.email, phone=lead.phone, owner_id=owner_id
        )
        client = await uow.clients.add(uuid4(), {**data.model_dump(), "owner_id": owner_id}, caller.actor_id)
        uow.record(record_event("client.created", client, self._clock.now()))
        return client, True

    async def _open_for_update(self, uow: UnitOfWork, appeal_id: UUID, if_match: int | None) -> Appeal:
        current = await uow.appeals.get_for_update(appeal_id)
        if current is None:
            raise AppealNotFound(f"Appeal {appeal_id} does not exist.")
        check_version(current.version, if_match)
        if current.status != "open":
            raise AppealClosed("The appeal is closed already.")
        return current
