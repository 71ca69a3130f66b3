"""Structured logs: one line per event, with the request id and the caller's W3C traceparent when there are."""

from __future__ import annotations

import logging

import structlog
from asgi_correlation_id import correlation_id
from structlog.typing import EventDict, WrappedLogger

from crm.app.config import Settings
from crm.domain.tracing import TRACEPARENT


def _request_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    request_id = correlation_id.get()
    if request_id:
        event.setdefault("request_id", request_id)
    return event


def _traceparent(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    traceparent = TRACEPARENT.get()
    if traceparent:
        event.setdefault("traceparent", traceparent)
    return event


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _request_id,
        _traceparent,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request's URL at INFO, and a Telegram URL carries the bot token: its requests are not logged
    # (httpcore's own debug lines name the host, never the path).
    logging.getLogger("httpx").setLevel(logging.WARNING)
