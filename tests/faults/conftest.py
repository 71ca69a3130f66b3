"""Fault tests: the service under load while a server or a process of its own is killed.

Each scenario is short (seconds of load, seconds of outage), bounded (every wait has a deadline) and prints one
JSON line of figures (``FAULTS {...}``): requests by status, events committed, published and received,
duplicates, and how long recovery took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog

from crm.app.config import Settings
from tests.apps import relay_settings
from tests.faults.servers import summary_line
from tests.messaging.support import delete_exchange


@pytest.fixture(scope="session")
def fault_exchange(run_id: str) -> str:
    return f"crm.events.faults.{run_id}"


@pytest.fixture(scope="session")
async def _drop_fault_exchange(broker_url: str, fault_exchange: str) -> AsyncIterator[None]:
    yield
    await delete_exchange(broker_url, fault_exchange)


@pytest.fixture
def fault_settings(
    settings: Settings, broker_url: str, cache_url: str, fault_exchange: str, run_id: str, _drop_fault_exchange: None
) -> Settings:
    """As tests/messaging's ``event_settings``: a relay publishing to this run's exchange on the shared broker,
    fanning out through the shared Redis on this run's channel, quick to retry."""
    return relay_settings(
        settings,
        broker_url=broker_url,
        redis_url=cache_url,
        exchange=fault_exchange,
        channel=f"crm.stream.faults.{run_id}",
    )


@pytest.fixture
def report(
    request: pytest.FixtureRequest, record_property: Callable[[str, Any], None], capsys: pytest.CaptureFixture[str]
) -> Callable[..., None]:
    """Prints a scenario's figures as one JSON line, past pytest's capture, and keeps them in the JUnit report (and
    in the test's report, which is how they reach the terminal from a pytest-xdist worker)."""

    def emit(scenario: str, **figures: Any) -> None:
        line = summary_line(scenario, test=request.node.name, **figures)
        record_property("faults", line)
        if hasattr(request.config, "workerinput"):
            return  # on a pytest-xdist worker: the controller prints it (tests/conftest.py)
        with capsys.disabled():
            print(f"\nFAULTS {line}", flush=True)

    return emit


@pytest.fixture(autouse=True)
def _plain_tracebacks() -> Iterator[None]:
    """Apps in this process log as structlog's defaults say unless told otherwise, and those render an exception
    with rich and every local of every frame: about ten seconds of a blocked event loop for each 500, which is
    an outage of its own. crm-api renders plain tracebacks (crm.app.logging); so do the apps here."""
    previous = structlog.get_config()
    structlog.configure(
        processors=[
            *previous["processors"][:-1],
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ]
    )
    yield
    structlog.configure(**previous)
