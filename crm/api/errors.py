"""One place that turns exceptions into problem+json answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.etags import etag_of
from crm.api.methods import allowed_methods
from crm.api.problems import problem_response
from crm.domain.errors import DomainError, FieldProblem, InvalidToken, PreconditionFailed

log = structlog.get_logger(__name__)

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class ReplayResponse(Exception):
    """Answer with a stored response instead of running the route (Idempotency-Key replay)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``title`` for a body field, ``items.0.name`` for a nested one; a parameter is named alone."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in _LOCATIONS else "body"
    if not parts:
        return str(where)
    if where != "body":
        return str(parts[0])
    return ".".join(str(p) for p in parts)


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    # Pydantic prefixes custom validator messages; the field name already says where.
    return message.removeprefix("Value error, ")


Translate = Callable[[BaseException], DomainError | None]


def _no_translation(_: BaseException) -> DomainError | None:
    return None


def bearer_challenge(exc: InvalidToken) -> str:
    """``WWW-Authenticate`` of a 401 (RFC 6750 §3); says what was wrong only when a token was given."""
    challenge = 'Bearer error="invalid_token"'
    if exc.token_given:
        # error_description may not hold a quote or a backslash (RFC 6750 §3).
        description = exc.detail.replace('"', "'").replace("\\", "/")
        challenge += f', error_description="{description}"'
    return challenge


def _field_error(problem: FieldProblem) -> dict[str, Any]:
    error: dict[str, Any] = {"field": problem.field, "message": problem.message}
    if problem.row is not None:
        error["row"] = problem.row
    return error


def domain_problem(exc: DomainError, path: str) -> Response:
    headers = {}
    if isinstance(exc, PreconditionFailed) and exc.current_version is not None:
        headers["ETag"] = etag_of(exc.current_version)
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = bearer_challenge(exc)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        instance=path,
        errors=[_field_error(e) for e in exc.errors],
        headers=headers,
    )


def internal_error_problem(path: str) -> Response:
    return problem_response(
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="The service failed to answer; the error was logged.",
        instance=path,
    )


class UnexpectedErrors:
    """Answers what a route let escape: the domain error it stands for (``translate``, e.g. a database data
    exception is the request's fault), else a 500 problem.

    It sits inside the other middleware, so the answer still passes CorrelationIdMiddleware (and carries
    ``X-Request-ID``), and it does not re-raise: Starlette's own last-resort handler re-raises after answering,
    which makes the server drop the keep-alive connection. Once an answer has started, nothing can be said
    any more, and the error goes on to the server.
    """

    def __init__(self, app: ASGIApp, translate: Translate = _no_translation) -> None:
        self.app = app
        self.translate = translate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            path = scope.get("path", "")
            domain_error = self.translate(exc)
            if domain_error is not None:
                log.warning("answered for the database", path=path, code=domain_error.code, error=repr(exc))
                response = domain_problem(domain_error, path)
            else:
                log.exception("unhandled error", path=path, method=scope.get("method"))
                response = internal_error_problem(path)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI, translate: Translate = _no_translation) -> None:
    """Problem answers for every error; ``translate`` names the domain error an infrastructure error stands
    for (the composition root passes the database's), so that no bad input ends in a 500."""
    # Innermost of the middleware, whenever the others are added: see UnexpectedErrors.
    app.user_middleware.append(Middleware(UnexpectedErrors, translate=translate))

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return domain_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field_name(e.get("loc", ())), "message": _message(e)} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            status=422,
            code="validation_error",
            title="Invalid input",
            detail=f"Invalid value for: {fields}." if fields else "The request is not valid.",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # 400: FastAPI's answer to a body it cannot decode (not UTF-8), before any validation.
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app.router.routes, request.scope))
        return problem_response(
            status=exc.status_code,
            code=codes.get(exc.status_code, f"http_{exc.status_code}"),
            title=str(exc.detail) if exc.status_code != 404 else "Not found",
            detail=str(exc.detail),
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(ReplayResponse)
    async def replay(_: Request, exc: ReplayResponse) -> Response:
        return Response(exc.body, status_code=exc.status, headers={**exc.headers, "Idempotent-Replayed": "true"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Last resort, for an error raised by a middleware itself (UnexpectedErrors answers the rest).
        log.exception("unhandled error", path=request.url.path, method=request.method)
        return internal_error_problem(request.url.path)
