"""What exports need from storage: the records a caller sees, read from one snapshot in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, TypeVar

from crm.domain.access import Access
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.exports.schemas import PaymentExportFilter
from crm.domain.payments.schemas import Payment

T_co = TypeVar("T_co", covariant=True)


class RecordStream(Protocol[T_co]):
    """The records of one export, as of the moment it was opened, holding a database connection until closed."""

    @property
    def matching(self) -> int:
        """How many records match, counted up to the limit it was opened with plus one."""

    def batches(self) -> AsyncIterator[Sequence[T_co]]:
        """The records in the list's order, a batch at a time; once."""

    async def close(self) -> None:
        """Give the connection back; safe to call twice, and while being cancelled."""


class ExportSource(Protocol):
    """Each opens a snapshot of what ``access`` sees that ``query`` selects, and counts it up to ``limit + 1``."""

    async def clients(self, query: ClientFilter, access: Access, limit: int) -> RecordStream[Client]: ...

    async def deals(self, query: DealFilter, access: Access, limit: int) -> RecordStream[Deal]: ...

    async def payments(self, query: PaymentExportFilter, access: Access, limit: int) -> RecordStream[Payment]: ...
