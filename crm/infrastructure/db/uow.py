"""The unit of work on one asyncpg connection and transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.infrastructure.db.appeals import PgAppealRepository, PgLeadRepository
from crm.infrastructure.db.automation import PgAutomationRepository
from crm.infrastructure.db.calculations import PgCalculationRepository
from crm.infrastructure.db.clients import PgClientRepository
from crm.infrastructure.db.deal_members import PgDealMemberRepository
from crm.infrastructure.db.deals import PgDealRepository
from crm.infrastructure.db.errors import connection_lost, translate
from crm.infrastructure.db.idempotency import store_answer
from crm.infrastructure.db.inbound_events import PgInboundEventRepository
from crm.infrastructure.db.journal import PgJournalRepository
from crm.infrastructure.db.leads import PgOperatorRepository, PgSourceRepository
from crm.infrastructure.db.notifications import PgNotificationRepository, PgTemplateRepository
from crm.infrastructure.db.occasions import PgOccasionRepository
from crm.infrastructure.db.outbox import OutboxWriter
from crm.infrastructure.db.payments import PgPaymentRepository
from crm.infrastructure.db.permissions import PgPermissionSyncRepository
from crm.infrastructure.db.pipelines import PgPipelineRepository
from crm.infrastructure.db.policies import PgPolicyRepository
from crm.infrastructure.db.policy_documents import PgPolicyDocumentRepository
from crm.infrastructure.db.tasks import PgTaskRepository
from crm.infrastructure.db.users import PgUserContactRepository

log = structlog.get_logger(__name__)


class PgUnitOfWork:
    """``async with uow:`` opens a transaction; ``commit`` writes the recorded events and commits once.

    Leaving the block without ``commit`` rolls everything back, events included.
    """

    appeals: PgAppealRepository
    automation: PgAutomationRepository
    calculations: PgCalculationRepository
    clients: PgClientRepository
    deals: PgDealRepository
    deal_members: PgDealMemberRepository
    inbound_events: PgInboundEventRepository
    journal: PgJournalRepository
    leads: PgLeadRepository
    notifications: PgNotificationRepository
    occasions: PgOccasionRepository
    operators: PgOperatorRepository
    payments: PgPaymentRepository
    permissions: PgPermissionSyncRepository
    pipelines: PgPipelineRepository
    policies: PgPolicyRepository
    policy_documents: PgPolicyDocumentRepository
    sources: PgSourceRepository
    tasks: PgTaskRepository
    templates: PgTemplateRepository
    user_contacts: PgUserContactRepository

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: OutboxWriter,
        clock: Clock,
        caller: Caller,
        idempotency: IdempotentRequest | None,
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._clock = clock
        self._caller = caller
        self._idempotency = idempotency
        self._events: list[DomainEvent] = []
        self._connection: PoolConnectionProxy[asyncpg.Record] | None = None
        self._transaction: Transaction | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        try:
            connection, transaction = await self._begin()
        except Exception as exc:
            if not connection_lost(exc):
                raise
            # The pool lent a connection whose backend died while it was idle, and its other idle ones likely
            # died with it (a restart, a kill of every backend): they are replaced, and since nothing has
            # happened yet, the use case begins again on a fresh one. A second failure: the database is away.
            await self._pool.expire_connections()
            try:
                connection, transaction = await self._begin()
            except Exception as again:
                unavailable = translate(again)
                if unavailable is None:
                    raise
                raise unavailable from again
        self._connection, self._transaction = connection, transaction
        # Every repository acts for the caller: what they may not see is not found, what they may not change
        # is refused.
        access = Access.of(self._caller)
        self.calculations = PgCalculationRepository(connection, access)
        self.clients = PgClientRepository(connection, access)
        self.deals = PgDealRepository(connection, access)
        self.deal_members = PgDealMemberRepository(connection)
        self.inbound_events = PgInboundEventRepository(connection)
        self.journal = PgJournalRepository(connection, access)
        self.payments = PgPaymentRepository(connection, self._clock, access)
        self.permissions = PgPermissionSyncRepository(connection)
        self.pipelines = PgPipelineRepository(connection)
        self.policies = PgPolicyRepository(connection, access)
        self.policy_documents = PgPolicyDocumentRepository(connection)
        self.tasks = PgTaskRepository(connection, access)
        self.templates = PgTemplateRepository(connection)
        self.notifications = PgNotificationRepository(connection)
        self.user_contacts = PgUserContactRepository(connection)
        self.occasions = PgOccasionRepository(connection, self._clock)
        self.operators = PgOperatorRepository(connection)
        self.sources = PgSourceRepository(connection)
        self.leads = PgLeadRepository(connection, access)
        self.appeals = PgAppealRepository(connection, access)
        self.automation = PgAutomationRepository(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, transaction = self._connection, self._transaction
        self._connection = self._transaction = None
        self._events.clear()
        if connection is None or transaction is None:
            return
        try:
            if not self._committed:
                await self._rollback(connection, transaction)
        finally:
            await self._release(connection, committed=self._committed and exc is None)
        if exc is not None:
            domain_error = translate(exc)
            if domain_error is not None:
                raise domain_error from exc

    async def _begin(self) -> tuple[PoolConnectionProxy[asyncpg.Record], Transaction]:
        connection = await self._pool.acquire()
        try:
            transaction = connection.transaction()
            await transaction.start()
        except BaseException:
            await self._release(connection, committed=False)
            raise
        return connection, transaction

    @staticmethod
    async def _rollback(connection: PoolConnectionProxy[asyncpg.Record], transaction: Transaction) -> None:
        """Roll back what the use case left; a connection that broke took its transaction with it."""
        try:
            if not connection.is_closed():
                await transaction.rollback()
        except Exception as error:
            if not connection_lost(error):
                raise

    async def _release(self, connection: PoolConnectionProxy[asyncpg.Record], *, committed: bool) -> None:
        """Hand the connection back to the pool. Once the change has committed, the use case succeeded whatever
        happens to its connection now: a failed reset (the connection broke) is logged, not raised, so the caller
        is told of the success and does not retry into a duplicate. asyncpg terminates such a connection and
        gives its slot back to the pool."""
        try:
            await self._pool.release(connection)
        except Exception as error:
            if not (committed or connection_lost(error)):
                raise
            # asyncpg terminated the connection and gave its slot back; nothing is owed to the caller.
            log.warning("connection lost on release", committed=committed, error=repr(error))

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    async def commit(self, result: object = None) -> None:
        connection, transaction = self._connection, self._transaction
        assert connection is not None and transaction is not None, "commit() outside `async with`"
        await self._outbox.write(connection, self._events, self._caller.cause)
        if self._idempotency is not None:
            if result is None:
                raise TypeError("a use case run with an Idempotency-Key commits with its result")
            await store_answer(connection, self._idempotency, self._idempotency.answer(result))
        await transaction.commit()
        self._committed = True
        self._events.clear()


class PgUnitOfWorkFactory:
    def __init__(self, pool: asyncpg.Pool, outbox: OutboxWriter, clock: Clock) -> None:
        self._pool = pool
        self._outbox = outbox
        self._clock = clock

    def __call__(self, caller: Caller, idempotency: IdempotentRequest | None = None) -> PgUnitOfWork:
        return PgUnitOfWork(self._pool, self._outbox, self._clock, caller, idempotency)
