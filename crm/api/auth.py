"""Who is calling: the access token of every request to ``/api/…`` and ``/streams…``, checked before routing.

The token comes from ``Authorization: Bearer <token>``, else from the ``crm_access_token`` cookie. Checking it in
front of the routes (not in each route's dependencies) answers 401 before anything else about the request is
judged (its body, its path, its method), and covers every route under those paths, present and future. The
caller it establishes is what ``crm.api.deps.get_caller`` hands to the routes.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from crm.api.errors import domain_problem
from crm.domain.caller import DEVELOPMENT_ADMIN, Caller, TokenVerifier
from crm.domain.errors import DomainError, InvalidToken

ACCESS_COOKIE = "crm_access_token"
BEARER_SCHEME = "bearerAuth"
COOKIE_SCHEME = "cookieAuth"
_CALLER = "crm.caller"  # the ASGI scope key the checked caller travels under


def requires_token(path: str) -> bool:
    """The API and the streams need a token; health, readiness and the OpenAPI document do not."""
    return path.startswith("/api/") or path == "/streams" or path.startswith("/streams/")


def caller_of(scope: Scope) -> Caller:
    caller: Caller | None = scope.get(_CALLER)
    if caller is None:  # a route outside the paths above asked who is calling: nobody was checked
        raise InvalidToken("No access token was checked for this path.", token_given=False)
    return caller


class Authentication:
    """ASGI middleware: a request to a path that ``requires_token`` goes on only with a token that verifies
    (``services.tokens``; ``None`` when authentication is disabled, and every request is the development admin).
    A refusal is a 401 ``invalid_token`` problem with ``WWW-Authenticate: Bearer``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # OPTIONS passes: a CORS preflight carries no credentials, whatever the order of the middleware.
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not requires_token(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        tokens: TokenVerifier | None = scope["app"].state.services.tokens
        try:
            scope[_CALLER] = DEVELOPMENT_ADMIN if tokens is None else (await tokens.verify(_token(scope))).caller
        except DomainError as exc:  # InvalidToken, or TokenKeysUnavailable while the issuer's keys are away
            await domain_problem(exc, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _token(scope: Scope) -> str:
    authorization: str | None = None
    cookie: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"cookie" and cookie is None:
            cookie = value.decode("latin-1")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    token: str | None = cookie_parser(cookie).get(ACCESS_COOKIE) if cookie is not None else None
    if token:
        return token
    if authorization is not None:
        raise InvalidToken("The Authorization header is not `Bearer <token>`.")
    raise InvalidToken(
        f"This request needs an access token: `Authorization: Bearer <token>` or the `{ACCESS_COOKIE}` cookie.",
        token_given=False,
    )
