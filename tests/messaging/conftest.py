"""Messaging tests run apps with the relay on, against the run's own exchange and channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm.app.config import Settings
from crm.infrastructure.db.pool import create_pool
from tests.apps import relay_settings
from tests.messaging.support import delete_exchange


@pytest.fixture(scope="session")
def exchange_name(run_id: str) -> str:
    return f"crm.events.test.{run_id}"


@pytest.fixture(scope="session")
async def _drop_exchange(broker_url: str, exchange_name: str) -> AsyncIterator[None]:
    yield
    await delete_exchange(broker_url, exchange_name)


@pytest.fixture
def event_settings(
    settings: Settings, broker_url: str, cache_url: str, exchange_name: str, run_id: str, _drop_exchange: None
) -> Settings:
    """The shared settings plus a relay that publishes to this run's exchange and fans out through Redis."""
    return relay_settings(
        settings,
        broker_url=broker_url,
        redis_url=cache_url,
        exchange=exchange_name,
        channel=f"crm.stream.test.{run_id}",
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[object]:
    """A pool of the tests' own for calling job functions directly, as crm-worker does."""
    pool = await create_pool(database_url, min_size=1, max_size=4, command_timeout=30)
    yield pool
    await pool.close()
