"""No access token and no signing secret ever reaches the logs: the access log, the service's own lines, the
traceback of a 500, the 401s, all at DEBUG, as crm-api configures its logging (crm.app.logging)."""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog

from crm.app.config import Settings
from crm.app.logging import configure_logging
from crm.app.main import create_app
from tests.apps import serving
from tests.auth import token

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def service_logs(settings: Settings) -> Iterator[io.StringIO]:
    """The service's logging at DEBUG, written to a buffer; the test run's logging is put back afterwards."""
    root = logging.getLogger()
    saved = (structlog.get_config(), root.handlers[:], root.level)
    saved_uvicorn = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate) for name in UVICORN_LOGGERS
    }
    configure_logging(settings.model_copy(update={"log_level": "DEBUG"}))
    # Loggers of this test must not keep this configuration once it is over.
    structlog.configure(cache_logger_on_first_use=False)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        structlog_config, handlers, level = saved
        structlog.configure(**structlog_config)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, (named_handlers, propagate) in saved_uvicorn.items():
            logging.getLogger(name).handlers[:] = named_handlers
            logging.getLogger(name).propagate = propagate


def bearing(sent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sent}"}


async def test_tokens_and_the_secret_never_reach_the_logs(settings, service_logs, db):
    secret = settings.jwt_access_secret.get_secret_value()
    app = create_app(settings)

    async def fail() -> None:
        raise RuntimeError("a bug behind the token check")

    app.add_api_route("/api/v1/test-failure", fail)
    valid, in_cookie = token(uuid.uuid4(), "admin"), token(uuid.uuid4(), "seller")
    wrongly_signed = token(uuid.uuid4(), "admin", key="another-secret-that-is-32-bytes-long!")
    expired = token(uuid.uuid4(), "admin", exp=int(time.time()) - 3600)
    not_a_user = token("alice", "admin")
    garbage = "garbage-that-is-no-token"
    # As crm-api serves it: with uvicorn's access log.
    async with serving(app, access_log=True) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        answers = {
            "valid": await client.get("/api/v1/clients", headers=bearing(valid)),
            "valid, bad body": await client.post(
                "/api/v1/clients", content=b"{", headers={**bearing(valid), "Content-Type": "application/json"}
            ),
            "cookie": await client.get("/api/v1/clients", headers={"Cookie": f"crm_access_token={in_cookie}"}),
            "wrongly signed": await client.get("/api/v1/clients", headers=bearing(wrongly_signed)),
            "expired": await client.get("/streams/deals", headers=bearing(expired)),
            "not a user": await client.get("/api/v1/clients", headers=bearing(not_a_user)),
            "garbage": await client.get("/api/v1/deals", headers=bearing(garbage)),
            "server error": await client.get("/api/v1/test-failure", headers=bearing(valid)),
        }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "valid": 200,
        "valid, bad body": 422,
        "cookie": 200,
        "wrongly signed": 401,
        "expired": 401,
        "not a user": 401,
        "garbage": 401,
        "server error": 500,
    }
    logged = service_logs.getvalue()
    # The logs were written, at DEBUG, with the access log and the 500's traceback.
    assert '"GET /api/v1/clients HTTP/1.1" 401' in logged and "unhandled error" in logged
    assert "a bug behind the token check" in logged and "[debug" in logged
    for sent in (valid, in_cookie, wrongly_signed, expired, not_a_user, garbage):
        assert sent not in logged
        assert not [part for part in sent.split(".")[1:] if part in logged]  # no payload, no signature
    assert secret not in logged
