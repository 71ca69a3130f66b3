"""A small sales history written straight into the tables, with the times and amounts the analytics tests
compute their expectations from by hand (docs in tests/integration/test_analytics.py)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from crm.domain.pipelines.rules import SEEDED_PIPELINE_ID

SALES = SEEDED_PIPELINE_ID
STAGE = {
    "qualification": uuid.UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f101"),
    "negotiation": uuid.UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f102"),
    "proposal": uuid.UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f103"),
    "closedWon": uuid.UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f104"),
    "closedLost": uuid.UUID("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f105"),
}
STATUS = {
    "qualification": "qualification",
    "negotiation": "in_progress",
    "proposal": "proposal",
    "closedWon": "won",
    "closedLost": "lost",
}
_numbers = itertools.count(1)


def at(day: str, hour: int = 9) -> datetime:
    """An instant of that day at ``hour`` UTC (noon in Moscow at 9)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass
class Seeder:
    db: asyncpg.Connection
    client_id: uuid.UUID = field(default_factory=uuid.uuid4)
    stages: dict[str, tuple[uuid.UUID, uuid.UUID, str]] = field(default_factory=dict)
    """key -> (pipeline, stage, status) for stages of other pipelines."""

    async def start(self) -> Seeder:
        await self.db.execute(
            "INSERT INTO crm.clients (id, name, status) VALUES ($1, 'Seeded client', 'active')", self.client_id
        )
        return self

    def _stage(self, key: str) -> tuple[uuid.UUID, uuid.UUID, str]:
        if key in STAGE:
            return SALES, STAGE[key], STATUS[key]
        return self.stages[key]

    async def deal(
        self, owner: uuid.UUID | None, created: str, path: list[tuple[str, str]], *, deleted: bool = False
    ) -> uuid.UUID:
        """A deal created on ``created`` in ``path[0]``'s stage, moved along ``path`` ``(stage key, day)``; the
        history's seconds are the exact times between the moves; a won or lost last stage closes it then."""
        deal_id = uuid.uuid4()
        moves = [(path[0][0], created), *path[1:]]
        last_key, last_day = moves[-1]
        pipeline, stage, status = self._stage(last_key)
        closed = at(last_day) if status in ("won", "lost") else None
        await self.db.execute(
            """INSERT INTO crm.deals (id, client_id, title, status, next_review_at, owner_id, pipeline_id, stage_id,
                   stage_entered_at, created_at, updated_at, closed_at, is_deleted)
               VALUES ($1, $2, 'Seeded deal', $3, '2030-01-01', $4, $5, $6, $7, $8, $8, $9, $10)""",
            deal_id,
            self.client_id,
            status,
            owner,
            pipeline,
            stage,
            at(last_day),
            at(created),
            closed,
            deleted,
        )
        previous: tuple[uuid.UUID, uuid.UUID, str, datetime] | None = None
        for key, day in moves:
            to_pipeline, to_stage, _ = self._stage(key)
            when = at(day)
            await self.db.execute(
                """INSERT INTO crm.deal_stage_history (deal_id, from_pipeline_id, from_stage_id, from_stage,
                       to_pipeline_id, to_stage_id, to_stage, source, at, seconds_in_previous)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                deal_id,
                None if previous is None else previous[0],
                None if previous is None else previous[1],
                None if previous is None else previous[2],
                to_pipeline,
                to_stage,
                key,
                "created" if previous is None else "manual",
                when,
                None if previous is None else int((when - previous[3]).total_seconds()),
            )
            previous = (to_pipeline, to_stage, key, when)
        return deal_id

    async def policy(self, deal_id: uuid.UUID, currency: str, *, status: str = "active") -> uuid.UUID:
        policy_id = uuid.uuid4()
        issued = status != "draft"
        await self.db.execute(
            """INSERT INTO crm.policies (id, policy_number, client_id, deal_id, status, premium, currency,
                   effective_from, effective_to)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            policy_id,
            f"SEED-{next(_numbers)}",
            self.client_id,
            deal_id,
            status,
            Decimal("1.00") if issued else None,
            currency,
            date(2025, 1, 1) if issued else None,
            date(2025, 12, 31) if issued else None,
        )
        return policy_id

    async def payment(
        self,
        policy_id: uuid.UUID,
        planned: str,
        amount: str,
        currency: str,
        *,
        incomes: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
        cancelled: bool = False,
        deleted: bool = False,
    ) -> uuid.UUID:
        """A payment with its incomes ``(category, amount, posted day)``; its totals are their sums."""
        payment_id = uuid.uuid4()
        total = sum((Decimal(value) for _, value, _ in incomes), Decimal("0.00"))
        await self.db.execute(
            """INSERT INTO crm.payments (id, policy_id, sequence, planned_date, planned_amount, currency, cancelled_at,
                   incomes_total, expenses_total, net_total, is_deleted)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8, $9)""",
            payment_id,
            policy_id,
            next(_numbers),
            date.fromisoformat(planned),
            Decimal(amount),
            currency,
            at(planned) if cancelled else None,
            total,
            deleted,
        )
        for category, value, posted in incomes:
            await self.income(payment_id, category, value, currency, posted)
        return payment_id

    async def income(
        self, payment_id: uuid.UUID, category: str, value: str, currency: str, posted: str, *, deleted: bool = False
    ) -> None:
        """A line alone (a deleted one leaves the payment's totals as they are)."""
        await self.db.execute(
            """INSERT INTO crm.payment_incomes (id, payment_id, amount, currency, category, posted_at, note, is_deleted)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            uuid.uuid4(),
            payment_id,
            Decimal(value),
            currency,
            category,
            date.fromisoformat(posted),
            "correction" if Decimal(value) < 0 else None,
            deleted,
        )

    async def calculation(self, deal_id: uuid.UUID, insurer: str, *, policy_id: uuid.UUID | None = None) -> None:
        await self.db.execute(
            """INSERT INTO crm.calculations (id, deal_id, insurance_company, calculation_date, status, linked_policy_id)
               VALUES ($1, $2, $3, '2025-01-05', $4, $5)""",
            uuid.uuid4(),
            deal_id,
            insurer,
            "ready" if policy_id is None else "confirmed",
            policy_id,
        )


def rows(items: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(item[name] for name in fields) for item in items]
