"""Lead-intake directory use cases: anyone signed in reads operators, sources and weights; admins and managers
change them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import require_privileged
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import FieldProblem, ListedTwice, OperatorNotFound, SourceNotFound
from crm.domain.events import DomainEvent, record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.leads.intake import pull_backlog
from crm.domain.leads.repository import OperatorReader, SourceReader
from crm.domain.leads.schemas import (
    Operator,
    OperatorCreate,
    OperatorFilter,
    OperatorUpdate,
    Source,
    SourceCreate,
    SourceFilter,
    SourceUpdate,
    SourceWeight,
)
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, requested_changes

OPERATORS = "change operators"
SOURCES = "change sources and their weights"
# A change of these may give an operator room for appeals waiting unassigned.
ROOM_FIELDS = frozenset({"active", "max_load", "working_hours", "absences"})
Weights = list[SourceWeight]  # `list` is a method's name in the services


def _stored_changes(
    current: Operator | Source, patch: OperatorUpdate | SourceUpdate, named: set[str]
) -> dict[str, Any]:
    """The ``named`` fields of the PATCH that differ from the stored record, as JSON values (nested working hours
    and absences compare by content, not by object)."""
    wanted = patch.model_dump(mode="json", include=named)
    stored = current.model_dump(mode="json", include=named)
    return {name: value for name, value in wanted.items() if stored[name] != value}


class OperatorService:
    def __init__(self, uow: UnitOfWorkFactory, reader: OperatorReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, operator_id: UUID) -> Operator:
        operator = await self._reader.get(operator_id)
        if operator is None:
            raise OperatorNotFound(f"Operator {operator_id} does not exist.")
        return operator

    async def list(self, query: OperatorFilter) -> Page[Operator]:
        return await self._reader.page(query)

    async def create(
        self, data: OperatorCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Operator:
        """A user who is a live operator already is a 409 ``operator_user_conflict``."""
        require_privileged(caller, OPERATORS)
        async with self._uow(caller, idempotency) as uow:
            operator = await uow.operators.add(uuid4(), data.model_dump(mode="json"), caller.actor_id)
            uow.record(record_event("operator.created", operator, self._clock.now()))
            await uow.commit(operator)
        return operator

    async def update(
        self, operator_id: UUID, patch: OperatorUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Operator:
        require_privileged(caller, OPERATORS)
        named = set(requested_changes(patch, OperatorUpdate.NOT_NULLABLE))
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, operator_id)
            check_version(current.version, if_match)
            changes = _stored_changes(current, patch, named)
            if not changes:
                return current
            operator = await uow.operators.update(operator_id, changes, caller.actor_id)
            if ROOM_FIELDS & changes.keys() and await pull_backlog(uow, operator_id, caller, self._clock):
                operator = await self._live_for_update(uow, operator_id)  # with the load it has now
            uow.record(record_event("operator.updated", operator, self._clock.now()))
            await uow.commit()
        return operator

    async def delete(self, operator_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        """The operator stops being a candidate; their weights stay, hidden, and return with a restore."""
        require_privileged(caller, OPERATORS)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, operator_id)
            check_version(current.version, if_match)
            operator = await uow.operators.set_deleted(operator_id, True, caller.actor_id)
            uow.record(record_event("operator.deleted", operator, self._clock.now()))
            await uow.commit()

    async def restore(
        self, operator_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Operator:
        """Undo a soft delete; a live operator stays as they are. Their user being another live operator by now
        is a 409 ``operator_user_conflict``."""
        require_privileged(caller, OPERATORS)
        async with self._uow(caller, idempotency) as uow:
            current = await uow.operators.get_for_update(operator_id)
            if current is None:
                raise OperatorNotFound(f"Operator {operator_id} does not exist.")
            if not current.is_deleted:
                return current
            operator = await uow.operators.set_deleted(operator_id, False, caller.actor_id)
            if await pull_backlog(uow, operator_id, caller, self._clock):
                operator = await self._live_for_update(uow, operator_id)
            uow.record(record_event("operator.restored", operator, self._clock.now()))
            await uow.commit(operator)
        return operator

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, operator_id: UUID) -> Operator:
        operator = await uow.operators.get_for_update(operator_id)
        if operator is None or operator.is_deleted:
            raise OperatorNotFound(f"Operator {operator_id} does not exist.")
        return operator


class SourceService:
    def __init__(self, uow: UnitOfWorkFactory, reader: SourceReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, source_id: UUID) -> Source:
        source = await self._reader.get(source_id)
        if source is None:
            raise SourceNotFound(f"Source {source_id} does not exist.")
        return source

    async def list(self, query: SourceFilter) -> Page[Source]:
        return await self._reader.page(query)

    async def create(self, data: SourceCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Source:
        """A name a live source has already is a 409 ``source_name_conflict``."""
        require_privileged(caller, SOURCES)
        async with self._uow(caller, idempotency) as uow:
            source = await uow.sources.add(uuid4(), data.model_dump(mode="json"), caller.actor_id)
            uow.record(record_event("source.created", source, self._clock.now()))
            await uow.commit(source)
        return source

    async def update(
        self, source_id: UUID, patch: SourceUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Source:
        require_privileged(caller, SOURCES)
        named = set(requested_changes(patch, SourceUpdate.NOT_NULLABLE))
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, source_id)
            check_version(current.version, if_match)
            changes = _stored_changes(current, patch, named)
            if not changes:
                return current
            source = await uow.sources.update(source_id, changes, caller.actor_id)
            uow.record(record_event("source.updated", source, self._clock.now()))
            await uow.commit()
        return source

    async def delete(self, source_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        require_privileged(caller, SOURCES)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, source_id)
            check_version(current.version, if_match)
            source = await uow.sources.set_deleted(source_id, True, caller.actor_id)
            uow.record(record_event("source.deleted", source, self._clock.now()))
            await uow.commit()

    async def restore(self, source_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None) -> Source:
        require_privileged(caller, SOURCES)
        async with self._uow(caller, idempotency) as uow:
            current = await uow.sources.get_for_update(source_id)
            if current is None:
                raise SourceNotFound(f"Source {source_id} does not exist.")
            if not current.is_deleted:
                return current
            source = await uow.sources.set_deleted(source_id, False, caller.actor_id)
            uow.record(record_event("source.restored", source, self._clock.now()))
            await uow.commit(source)
        return source

    async def weights(self, source_id: UUID) -> Weights:
        weights = await self._reader.weights(source_id)
        if weights is None:
            raise SourceNotFound(f"Source {source_id} does not exist.")
        return weights

    async def replace_weights(self, source_id: UUID, weights: Sequence[SourceWeight], caller: Caller) -> Weights:
        """The list becomes the source's weights, all or nothing: a repeated or unknown operator changes none.
        The source's row is locked first, so two replacements of one source follow each other."""
        require_privileged(caller, SOURCES)
        _check_unique_operators(weights)
        replaced = sorted(weights, key=lambda weight: str(weight.operator_id))
        async with self._uow(caller) as uow:
            await self._live_for_update(uow, source_id)
            live = await uow.operators.lock_live([weight.operator_id for weight in weights])
            unknown = [
                FieldProblem(_item_field(index), "no such operator")
                for index, weight in enumerate(weights)
                if weight.operator_id not in live
            ]
            if unknown:
                raise OperatorNotFound("Some operators in the list do not exist.", errors=unknown)
            await uow.sources.replace_weights(source_id, replaced, caller.actor_id)
            data = {"source_id": str(source_id), "weights": [weight.model_dump(mode="json") for weight in replaced]}
            uow.record(DomainEvent("source.weights.replaced", source_id, data, self._clock.now()))
            # Operators who now take this source's appeals take those waiting (in id order, as locked above).
            for weight in replaced:
                if weight.weight > 0:
                    await pull_backlog(uow, weight.operator_id, caller, self._clock)
            await uow.commit()
        return replaced

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, source_id: UUID) -> Source:
        source = await uow.sources.get_for_update(source_id)
        if source is None or source.is_deleted:
            raise SourceNotFound(f"Source {source_id} does not exist.")
        return source


def _check_unique_operators(weights: Sequence[SourceWeight]) -> None:
    seen: set[UUID] = set()
    repeated = []
    for index, weight in enumerate(weights):
        if weight.operator_id in seen:
            repeated.append(FieldProblem(_item_field(index), "operator is listed more than once"))
        seen.add(weight.operator_id)
    if repeated:
        raise ListedTwice("Each operator appears once in a source's weights.", errors=repeated)


def _item_field(index: int) -> str:
    """How a problem names an item's field in a list body (as validation errors do): ``2.operator_id``."""
    return ".".join((str(index), "operator_id"))
