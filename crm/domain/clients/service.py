"""Client use cases."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import Access, Resource, check_reassignment, owner_for, require_creator
from crm.domain.caller import Caller
from crm.domain.clients.imports import ClientImportReport, client_create, read_client_csv
from crm.domain.clients.repository import ClientReader
from crm.domain.clients.schemas import Client, ClientCreate, ClientFilter, ClientUpdate
from crm.domain.clock import Clock
from crm.domain.errors import ClientHasOpenDeals, ClientNotFound, FieldProblem, Forbidden, InvalidRows
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes

DEFAULT_IMPORT_ROWS = 10_000


class ClientService:
    def __init__(
        self, uow: UnitOfWorkFactory, reader: ClientReader, clock: Clock, *, import_max_rows: int = DEFAULT_IMPORT_ROWS
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock
        self._import_max_rows = import_max_rows

    async def get(self, client_id: UUID, caller: Caller) -> Client:
        client = await self._reader.get(client_id, Access.of(caller))
        if client is None:
            raise ClientNotFound(f"Client {client_id} does not exist.")
        return client

    async def list(self, query: ClientFilter, caller: Caller) -> Page[Client]:
        return await self._reader.page(query, Access.of(caller))

    async def create(self, data: ClientCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Client:
        require_creator(caller, Resource.CLIENT)
        values = {**data.model_dump(), "owner_id": owner_for(caller, data.owner_id)}
        async with self._uow(caller, idempotency) as uow:
            client = await uow.clients.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("client.created", client, self._clock.now()))
            await uow.commit(client)
        return client

    async def import_csv(
        self, body: bytes, caller: Caller, *, dry_run: bool, idempotency: IdempotentRequest | None = None
    ) -> ClientImportReport:
        """Every row checked as ``create`` checks one client, then all created in one transaction, each with its
        ``client.created`` event, or none: one bad row refuses the file (``InvalidRows`` naming every problem
        by row and field). A dry run checks and writes nothing."""
        require_creator(caller, Resource.CLIENT)
        records, problems = read_client_csv(body, max_rows=self._import_max_rows)
        rows: list[dict[str, object]] = []
        for record in records:
            data = client_create(record)
            if isinstance(data, list):
                problems.extend(data)
                continue
            try:
                owner = owner_for(caller, data.owner_id)
            except Forbidden as refused:
                problems.extend(FieldProblem(p.field, p.message, row=record.line) for p in refused.errors)
                continue
            rows.append({**data.model_dump(), "owner_id": owner})
        if problems:
            problems.sort(key=lambda p: p.row or 0)
            lines = len({p.row for p in problems})
            raise InvalidRows(
                f"{lines} row(s) cannot be imported; nothing was written.",
                errors=problems,
            )
        if dry_run:
            return ClientImportReport(dry_run=True, rows=len(rows), created=0, ids=[])
        async with self._uow(caller, idempotency) as uow:
            clients = await uow.clients.add_many([(uuid4(), values) for values in rows], caller.actor_id)
            now = self._clock.now()
            for client in clients:
                uow.record(record_event("client.created", client, now))
            report = ClientImportReport(
                dry_run=False, rows=len(rows), created=len(clients), ids=[c.id for c in clients]
            )
            await uow.commit(report)
        return report

    async def update(
        self, client_id: UUID, patch: ClientUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Client:
        changes = requested_changes(patch, ClientUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, client_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            check_reassignment(caller, changes)
            client = await uow.clients.update(client_id, changes, caller.actor_id)
            uow.record(record_event("client.updated", client, self._clock.now()))
            await uow.commit()
        return client

    async def delete(self, client_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, client_id)
            check_version(current.version, if_match)
            open_deals = await uow.deals.count_open_for_client(client_id)
            if open_deals:
                raise ClientHasOpenDeals(
                    f"Client {client_id} has {open_deals} open deal(s); close or delete them first."
                )
            client = await uow.clients.set_deleted(client_id, True, caller.actor_id)
            uow.record(record_event("client.deleted", client, self._clock.now()))
            await uow.commit()

    async def restore(self, client_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None) -> Client:
        """Undo a soft delete; restoring a live client changes nothing."""
        async with self._uow(caller, idempotency) as uow:
            current = await uow.clients.get_for_update(client_id)
            if current is None:
                raise ClientNotFound(f"Client {client_id} does not exist.")
            if not current.is_deleted:
                return current
            client = await uow.clients.set_deleted(client_id, False, caller.actor_id)
            uow.record(record_event("client.restored", client, self._clock.now()))
            await uow.commit(client)
        return client

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, client_id: UUID) -> Client:
        client = await uow.clients.get_for_update(client_id)
        if client is None or client.is_deleted:
            raise ClientNotFound(f"Client {client_id} does not exist.")
        return client
