"""The relay stops for certain and comes back: a loop that ignores its cancellation cannot hold it, and a lead
that stops making progress is replaced, with /readyz saying so."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from crm.infrastructure.db.outbox import OutboxStore, PgDealEventLog
from crm.infrastructure.events.publisher import BrokerPublisher, BrokerUnavailable
from crm.infrastructure.events.relay import OutboxRelay, RelayState
from tests.apps import running_app
from tests.factories import make_client, make_deal
from tests.messaging.support import consumer, eventually
from tests.outbox import all_published, all_settled, lead_holders, outbox_rows


class CancelSwallowingFanout:
    """A fan-out whose publish hangs and swallows every cancellation, as redis-py's publish did under a socket
    timeout (2 593 of 3 000 cancellations lost in a probe), until the test releases it."""

    def __init__(self) -> None:
        self.calls = 0
        self.released = asyncio.Event()

    async def publish(self, events: object) -> None:
        self.calls += 1
        while not self.released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self.released.wait()


async def lead_backend(db: asyncpg.Connection) -> int | None:
    holders = await lead_holders(db)
    return holders[0] if holders else None


async def test_a_sink_that_swallows_its_cancellation_does_not_keep_the_relay_from_leading_again(
    api, db, pool, database_url, broker_url, exchange_name
):
    fanout = CancelSwallowingFanout()
    relay = OutboxRelay(
        database_url,
        OutboxStore(pool),
        PgDealEventLog(pool),
        publisher=BrokerPublisher(broker_url, exchange_name),
        fanout=fanout,
        poll_interval=0.2,
        max_backoff=0.5,
    )
    async with consumer(broker_url, exchange_name) as queue:
        task = asyncio.create_task(relay.run())
        try:
            await make_deal(api)  # a client and a deal: the deal's event goes to the stream too
            await queue.wait_for(2)
            await eventually(lambda: asyncio.sleep(0, fanout.calls > 0), message="the stream sink hangs")
            first_lead = await lead_backend(db)

            # The lead connection dies; the hanging stream sink ignores the cancellation that ends the term.
            await db.execute("SELECT pg_terminate_backend($1)", first_lead)
            await make_client(api)

            await queue.wait_for(3, timeout=30)
            await eventually(lambda: all_published(db), timeout=30, message="published after the lead died")
            assert await lead_backend(db) not in (None, first_lead)
            assert relay.state.role == "lead"
        finally:
            task.cancel()
            await asyncio.wait([task], timeout=10)
            fanout.released.set()
    assert task.done()


async def test_a_lead_that_stops_watching_the_outbox_is_replaced_and_readyz_counts_it(
    db, event_settings, broker_url, exchange_name, monkeypatch
):
    hung = asyncio.Event()
    progress = OutboxStore.progress

    async def look_once_then_hang(connection):  # type: ignore[no-untyped-def]
        if not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # a round that never comes back, and raises nothing
        return await progress(connection)

    monkeypatch.setattr(OutboxStore, "progress", staticmethod(look_once_then_hang))
    settings = event_settings.model_copy(update={"relay_stall_after": 1.5})
    async with consumer(broker_url, exchange_name) as queue, running_app(settings) as (app, api):
        await eventually(lambda: asyncio.sleep(0, hung.is_set()), message="the first lead hangs")
        await make_client(api)

        await queue.wait_for(1, timeout=30)
        # The broker hands the message to the consumer before the relay's commit moves its cursor.
        await eventually(lambda: all_published(db), message="the cursor past every row")
        ready = (await api.get("/readyz")).json()["components"]["broker"]

    assert app.state.events.relay_restarts >= 1
    assert (ready["restarts"], ready["stalled"], ready["relay"]) == (app.state.events.relay_restarts, False, "lead")


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BOUND = timedelta(seconds=60)


@pytest.mark.parametrize(
    ("state", "watch_stalled", "broker_idle"),
    [
        (RelayState(role="standby"), False, False),
        (RelayState(role="lead", lead_since=NOW - timedelta(seconds=30)), False, False),
        (RelayState(role="lead", lead_since=NOW - timedelta(minutes=5)), True, True),
        (
            RelayState(role="lead", lead_since=NOW - timedelta(minutes=5), last_round_at=NOW, broker_attempt_at=NOW),
            False,
            False,
        ),
        (
            RelayState(
                role="lead",
                lead_since=NOW - timedelta(minutes=5),
                last_round_at=NOW,
                broker_attempt_at=NOW - timedelta(minutes=2),
            ),
            False,
            True,
        ),
    ],
)
def test_a_lead_is_stalled_when_a_loop_made_no_progress_within_the_bound(state, watch_stalled, broker_idle):
    assert state.watch_stalled(NOW, BOUND) is watch_stalled
    assert state.broker_idle(NOW, BOUND) is broker_idle


class CutOffAfter(BrokerPublisher):
    """Publishes the first ``budget`` messages of a batch, which the broker confirms, and is then cut off, once:
    its connection breaks, or the round hangs until it is cancelled (as when the lead's term ends)."""

    def __init__(self, url: str, exchange: str, budget: int, how: str) -> None:
        super().__init__(url, exchange)
        self.budget: int | None = budget
        self.how = how
        self.cut = asyncio.Event()

    async def publish(self, events, taken=None):  # type: ignore[no-untyped-def]
        if self.budget is None:
            return await super().publish(events, taken)
        budget, self.budget = self.budget, None
        await super().publish(events[:budget], taken)
        self.cut.set()
        if self.how == "the connection breaks":
            await self.close()
            raise BrokerUnavailable("ConnectionResetError: the connection broke after the confirms")
        await asyncio.Event().wait()  # until the round is cancelled


@pytest.mark.parametrize("how", ["the connection breaks", "the round is cancelled"])
async def test_a_batch_cut_off_midway_keeps_what_the_broker_took_and_sends_none_of_it_again(
    how, api, db, pool, database_url, broker_url, exchange_name
):
    # Under cuts that come sooner than a batch takes (a kill storm ending the lead's term every few seconds
    # while a busy process publishes slowly), a relay that kept nothing of a cut batch sent the same first
    # rows again every term and never got past them.
    for number in range(30):
        await make_client(api, name=f"Batch {number} LLC")  # the shared app runs no relay: events wait
    await eventually(lambda: all_settled(db), message="every event settled")
    publisher = CutOffAfter(broker_url, exchange_name, budget=20, how=how)
    relay = OutboxRelay(database_url, OutboxStore(pool), PgDealEventLog(pool), publisher=publisher, fanout=None)
    async with consumer(broker_url, exchange_name) as queue:
        if how == "the connection breaks":
            with pytest.raises(BrokerUnavailable):
                await relay.sweep()
        else:
            cut_off = asyncio.create_task(relay.sweep())
            await eventually(lambda: asyncio.sleep(0, publisher.cut.is_set()), message="20 messages confirmed")
            cut_off.cancel()
            await asyncio.wait([cut_off], timeout=10)
            assert cut_off.cancelled()
        kept = len([row for row in await outbox_rows(db) if row["published"]])
        assert await relay.sweep() == 10
        await queue.wait_for(30)
        await queue.quiet()

    assert kept == 20
    assert await all_published(db)
    ids = [m.message_id for m in queue.messages]
    assert len(ids) == len(set(ids)) == 30
